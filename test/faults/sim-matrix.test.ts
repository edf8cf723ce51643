import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, jest } from '@jest/globals';
import type { Phase } from '../../src/migration/events.js';
import { QmpClient } from '../../src/qmp/client.js';
import { MatrixSection } from './matrix.js';
import { runSimCell, type SimCellContext, type SimCellFault } from './sim-cell.js';
import { SmallDisk } from '../helpers/small-disk.js';

jest.setTimeout(60_000);

/**
 * The fault matrix on the simulator, in this process (VF strategy): for each phase boundary
 * of a migration, each fault is made at the orchestrator's fault hook (at the switchover:
 * inside the pre-switchover event's dispatch; the migration link's faults in pre-copy: once
 * the stream flows), `recover` runs where the outcome asks for it, and the invariants are
 * checked (runSimCell).
 */
const PHASES: Phase[] = ['resolve', 'preflight', 'prepare', 'precopy', 'switchover', 'replay', 'resume', 'cleanup'];
const FAULTS = [
  'SIGINT',
  'source QEMU killed',
  'destination QEMU killed',
  'other client on both monitors',
  'VF reset by the guest',
  'VF reset by the PF',
  'state dir full',
  'destination PF refuses a replayed message',
  'migration link down 1.5 s, then up',
  'migration link down past the deadline, then up',
  'migration stream reset',
] as const;
type Fault = (typeof FAULTS)[number];

const section = new MatrixSection(
  'sim',
  'Simulator, in process (VF strategy)',
  [
    'Each cell: the fault made at the start of the phase (switchover: inside the pre-switchover event, before the switchover commands are sent;',
    'the migration link in pre-copy: once the stream flows, at the first progress poll that saw bytes sent); what nicmig reported (exit code);',
    '`recover` when the exit code asks for it; and where the guest runs afterwards. The link is the path the migration stream takes between the',
    'simulated hosts (a TCP relay, `MigrationLink`): down, nothing crosses it and the sender stalls once the socket buffers are full; "past the',
    'deadline" keeps it down until nicmig returned (pre-copy deadline 3 s, step deadline 3 s); a reset breaks the stream at both ends. In',
    'pre-copy the guest has 64 MiB, more than the sockets on both sides of the link buffer, so that a cut stalls the stream.',
    '`n/a`: nothing to fault at that point (no destination QEMU before prepare; VF resets are made while the guest is stopped or migrating',
    'only in pre-copy and switchover; no stream before pre-copy or after the switchover).',
  ].join('\n'),
  PHASES,
  FAULTS,
);

let disk: SmallDisk;

beforeAll(() => {
  disk = SmallDisk.mount('256k', 'nicmig-faults');
});

afterAll(() => {
  disk.unmount();
});

function applicable(phase: Phase, fault: Fault): boolean {
  if (fault === 'destination QEMU killed') return PHASES.indexOf(phase) > PHASES.indexOf('prepare');
  if (fault.startsWith('VF reset')) return phase === 'precopy' || phase === 'switchover';
  if (fault === 'destination PF refuses a replayed message') return phase === 'replay';
  if (fault === 'migration stream reset') return phase === 'precopy' || phase === 'switchover';
  if (fault.startsWith('migration link')) return phase === 'prepare' || phase === 'precopy' || phase === 'switchover';
  return true;
}

/** A slow enough stream (16 MiB at 32 MiB/s) that pre-copy is seen flowing before it ends. */
const STREAM_SEEN_FLOWING = { bandwidth: 32 * 1024 * 1024 };
/**
 * The link cut in pre-copy: a guest larger than what the loopback sockets on both sides of
 * the link can buffer (about 10 MiB), so that the stream stalls rather than being swallowed
 * whole by the kernel before the cut shows.
 */
const STALLED_IN_PRECOPY = { memoryMiB: 64, options: STREAM_SEEN_FLOWING };

function faultOf(phase: Phase, fault: Fault): SimCellFault {
  const at = { phase };
  switch (fault) {
    case 'SIGINT':
      return { ...at, make: (c) => c.abort() };
    case 'source QEMU killed':
      return { ...at, make: (c) => c.lab.vm('hostA')?.exit(137, 'killed by the fault matrix') };
    case 'destination QEMU killed':
      return { ...at, make: (c) => c.lab.vm('hostB')?.exit(137, 'killed by the fault matrix') };
    case 'other client on both monitors':
      return {
        ...at,
        make: async (c) => {
          for (const host of ['hostA', 'hostB']) {
            const socket = path.join(c.lab.dir, host, 'vm1.qmp');
            if (!fs.existsSync(socket)) continue;
            const client = await QmpClient.connect(`unix:${socket}`, { greetingTimeoutMs: 100 }).catch(() => undefined);
            if (client) c.hold(client);
          }
        },
      };
    case 'VF reset by the guest':
      return { ...at, make: (c) => c.lab.device('hostA')?.guest?.resetVf() };
    case 'VF reset by the PF':
      return { ...at, make: (c) => c.lab.device('hostA')?.vf.pfReset() };
    case 'state dir full':
      return {
        ...at,
        make: (c) => {
          disk.fill(c.journalDir);
          c.after(() => disk.empty());
        },
      };
    case 'destination PF refuses a replayed message':
      // After preflight said yes: the destination PF now takes no MAC filter (a PF driver
      // reloaded with other limits), so the replay's ADD_ETH_ADDR is refused.
      return {
        ...at,
        make: (c) => {
          const pf = c.lab.pfs.get('hostB');
          if (pf) pf.limits.maxMacFilters = 0;
        },
      };
    case 'migration link down 1.5 s, then up':
      return {
        ...at,
        streaming: phase === 'precopy',
        migrationLink: true,
        ...(phase === 'precopy' ? STALLED_IN_PRECOPY : {}),
        make: (c) => {
          const link = linkOf(c);
          link.down();
          // The cut lasts its 1.5 s even when nicmig returned before.
          const restored = new Promise<void>((resolve) => setTimeout(() => (link.up(), resolve()), 1500));
          c.after(() => restored);
        },
      };
    case 'migration link down past the deadline, then up':
      return {
        ...at,
        streaming: phase === 'precopy',
        migrationLink: true,
        ...(phase === 'precopy' ? STALLED_IN_PRECOPY : {}),
        options: { ...(phase === 'precopy' ? STREAM_SEEN_FLOWING : {}), timeoutMs: 3000, stepTimeoutMs: 3000 },
        make: (c) => {
          const link = linkOf(c);
          link.down();
          c.after(() => link.up());
        },
      };
    case 'migration stream reset':
      return { ...at, streaming: phase === 'precopy', migrationLink: true, ...STALLED_IN_PRECOPY, make: (c) => linkOf(c).reset() };
  }
}

function linkOf(context: SimCellContext) {
  const link = context.lab.link;
  if (!link) throw new Error('the lab has no migration link');
  return link;
}

describe('fault matrix, simulator in process (VF strategy)', () => {
  section.declareTests(
    PHASES.flatMap((phase) => FAULTS.filter((fault) => applicable(phase, fault)).map((fault) => [phase, fault] as const)),
    (phase, fault) => runSimCell(`${phase} x ${fault}`, faultOf(phase, fault), path.join(disk.dir, `journal-${phase}-${FAULTS.indexOf(fault)}`)),
  );
});
