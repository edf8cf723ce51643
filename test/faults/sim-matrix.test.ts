import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, jest } from '@jest/globals';
import { DemoLab } from '../../src/lab/demo-lab.js';
import type { Phase } from '../../src/migration/events.js';
import { readJournal, TERMINAL_EVENTS } from '../../src/migration/journal.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration, type FaultPoint } from '../../src/migration/orchestrator.js';
import { recoverMigration } from '../../src/migration/recover.js';
import { VfReplayStrategy } from '../../src/migration/vf-replay.js';
import { asNicmigError } from '../../src/errors.js';
import { QmpClient } from '../../src/qmp/client.js';
import { MatrixSection } from './matrix.js';
import { SmallDisk } from '../helpers/small-disk.js';

jest.setTimeout(60_000);

/**
 * The fault matrix on the simulator, in this process (VF strategy): for each phase boundary
 * of a migration, each fault is made at the orchestrator's fault hook (at the switchover:
 * inside the pre-switchover event's dispatch), `recover` runs where the outcome asks for it,
 * and the invariants are checked: the guest runs in exactly one place (or, where its QEMU
 * died, that is what was reported), the place reported is where it runs, its RAM is intact,
 * its VF active and not quiesced, the other host holds no VF, no VM and no socket, and the
 * journal ends in a terminal record.
 */
const PHASES: Phase[] = ['resolve', 'preflight', 'prepare', 'precopy', 'switchover', 'replay', 'resume', 'cleanup'];
const FAULTS = ['SIGINT', 'source QEMU killed', 'destination QEMU killed', 'other client on both monitors', 'VF reset by the guest', 'VF reset by the PF', 'state dir full', 'cont never answered', 'destination PF refuses a replayed message'] as const;
type Fault = (typeof FAULTS)[number];

const section = new MatrixSection(
  'sim',
  'Simulator, in process (VF strategy)',
  [
    'Each cell: the fault made at the start of the phase (switchover: inside the pre-switchover event, before the switchover commands are sent); what nicmig',
    'reported (exit code); `recover` when the exit code asks for it; and where the guest runs afterwards. `n/a`: nothing to fault at that point',
    '(no destination QEMU before prepare; VF resets are made while the guest is stopped or migrating only in pre-copy and switchover).',
  ].join('\n'),
  PHASES,
  FAULTS,
);

/** The top MiB of guest RAM: a pattern written before the migration, checked on the copy that runs after. */
const PATTERN_BYTES = 1 << 20;

let disk: SmallDisk;
let mount: string;

beforeAll(() => {
  disk = SmallDisk.mount('256k', 'nicmig-faults');
  mount = disk.dir;
});

afterAll(() => {
  disk.unmount();
});

function fillDisk(journalDir: string): void {
  disk.fill(journalDir);
}

function applicable(phase: Phase, fault: Fault): boolean {
  if (fault === 'destination QEMU killed') return PHASES.indexOf(phase) > PHASES.indexOf('prepare');
  if (fault.startsWith('VF reset')) return phase === 'precopy' || phase === 'switchover';
  if (fault === 'cont never answered') return phase === 'resume';
  if (fault === 'destination PF refuses a replayed message') return phase === 'replay';
  return true;
}

async function runCell(phase: Phase, fault: Fault): Promise<string> {
  const journalDir = path.join(mount, `journal-${phase}-${FAULTS.indexOf(fault)}`);
  const lab = await DemoLab.start({ memoryMiB: 16, dirtyPagesPerSecond: 0 });
  const held: QmpClient[] = [];
  try {
    const source = lab.vm('hostA');
    if (!source) throw new Error('vm1 did not start on hostA');
    const pattern = crypto.randomBytes(PATTERN_BYTES);
    source.ram.write(source.ram.size - PATTERN_BYTES, pattern);
    lab.startTraffic(1000);
    await lab.trafficFlowing(50);
    const controller = new AbortController();
    let fired = false;
    const inject = async (at: Phase, point: FaultPoint) => {
      if (at !== phase || fired) return;
      fired = true;
      switch (fault) {
        case 'SIGINT':
          controller.abort();
          return;
        case 'source QEMU killed':
          await lab.vm('hostA')?.exit(137, 'killed by the fault matrix');
          return;
        case 'destination QEMU killed':
          await lab.vm('hostB')?.exit(137, 'killed by the fault matrix');
          return;
        case 'other client on both monitors':
          for (const host of ['hostA', 'hostB']) {
            const socket = path.join(lab.dir, host, 'vm1.qmp');
            if (fs.existsSync(socket)) held.push(...(await Promise.all([QmpClient.connect(`unix:${socket}`, { greetingTimeoutMs: 100 }).catch(() => undefined)])).filter((c): c is QmpClient => c !== undefined));
          }
          return;
        case 'VF reset by the guest':
          lab.device('hostA')?.guest?.resetVf();
          return;
        case 'VF reset by the PF':
          lab.device('hostA')?.vf.pfReset();
          return;
        case 'state dir full':
          fillDisk(journalDir);
          return;
        case 'destination PF refuses a replayed message': {
          // After preflight said yes: the destination PF now takes no MAC filter (a PF driver
          // reloaded with other limits), so the replay's ADD_ETH_ADDR is refused.
          const pf = lab.pfs.get('hostB');
          if (pf) pf.limits.maxMacFilters = 0;
          return;
        }
        case 'cont never answered': {
          // The destination takes `cont` and never replies (nor acts on it): a hung monitor.
          const definition = lab.vm('hostB')?.registry.definition('cont');
          if (definition) definition.handler = () => new Promise(() => undefined);
          return;
        }
      }
      void point;
    };
    const run = new Migration(
      { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 100, stepTimeoutMs: fault === 'cont never answered' ? 3000 : 10_000 }, spec: lab.inventory.vms.get('vm1') },
      { hosts: lab.hosts, strategy: new VfReplayStrategy(), journalDir, onEvent: () => undefined, signal: controller.signal, atPhase: inject },
    );
    const warnings: string[] = [];
    const failure = await run.run().then(
      (summary) => {
        if (summary.status === 'migrated') warnings.push(...summary.cleanupWarnings);
        return undefined;
      },
      (error: unknown) => asNicmigError(error),
    );
    for (const client of held.splice(0)) client.destroy();
    const exit = failure?.exitCode ?? 0;
    const journals = fs.existsSync(journalDir) ? fs.readdirSync(journalDir).filter((f) => f.endsWith('.journal')) : [];
    let outcome = failure ? `${failure.code} (exit ${exit})` : 'migrated (exit 0)';
    // The documented meaning of each exit code: 0 runs on the destination; 11-13 on the source; 14 needs recover.
    let reported: string | null = exit === 0 ? 'hostB' : exit >= 10 && exit <= 13 ? 'hostA' : null;
    disk.empty();
    if (exit === 14 && journals.length === 1) {
      const recovered = await recoverMigration(path.join(journalDir, journals[0] as string), lab.hosts, 10_000);
      outcome += `; recover: ${recovered.decision.action}`;
      reported = recovered.runsOn;
    }
    const running = ['hostA', 'hostB'].filter((host) => lab.vm(host)?.runState === 'running');
    const check = (holds: boolean | undefined, what: string) => {
      if (!holds) throw new Error(`${phase} x ${fault}: ${what} (outcome: ${outcome}; running on: ${running.join(', ') || 'none'})`);
    };
    // Exit 5 and 10: refused before anything changed, so the guest is where (and as) it was.
    if (exit === 5 || exit === 10) {
      check(lab.vm('hostB') === undefined, 'nothing was started on the destination');
      reported = lab.vm('hostA') ? 'hostA' : null;
      if (!reported) outcome += '; the guest was already gone';
    }
    // Exactly one place, or none and then nothing claimed it runs.
    check(running.length <= 1, 'the guest runs in at most one place');
    if (running.length === 0) {
      const lostAfterResume = exit === 0 && failure === undefined && warnings.some((w) => /ended after it resumed/.test(w));
      check(reported === null || lostAfterResume, 'a guest that runs nowhere is not reported as running');
      const stopped = ['hostA', 'hostB'].filter((host) => lab.vm(host) !== undefined);
      outcome += lostAfterResume
        ? '; destination QEMU died after resume: reported as a warning'
        : stopped.length > 0
          ? `; guest stopped on ${stopped.join(' and ')}: nothing guessed, left for an operator`
          : '; guest lost with its QEMU, reported';
      return outcome;
    }
    const where = running[0] as string;
    check(reported === where, `the guest runs where nicmig said (${String(reported)})`);
    const other = where === 'hostA' ? 'hostB' : 'hostA';
    const vm = lab.vm(where);
    check(vm?.ram.read(vm.ram.size - PATTERN_BYTES, PATTERN_BYTES).equals(pattern), 'its RAM is intact');
    const device = lab.device(where);
    check(device?.vf.quiesced === false, 'its VF is not quiesced');
    // Traffic both ways through the VF: the guest's driver has it up (again, after a reset).
    await lab.trafficFlowing(50);
    check(device?.vf.state.active === true, 'its VF is active');
    check(lab.vm(other) === undefined, `no VM is left on ${other} (found ${lab.vm(other)?.runState})`);
    check(!fs.existsSync(path.join(lab.dir, other, 'vm1.qmp')), `no QMP socket is left on ${other}`);
    check(lab.pfs.get(other)?.vfs.every((vf) => vf.owner === null), `no VF is held on ${other}`);
    for (const name of journals) {
      const file = path.join(journalDir, name);
      if (!TERMINAL_EVENTS.includes(readJournal(file).records.at(-1)?.event as never)) {
        // The disk was full when the outcome was to be recorded: once it has room again,
        // recover finds the guest where it runs and closes the journal.
        check(exit !== 14, 'an uncertain outcome was already handed to recover');
        const recovered = await recoverMigration(file, lab.hosts, 10_000);
        check(recovered.runsOn === where, `recover finds the guest where it runs (${String(recovered.runsOn)}: ${recovered.decision.reason})`);
        outcome += `; journal closed by recover (${recovered.decision.action})`;
      }
      const records = readJournal(file).records;
      check(TERMINAL_EVENTS.includes(records.at(-1)?.event as never), `the journal ends in a terminal record (${records.at(-1)?.event})`);
    }
    return `${outcome}; runs on ${where}`;
  } finally {
    for (const client of held) client.destroy();
    await lab.close();
    fs.rmSync(journalDir, { recursive: true, force: true });
  }
}

describe('fault matrix, simulator in process (VF strategy)', () => {
  section.declareTests(
    PHASES.flatMap((phase) => FAULTS.filter((fault) => applicable(phase, fault)).map((fault) => [phase, fault] as const)),
    runCell,
  );
});
