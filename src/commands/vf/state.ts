import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { formatState } from '../../vfio/describe-state.js';
import { stateToJson } from '../../vfio/json.js';
import { readCaptureFile } from '../../vfio/read-capture.js';
import { reduceCapture } from '../../vfio/reduce.js';

export default class VfState extends BaseCommand<typeof VfState> {
  static override summary = "Reduce an admin-queue capture to the VF's state.";

  static override description = `Pairs each VF request with the PF's reply, applies the accepted ones, clears everything at a VF reset, and prints the state the VF ends in: version, capabilities, resources, queue and IRQ configuration, enabled queues, MAC and VLAN filters, promiscuous mode, RSS, VLAN stripping, and counters. The --json document is a stable contract (docs/vf-state.md). A damaged capture fails (exit 4) unless --partial reduces the records before the damage.`;

  static override examples = [
    '<%= config.bin %> vf state fixtures/captures/iavf-runtime.cap',
    "<%= config.bin %> vf state vm1-vf0.cap --json | jq '.macs'",
    '<%= config.bin %> vf state damaged.cap --partial',
  ];

  static override args = {
    capture: Args.string({ description: 'capture file (I40EAQ01), a FIFO, or - for standard input', required: true }),
  };

  static override flags = {
    partial: Flags.boolean({ description: 'On a damaged capture, reduce the records before the damage instead of failing.', default: false }),
  };

  public async run(): Promise<unknown> {
    const { records, error } = await readCaptureFile(this.args.capture);
    if (error && !this.flags.partial) throw error;
    if (error) process.stderr.write(`warning: ${error.message}; reducing the ${records.length} records before it\n`);
    const reduction = reduceCapture(records);
    const json = stateToJson(reduction.state, reduction.counters);
    if (!this.jsonEnabled()) this.out(formatState(json));
    for (const note of reduction.notes) this.debugLog(`record ${note.recordIndex}: ${note.message}`);
    return json;
  }
}
