import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { UsageError } from '../../errors.js';
import { formatPlan } from '../../vfio/describe-state.js';
import { defaultDestinationFacts, type DestinationFacts } from '../../vfio/facts.js';
import { I40E } from '../../vfio/opcodes.js';
import { planReplay, stateSize } from '../../vfio/plan.js';
import { readCaptureFile } from '../../vfio/read-capture.js';
import { reduceCapture } from '../../vfio/reduce.js';
import { isMacString } from '../../vfio/wire.js';

export default class VfPlan extends BaseCommand<typeof VfPlan> {
  static override summary = 'Plan the replay that rebuilds a captured VF state on a destination VF.';

  static override description = `Reduces the capture to the VF's state, checks that the destination VF can hold it, and prints the ordered virtchnl messages that rebuild it there, every vsi_id rewritten to the destination's. The plan's length follows the state's size, not the capture's length. The destination is described by flags (defaults: a current i40e PF of an XL710, untrusted VF, 18 MAC and 16 VLAN filters, 16 queue pairs of which 4 by default, 5 vectors). If it cannot take the state the command fails (exit 10) listing every reason. --json: {messages: [{opcode, name, length, payload (hex)}], stateSize, historyLength}.`;

  static override examples = [
    '<%= config.bin %> vf plan fixtures/captures/iavf-runtime.cap --vsi-id 42',
    '<%= config.bin %> vf plan vm1-vf0.cap --vsi-id 42 --trusted --json | jq ".messages | length"',
    '<%= config.bin %> vf plan vm1-vf0.cap --max-macs 8 --max-vlans 8',
  ];

  static override args = {
    capture: Args.string({ description: 'capture file (I40EAQ01), a FIFO, or - for standard input', required: true }),
  };

  static override flags = {
    'vsi-id': Flags.integer({ description: "Destination VF's VSI id (default: the source's).", min: 0, max: 0xffff }),
    trusted: Flags.boolean({ description: 'The destination VF is trusted (ip link set PF vf N trust on).', default: false }),
    'max-macs': Flags.integer({ description: 'MAC filters an untrusted VF may hold on the destination PF.', default: I40E.MAX_UNTRUSTED_MACS, min: 0 }),
    'max-vlans': Flags.integer({ description: 'VLAN filters an untrusted VF may hold on the destination PF.', default: I40E.MAX_UNTRUSTED_VLANS, min: 0 }),
    'queue-pairs': Flags.integer({ description: 'Most queue pairs the destination VF can have.', default: I40E.MAX_VF_QUEUES, min: 1, max: I40E.MAX_VF_QUEUES }),
    'default-queue-pairs': Flags.integer({ description: 'Queue pairs the destination VF gets before any REQUEST_QUEUES.', default: 4, min: 1, max: I40E.MAX_VF_QUEUES }),
    vectors: Flags.integer({ description: 'MSI-X vectors of the destination VF.', default: 5, min: 1 }),
    'api-version': Flags.string({ description: 'virtchnl version of the destination PF, MAJOR.MINOR.', default: '1.1' }),
    'port-vlan': Flags.integer({ description: 'Port VLAN the host set on the destination VF.', min: 0, max: I40E.MAX_VLAN_ID }),
    'host-mac': Flags.string({ description: 'MAC the host set on the destination VF.' }),
    device: Flags.string({ description: "The destination PF's device family: what i40e grants the VF depends on it (docs/virtchnl-kernel.md).", options: ['xl710', 'x722'], default: 'xl710' }),
    'source-untrusted': Flags.boolean({ description: 'The source VF was untrusted: its promiscuous requests were answered but applied nothing.', default: false }),
    partial: Flags.boolean({ description: 'On a damaged capture, plan from the records before the damage instead of failing.', default: false }),
  };

  public async run(): Promise<unknown> {
    const { records, error } = await readCaptureFile(this.args.capture);
    if (error && !this.flags.partial) throw error;
    if (error) process.stderr.write(`warning: ${error.message}; planning from the ${records.length} records before it\n`);
    const { state, counters } = reduceCapture(records, { sourceTrusted: !this.flags['source-untrusted'] });
    const facts = this.destinationFacts(state.resources?.vsiId ?? 0);
    const messages = planReplay(state, facts);
    const size = stateSize(state);
    if (!this.jsonEnabled()) this.out(formatPlan(messages, size, counters.appliedSinceReset));
    return {
      messages: messages.map((m) => ({ opcode: m.opcode, name: m.name, length: m.payload.length, payload: m.payload.toString('hex') })),
      stateSize: size,
      historyLength: counters.appliedSinceReset,
      destination: { ...facts },
    };
  }

  private destinationFacts(sourceVsiId: number): DestinationFacts {
    const f = this.flags;
    const version = /^(\d+)\.(\d+)$/.exec(f['api-version']);
    if (!version) throw new UsageError('BAD_API_VERSION', `--api-version must be MAJOR.MINOR, got ${f['api-version']}`, { hint: 'e.g. --api-version 1.1' });
    if (f['host-mac'] !== undefined && !isMacString(f['host-mac'])) {
      throw new UsageError('BAD_MAC', `--host-mac must be a MAC address like 52:54:00:12:34:56, got ${f['host-mac']}`);
    }
    return defaultDestinationFacts({
      vsiId: f['vsi-id'] ?? sourceVsiId,
      apiVersion: { major: Number(version[1]), minor: Number(version[2]) },
      trusted: f.trusted,
      maxMacFilters: f['max-macs'],
      maxVlanFilters: f['max-vlans'],
      numQueuePairs: f['queue-pairs'],
      defaultQueuePairs: Math.min(f['default-queue-pairs'], f['queue-pairs']),
      maxVectors: f.vectors,
      portVlan: f['port-vlan'] ?? null,
      hostMac: f['host-mac']?.toLowerCase() ?? null,
      device: f.device === 'x722' ? 'x722' : 'xl710',
    });
  }
}
