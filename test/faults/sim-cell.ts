import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DEMO_MAC, DEMO_PF, DemoLab } from '../../src/lab/demo-lab.js';
import { BROADCAST_MAC, EtherType, encodeFrame } from '../../src/sim/network/frame.js';
import type { Phase } from '../../src/migration/events.js';
import { readJournal, TERMINAL_EVENTS } from '../../src/migration/journal.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration, type FaultPoint, type MigrationOptions } from '../../src/migration/orchestrator.js';
import { recoverMigration } from '../../src/migration/recover.js';
import { VfReplayStrategy } from '../../src/migration/vf-replay.js';
import { asNicmigError } from '../../src/errors.js';
import type { QmpClient } from '../../src/qmp/client.js';

/**
 * One cell of a fault matrix on the simulator, in this process (VF strategy): a lab with vm1
 * running on hostA (a RAM pattern, traffic through its VF), a migration to hostB with the
 * fault made at its moment, `recover` where the outcome asks for it, then the checks: the
 * guest runs in exactly one place (or, where its QEMU died, that is what was reported), the
 * place reported is where it runs, its RAM is intact, its VF active and not quiesced, the
 * other host holds no VF, no VM and no socket, no migration stream is left open, and the
 * journal ends in a terminal record. Returns the outcome, as the matrix prints it.
 */
export interface SimCellContext {
  lab: DemoLab;
  journalDir: string;
  /** SIGINT: the migration's abort signal. */
  abort(): void;
  /** A QMP client kept until the migration returned. */
  hold(client: QmpClient): void;
  /** Runs once the migration returned, before anything is checked (a link brought up again, a disk emptied). */
  after(task: () => Promise<void> | void): void;
}

export interface SimCellFault {
  /**
   * When the fault is made: at the start of `phase` (switchover: inside the pre-switchover
   * event, before the switchover's commands go out), or with `streaming` at the first
   * progress poll of pre-copy that saw bytes sent (the stream flows).
   */
  phase: Phase;
  streaming?: boolean;
  make(context: SimCellContext): Promise<void> | void;
  /** Options of this migration (defaults: progress every 100 ms, 10 s step deadline). */
  options?: Partial<MigrationOptions>;
  /** The lab's migration streams go through `lab.link` (to take it down). */
  migrationLink?: boolean;
  /** Guest RAM (default 16 MiB). */
  memoryMiB?: number;
  /** Gets what nicmig said: its error's message, each cleanup warning. */
  onReport?: (message: string) => void;
}

/** The top MiB of guest RAM: a pattern written before the migration, checked on the copy that runs after. */
const PATTERN_BYTES = 1 << 20;

export async function runSimCell(label: string, fault: SimCellFault, journalDir: string): Promise<string> {
  const lab = await DemoLab.start({ memoryMiB: fault.memoryMiB ?? 16, dirtyPagesPerSecond: 0, ...(fault.migrationLink ? { migrationLink: true } : {}) });
  const held: QmpClient[] = [];
  const afterRun: (() => Promise<void> | void)[] = [];
  try {
    const source = lab.vm('hostA');
    if (!source) throw new Error('vm1 did not start on hostA');
    const pattern = crypto.randomBytes(PATTERN_BYTES);
    source.ram.write(source.ram.size - PATTERN_BYTES, pattern);
    lab.startTraffic(1000);
    await lab.trafficFlowing(50);
    const controller = new AbortController();
    const context: SimCellContext = {
      lab,
      journalDir,
      abort: () => controller.abort(),
      hold: (client) => held.push(client),
      after: (task) => afterRun.push(task),
    };
    let fired = false;
    let made: Promise<void> = Promise.resolve();
    const inject = async (at: Phase, point: FaultPoint) => {
      if (fault.streaming || at !== fault.phase || fired) return;
      fired = true;
      void point;
      await fault.make(context);
    };
    const run = new Migration(
      { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 100, stepTimeoutMs: 10_000, ...fault.options }, spec: lab.inventory.vms.get('vm1') },
      {
        hosts: lab.hosts,
        strategy: new VfReplayStrategy(),
        journalDir,
        onEvent: (event) => {
          if (!fault.streaming || fired || event.type !== 'progress' || event.transferred === 0) return;
          fired = true;
          made = Promise.resolve(fault.make(context));
        },
        signal: controller.signal,
        atPhase: inject,
      },
    );
    const warnings: string[] = [];
    const failure = await run.run().then(
      (summary) => {
        if (summary.status === 'migrated') warnings.push(...summary.cleanupWarnings);
        return undefined;
      },
      (error: unknown) => asNicmigError(error),
    );
    for (const message of [...(failure ? [failure.message] : []), ...warnings]) fault.onReport?.(message);
    await made;
    if (!fired) throw new Error(`${label}: the fault was never made (the migration did not reach its moment)`);
    for (const client of held.splice(0)) client.destroy();
    for (const task of afterRun.splice(0)) await task();
    const exit = failure?.exitCode ?? 0;
    const journals = fs.existsSync(journalDir) ? fs.readdirSync(journalDir).filter((f) => f.endsWith('.journal')) : [];
    let outcome = failure ? `${failure.code} (exit ${exit})` : 'migrated (exit 0)';
    // The documented meaning of each exit code: 0 runs on the destination; 11-13 on the source; 14 needs recover.
    let reported: string | null = exit === 0 ? 'hostB' : exit >= 10 && exit <= 13 ? 'hostA' : null;
    if (exit === 14 && journals.length === 1) {
      const recovered = await recoverMigration(path.join(journalDir, journals[0] as string), lab.hosts, 10_000);
      outcome += `; recover: ${recovered.decision.action}`;
      reported = recovered.runsOn;
    }
    const running = ['hostA', 'hostB'].filter((host) => lab.vm(host)?.runState === 'running');
    const check = (holds: boolean | undefined, what: string) => {
      if (!holds) throw new Error(`${label}: ${what} (outcome: ${outcome}; running on: ${running.join(', ') || 'none'})`);
    };
    // Exit 5 and 10: refused before anything changed, so the guest is where (and as) it was.
    if (exit === 5 || exit === 10) {
      check(lab.vm('hostB') === undefined, 'nothing was started on the destination');
      reported = lab.vm('hostA') ? 'hostA' : null;
      if (!reported) outcome += '; the guest was already gone';
    }
    // A QMP failure before the journal began (exit 20-24): nothing was started or changed either.
    if (exit >= 20 && exit <= 24 && journals.length === 0) {
      check(lab.vm('hostB') === undefined, 'nothing was started on the destination');
      if (lab.vm('hostA')) reported = 'hostA';
    }
    // Exactly one place, or none and then nothing claimed it runs.
    check(running.length <= 1, 'the guest runs in at most one place');
    check(lab.link === undefined || lab.link.connections === 0, `no migration stream is left open on the link (${lab.link?.connections})`);
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
    // The network finds the guest on its new host from a frame the guest's MAC sends there:
    // nicmig's announce, or else the guest's own next frame. Where nicmig could not announce
    // (the announce failed, a warning), what the switch learns depends on whether the guest had
    // frames queued when it stopped: the guest sends one of its own here, as any running guest
    // soon does (ARP), so the check below is of the VF, not of that race.
    const guestPort = `${where}/${DEMO_PF}`;
    if (lab.fabric.lookup(DEMO_MAC) !== guestPort) {
      const announced = journals.some((name) => readJournal(path.join(journalDir, name)).records.some((r) => r.event === 'announced'));
      check(!announced, `the switch still sends ${DEMO_MAC} to ${String(lab.fabric.lookup(DEMO_MAC))} though nicmig recorded it announced on ${where}`);
      const arp = encodeFrame({ dst: BROADCAST_MAC, src: DEMO_MAC, vlan: null, etherType: EtherType.ARP, payload: Buffer.alloc(28) });
      check(device?.guest?.transmit(arp), 'the guest could send a frame of its own');
    }
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
    for (const task of afterRun) await Promise.resolve(task()).catch(() => undefined);
    await lab.close();
    fs.rmSync(journalDir, { recursive: true, force: true });
  }
}
