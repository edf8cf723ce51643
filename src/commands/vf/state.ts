import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { formatRejections, formatState } from '../../vfio/describe-state.js';
import { stateToJson } from '../../vfio/json.js';
import { readCaptureFile } from '../../vfio/read-capture.js';
import { reduceCapture } from '../../vfio/reduce.js';

export default class VfState extends BaseCommand<typeof VfState> {
  static override summary = "Reduce an admin-queue capture to the VF's state.";

  static override description = `Pairs each VF request with the PF's reply, applies the accepted ones, clears everything at a VF reset, and prints the state the VF ends in: version, capabilities, resources, queue and IRQ configuration, enabled queues, MAC and VLAN filters, promiscuous mode, RSS, VLAN stripping, and counters. The --json document is a stable contract (docs/vf-state.md). A damaged capture fails (exit 4) unless --partial reduces the records before the damage. --explain lists every request that changed nothing, with the reason (the PF's status, or the kernel rule it breaks); with --json they are under rejections and notes.`;

  static override examples = [
    '<%= config.bin %> vf state fixtures/captures/iavf-runtime.cap',
    "<%= config.bin %> vf state vm1-vf0.cap --json | jq '.macs'",
    '<%= config.bin %> vf state damaged.cap --partial',
    '<%= config.bin %> vf state fixtures/captures/iavf-runtime.cap --explain',
  ];

  static override args = {
    capture: Args.string({ description: 'capture file (I40EAQ01), a FIFO, or - for standard input', required: true }),
  };

  static override flags = {
    partial: Flags.boolean({ description: 'On a damaged capture, reduce the records before the damage instead of failing.', default: false }),
    explain: Flags.boolean({ description: 'Also list every request that changed nothing (refused by the PF, or malformed by the kernel rules) with the reason, and the anomalies.', default: false }),
    'source-untrusted': Flags.boolean({ description: 'The VF was untrusted: its promiscuous requests were answered but applied nothing.', default: false }),
  };

  public async run(): Promise<unknown> {
    const { records, error } = await readCaptureFile(this.args.capture);
    if (error && !this.flags.partial) throw error;
    if (error) process.stderr.write(`warning: ${error.message}; reducing the ${records.length} records before it\n`);
    const reduction = reduceCapture(records, { sourceTrusted: !this.flags['source-untrusted'] });
    const json = stateToJson(reduction.state, reduction.counters);
    if (!this.jsonEnabled()) {
      this.out(formatState(json));
      if (this.flags.explain) this.out(formatRejections(reduction.rejections, reduction.notes));
    }
    for (const note of reduction.notes) this.debugLog(`record ${note.recordIndex}: ${note.message}`);
    if (!this.flags.explain) return json;
    return { ...json, rejections: reduction.rejections, notes: reduction.notes };
  }
}
