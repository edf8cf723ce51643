import path from 'node:path';
import { NicmigError, UsageError, asNicmigError } from '../errors.js';
import { virtioNics, type VmSpec } from '../inventory/vm-spec.js';
import { eventTimeMs, type QmpEvent, type QmpEventListener } from '../qmp/events.js';
import { QmpDisconnectedError, QmpTimeoutError } from '../qmp/errors.js';
import type { GuestHardware } from '../qmp/hardware.js';
import type { QemuMonitor } from '../qmp/monitor.js';
import { isActiveMigrationStatus, isTerminalMigrationStatus, type MigrationInfo } from '../qmp/schemas.js';
import {
  decideConvergence,
  FORCE_SWITCHOVER_DOWNTIME_LIMIT_MS,
  predictDowntimeMs,
  sampleFrom,
  type OnTimeout,
  type ProgressSample,
} from './convergence.js';
import { MigrationError, PreflightError, UncertainError, type MigrationFailureKind } from './errors.js';
import { PHASES, type MigrationEvent, type MigrationEventSink, type Phase } from './events.js';
import { currentBootId, JournalError, MigrationJournal, type JournalEvent, type JournalOptions } from './journal.js';
import type { HostHandle, IncomingOptions, IncomingPlan, StartedVm } from './ports.js';
import { checkStreamLimits } from './limits.js';
import { compareSides } from './compare-sides.js';
import { destinationReasons, sourceNicReasons, switchoverAckDevices, tcgDirtyTrackingWarning } from './preflight.js';
import { announcedRecord, planAnnounce, type AnnouncePlan } from './announce.js';
import { downtimeLadder, nextDowntimeStep, type DowntimeStep } from './downtime-policy.js';
import {
  failedResult,
  NO_TIMINGS,
  switchoverMoments,
  switchoverTimings,
  type DryRunPlan,
  type FailedResult,
  type MigratedResult,
  type MigrationSummary,
  type MigrationTimeline,
} from './result.js';
import { rollBack, StepRunner } from './rollback.js';
import type { MigrationStrategy, ReplayReport } from './strategy.js';

export type { DryRunPlan, MigrationSummary, MigrationTimeline } from './result.js';

export interface MigrationOptions {
  downtimeLimitMs: number;
  /** Bytes per second for the stream. */
  bandwidth: number;
  /** Deadline of pre-copy, ms from `migrate`. */
  timeoutMs: number;
  onTimeout: OnTimeout;
  autoConverge: boolean;
  /** How often progress is polled while pre-copy runs. */
  progressIntervalMs: number;
  /** Deadline of every single wait outside pre-copy (a QMP reply, an event). */
  stepTimeoutMs: number;
  dryRun: boolean;
  /**
   * `steps`: downtimeLimitMs is a ceiling on the felt pause; QEMU gets it less the overhead,
   * from an eighth up (docs/downtime-policy.md). `fixed`: QEMU gets downtimeLimitMs as is.
   */
  downtimePolicy: 'steps' | 'fixed';
  /** What a switchover adds to QEMU's own downtime on the destination host, ms, and from where. */
  downtimeOverhead: { overheadMs: number; source: string };
}

export const DEFAULT_MIGRATION_OPTIONS: MigrationOptions = {
  downtimeLimitMs: 300,
  bandwidth: 1024 * 1024 * 1024,
  timeoutMs: 600_000,
  onTimeout: 'abort',
  autoConverge: true,
  progressIntervalMs: 500,
  stepTimeoutMs: 30_000,
  dryRun: false,
  downtimePolicy: 'steps',
  downtimeOverhead: { overheadMs: 0, source: 'none assumed' },
};

export interface MigrationRequest {
  vm: string;
  to: string;
  options: MigrationOptions;
  /** The VM as the inventory describes it: the destination host is checked against it. */
  spec?: VmSpec;
}

/**
 * Where a fault hook fires: `phase` at the start of each phase; for `switchover`, from inside
 * the dispatch of the source's pre-switchover event, right before the switchover's commands
 * are sent (the production path, not a substitute).
 */
export interface FaultPoint {
  phase: Phase;
  at: 'phase-start' | 'pre-switchover-dispatch';
}

/**
 * Points inside a phase where a fault hook fires (`atPoint`): `resume:before-cont`, the
 * pre-cont record is durable, `destination-resuming` not yet written, `cont` not sent;
 * `resume:after-cont`, the destination resumed (its RESUME came), `destination-resumed` not
 * yet written.
 */
export type InsidePoint = 'resume:before-cont' | 'resume:after-cont';

export interface MigrationDependencies {
  hosts: ReadonlyMap<string, HostHandle>;
  /** The VM's strategy: plain, or the VF replay for VMs with vfio-i40evf devices. */
  strategy: MigrationStrategy;
  journalDir: string;
  /** The journal's disk I/O, for tests that make it slow or fail; the real one unless given. */
  journalOptions?: JournalOptions;
  onEvent: MigrationEventSink;
  signal?: AbortSignal;
  /**
   * Fault injection for tests: called at each phase boundary (see FaultPoint); throwing, or
   * rejecting, there injects a failure. A hook that returns nothing adds no wait.
   */
  atPhase?: (phase: Phase, point: FaultPoint) => Promise<void> | void;
  /** Fault injection for tests at the points inside a phase (InsidePoint), as atPhase. */
  atPoint?: (point: InsidePoint) => Promise<void> | void;
}

/** resolve -> preflight: the VM's source and the destination. */
interface Endpoints {
  source: QemuMonitor;
  sourceHost: HostHandle;
  destinationHost: HostHandle;
}

/** preflight -> everything after it. */
interface Checked extends Endpoints {
  sourceWasRunning: boolean;
  /** What the destination is started with (the machine type, the source's command line)... */
  incoming: IncomingOptions;
  /** ...and how the destination host builds it from that. */
  destinationPlan: IncomingPlan;
  /** What the source's guest is made of: the destination must match it before anything stops. */
  sourceHardware: GuestHardware;
  /** Found in preflight, not reasons to refuse: said as `warning` events and in the result. */
  preflightWarnings: string[];
  /** The source's migration capabilities (query-migrate-capabilities). */
  sourceCapabilities: ReadonlyMap<string, boolean>;
}

/** From the journal's first record on. */
interface Session extends Checked {
  journal: MigrationJournal;
}

/** prepare -> precopy and later: the destination QEMU, waiting for the stream. */
interface Prepared {
  destination: StartedVm;
  destinationEvents: QmpEventListener;
  /** Who announces the NICs once the destination runs, from its announce parameters. */
  announce: AnnouncePlan;
  /** switchover-ack (and return-path) on, on both sides: a device may hold the switchover back. */
  switchoverAck: boolean;
}

/** precopy -> switchover: the source at pre-switchover, its switchover already sent. */
interface AtSwitchover {
  sourceEvents: QmpEventListener;
  switchoverSent: Promise<unknown>;
  /** The downtime limits QEMU was given, in order. */
  downtimeSteps: DowntimeStep[];
}

/** switchover -> resume: the stream completed on both sides. */
interface Switched {
  /** Settles when the pre-cont record (`cont-may-follow`) is durable; rejects when it cannot be. */
  contMayFollow: Promise<void>;
}

/**
 * What exists that a rollback must undo. Filled as things are made, read only by the
 * rollback: the one piece of state that outlives the phases' own return values.
 */
interface RollbackLedger {
  destination?: StartedVm;
  migrateIssued: boolean;
  /** `cont` went to the destination: it may run, whatever its reply said. */
  contSent?: boolean;
}

/**
 * One migration, phase by phase (DESIGN.md, docs/architecture.md): resolve, preflight,
 * prepare, precopy, switchover, replay, resume, cleanup. Each phase takes what it needs and
 * returns what the next needs. Before the destination's `cont` every failure rolls back;
 * after it nothing does.
 */
export class Migration {
  private readonly started = performance.now();
  private readonly strategy: MigrationStrategy;
  private readonly deps: MigrationDependencies;
  private readonly recorded: { time: number; event: MigrationEvent }[] = [];
  /** QEMU's events as they came, both sides: the timeline and the switchover timings. */
  private readonly eventLog: { side: 'source' | 'destination'; event: QmpEvent }[] = [];
  /** What a failure must report: the phase it happened in, the source and the journal once known. */
  private phase: Phase = 'resolve';
  private sourceHostName: string | null = null;
  private journalPath: string | null = null;

  constructor(
    private readonly request: MigrationRequest,
    deps: MigrationDependencies,
  ) {
    // Values QEMU would refuse only after the destination started are refused here.
    checkStreamLimits(request.options, { downtimeLimitMs: 'downtime limit', bandwidth: 'bandwidth' });
    this.strategy = deps.strategy;
    // Every event is also kept, with its wall-clock time, for the timeline (--report).
    this.deps = {
      ...deps,
      onEvent: (event) => {
        this.recorded.push({ time: Date.now(), event });
        deps.onEvent(event);
      },
    };
  }

  /**
   * What happened when: nicmig's events with wall-clock times, and QEMU's events with QEMU's
   * own timestamps (epoch ms), for the report.
   */
  timeline(): MigrationTimeline {
    return {
      vm: this.request.vm,
      events: this.recorded.map((r) => ({ time: r.time, ...r.event })),
      qemu: this.eventLog.map(({ side, event }) => ({ side, time: eventTimeMs(event) ?? 0, event: event.event, status: event.data?.status === undefined ? null : String(event.data.status) })),
    };
  }

  /** The result of a run that failed with `error` (what `run()` rejected with). */
  failedResult(error: unknown): FailedResult {
    return failedResult(asNicmigError(error), { vm: this.request.vm, from: this.sourceHostName, to: this.request.to, totalTimeMs: this.elapsedMs, journal: this.journalPath });
  }

  get elapsedMs(): number {
    return Math.round(performance.now() - this.started);
  }

  private get options(): MigrationOptions {
    return this.request.options;
  }

  /** Resolves with the migrated (or dry-run) result; rejects with the error otherwise, after rollback. */
  async run(): Promise<MigrationSummary> {
    const closers: (() => void)[] = [];
    const ledger: RollbackLedger = { migrateIssued: false };
    let session: Session | undefined;
    let prepared: Prepared | undefined;
    let resumed = false;
    const cleanupWarnings: string[] = [];
    try {
      const endpoints = await this.step('resolve', () => this.resolve());
      closers.push(() => endpoints.source.disconnect());
      const checked = await this.step('preflight', () => this.preflight(endpoints));
      if (this.options.dryRun) return { ...this.baseResult(checked), status: 'dry-run', ...NO_TIMINGS, bytes: null, passes: null, replay: null, cleanupWarnings: [], plan: await this.dryRunPlan(checked) };

      session = this.openJournal(checked);
      const { journal } = session;
      closers.push(() => journal.close());
      const ready = await this.step('prepare', () => this.prepare(session as Session, ledger));
      prepared = ready;
      closers.push(() => ready.destinationEvents.close(), () => ready.destination.monitor.disconnect());
      const atSwitchover = await this.step('precopy', () => this.precopy(session as Session, ready, ledger));
      closers.push(() => atSwitchover.sourceEvents.close());
      const switched = await this.step('switchover', () => this.switchover(session as Session, ready, atSwitchover), { faultHookFired: true });
      const replay = this.strategy.hasReplayPhase ? await this.step('replay', () => this.replay(ready.destination.monitor)) : this.skip('replay');
      await this.step('resume', () => this.resume(session as Session, ready, switched, replay, () => (resumed = true), ledger, cleanupWarnings));
      // QEMU keeps the statistics in postmigrate: read them after the guest runs again.
      const completedInfo = await session.source.queryMigrate().catch(() => null);
      await this.step('cleanup', () => this.cleanup(session as Session, ready, cleanupWarnings));
      const result = this.migratedResult(session, completedInfo, replay, cleanupWarnings, atSwitchover.downtimeSteps);
      // The timings go in the journal: the next migration to this host measures its overhead from them.
      this.recordAfterResume(session, cleanupWarnings, 'finished', { cleanupWarnings, downtimeMs: result.downtimeMs, measuredDowntimeMs: result.measuredDowntimeMs });
      return result;
    } catch (error) {
      const failure = asNicmigError(error);
      if (resumed && session) {
        // After cont nothing rolls back: the guest runs on the destination.
        cleanupWarnings.push(failure.message);
        this.recordAfterResume(session, cleanupWarnings, 'cleanup-failed', { error: failure.toJSON() });
        // The source still goes (invariant 3): a failed announce must not leave it behind.
        if (prepared && this.phase !== 'cleanup') {
          const ready = prepared;
          await this.step('cleanup', () => this.cleanup(session as Session, ready, cleanupWarnings)).catch((cleanupError: unknown) => cleanupWarnings.push((cleanupError as Error).message));
        }
        this.recordAfterResume(session, cleanupWarnings, 'finished', { cleanupWarnings });
        return this.migratedResult(session, null, undefined, cleanupWarnings);
      }
      if (!session) throw failure;
      const wrapped = this.asMigrationError(failure);
      await this.rollback(session, ledger, wrapped);
      // A refusal found once the destination ran is still a refusal (exit 10), after rollback.
      throw failure instanceof PreflightError ? failure : wrapped;
    } finally {
      // QEMU serves one QMP client per monitor: let go of both so others can connect.
      for (const close of closers.reverse()) close();
    }
  }

  private skip(phase: Phase): undefined {
    this.deps.onEvent({ type: 'phase', phase, state: 'skipped', detail: 'no VF' });
    return undefined;
  }

  private async step<T>(phase: Phase, body: () => Promise<T>, options: { faultHookFired?: boolean } = {}): Promise<T> {
    this.phase = phase;
    // After the destination's cont an interrupt cancels nothing: cleanup (bounded) still runs.
    if (phase !== 'cleanup') this.checkAborted();
    if (!options.faultHookFired) await this.deps.atPhase?.(phase, { phase, at: 'phase-start' });
    this.deps.onEvent({ type: 'phase', phase, state: 'started' });
    try {
      const result = await body();
      this.deps.onEvent({ type: 'phase', phase, state: 'done' });
      return result;
    } catch (error) {
      this.deps.onEvent({ type: 'phase', phase, state: 'failed', detail: (error as Error).message });
      throw error;
    }
  }

  // --- resolve -------------------------------------------------------------------------

  private async resolve(): Promise<Endpoints> {
    const { vm, to } = this.request;
    const destinationHost = this.deps.hosts.get(to);
    if (!destinationHost) {
      throw new UsageError('UNKNOWN_HOST', `no host named '${to}' in the inventory`, {
        hint: `known hosts: ${[...this.deps.hosts.keys()].join(', ') || 'none'}`,
      });
    }
    const found: { host: HostHandle; monitor: QemuMonitor; status: string }[] = [];
    const unknown: string[] = [];
    const probes = await Promise.all([...this.deps.hosts.values()].map(async (host) => ({ host, probe: await host.probeVm(vm) })));
    for (const { host, probe } of probes) {
      const { presence, monitor } = probe;
      if (presence.state === 'unknown') unknown.push(`${host.name}: ${presence.reason}`);
      if (monitor && (presence.state === 'running' || presence.state === 'paused')) found.push({ host, monitor, status: presence.status });
    }
    const live = found.filter((f) => f.status !== 'inmigrate' && f.status !== 'postmigrate');
    for (const other of found) if (!live.includes(other) || live.length > 1 || unknown.length > 0) other.monitor.disconnect();
    if (unknown.length > 0) {
      // A QEMU that does not answer may hold the guest: a migration now could make a second copy.
      throw new PreflightError(unknown.map((reason) => `cannot tell whether '${vm}' runs on ${reason}`));
    }
    if (live.length === 0) {
      throw new PreflightError([`VM '${vm}' runs on none of the hosts (${[...this.deps.hosts.keys()].join(', ')})`]);
    }
    if (live.length > 1) {
      throw new PreflightError([`VM '${vm}' answers on several hosts (${live.map((f) => f.host.name).join(', ')}): run \`nicmig status ${vm}\``]);
    }
    const [only] = live as [(typeof live)[number]];
    if (only.host === destinationHost) {
      only.monitor.disconnect();
      throw new PreflightError([`VM '${vm}' already runs on ${to}`]);
    }
    this.sourceHostName = only.host.name;
    // Every reply is awaited for one step deadline at most (a QEMU stuck on a command).
    only.monitor.setCommandTimeout(this.options.stepTimeoutMs);
    return { source: only.monitor, sourceHost: only.host, destinationHost };
  }

  // --- preflight -----------------------------------------------------------------------

  private async preflight(endpoints: Endpoints): Promise<Checked> {
    const { source, sourceHost, destinationHost } = endpoints;
    const reasons: string[] = [];
    const [version, kvm, status, migration, capabilities, sourceHardware] = await Promise.all([
      source.queryVersion(),
      source.queryKvm(),
      source.queryStatus(),
      source.queryMigrate(),
      source.queryMigrateCapabilities(),
      source.guestHardware(),
    ]);
    const { machineType } = sourceHardware;
    if (version.qemu.major < 7) reasons.push(`source QEMU ${version.qemu.major}.${version.qemu.minor} is older than 7.0`);
    const preflightWarnings = [tcgDirtyTrackingWarning(version.qemu, kvm, sourceHost.name)].filter((warning) => warning !== undefined);
    if (status.status !== 'running' && status.status !== 'paused') {
      reasons.push(`VM '${this.request.vm}' is ${status.status} on ${sourceHost.name}; it must be running or paused`);
    }
    // QEMU's own reasons (6.0+), quoted: e.g. a device that cannot migrate.
    for (const blocker of migration['blocked-reasons'] ?? []) reasons.push(`the source QEMU blocks migration: ${blocker}`);
    if (isActiveMigrationStatus(migration.status)) {
      reasons.push(`a migration of '${this.request.vm}' is already in flight (status ${migration.status})`);
    }
    for (const needed of ['events', 'pause-before-switchover']) {
      if (!capabilities.has(needed)) reasons.push(`source QEMU lacks the migration capability '${needed}'`);
    }
    if (this.options.autoConverge && !capabilities.has('auto-converge')) reasons.push(`source QEMU lacks 'auto-converge' (pass --no-auto-converge)`);
    reasons.push(...(await this.strategy.preflight(source)));
    const spec = this.request.spec;
    if (spec) {
      // The inventory's NICs as the source runs them: the announce and the destination use their ids and MACs.
      const nics = await Promise.all(virtioNics(spec).map(async (nic) => [nic.id, await source.queryDeviceMac(nic.id)] as const));
      reasons.push(...sourceNicReasons(spec, sourceHost.name, new Map(nics)));
      const facts = await destinationHost.facts().catch((error: unknown) => {
        reasons.push(`cannot ask ${destinationHost.name} what it can take: ${(error as Error).message}`);
        return undefined;
      });
      if (facts) {
        reasons.push(...destinationReasons(spec, destinationHost.name, facts, machineType));
        reasons.push(...this.strategy.checkDestinationHost(spec, facts));
      }
    }
    const destination = await this.planDestination(endpoints, machineType, reasons);
    if (reasons.length > 0 || !destination.plan) throw new PreflightError(reasons, destination.refusal ? { cause: destination.refusal } : {});
    for (const message of preflightWarnings) this.deps.onEvent({ type: 'warning', message });
    return { ...endpoints, preflightWarnings, sourceCapabilities: capabilities, sourceWasRunning: status.status === 'running', incoming: destination.incoming, destinationPlan: destination.plan, sourceHardware };
  }

  /**
   * How the destination will be started, found before anything starts: from the source's own
   * command line where its host can read it (the simulator cannot: from the spec), rewritten
   * by the destination host. A command line that cannot be read or carried is a reason to refuse.
   */
  private async planDestination(endpoints: Endpoints, machineType: string | undefined, reasons: string[]): Promise<{ incoming: IncomingOptions; plan?: IncomingPlan; refusal?: NicmigError }> {
    const { vm } = this.request;
    const incoming: IncomingOptions = machineType ? { machineType } : {};
    try {
      const sourceCommandLine = await endpoints.sourceHost.readCommandLine(vm);
      if (sourceCommandLine) incoming.sourceCommandLine = sourceCommandLine;
      return { incoming, plan: await endpoints.destinationHost.planIncoming(vm, incoming) };
    } catch (error) {
      if (!(error instanceof NicmigError)) throw error;
      reasons.push(error.message);
      return { incoming, refusal: error };
    }
  }

  private openJournal(checked: Checked): Session {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    // All or nothing: a state directory that cannot take it fails here, before anything changed.
    const journal = MigrationJournal.begin(
      this.deps.journalDir,
      `${this.request.vm}-${stamp}`,
      {
        vm: this.request.vm,
        from: checked.sourceHost.name,
        to: this.request.to,
        strategy: this.strategy.name,
        sourceWasRunning: checked.sourceWasRunning,
        machineType: checked.sourceHardware.machineType ?? null,
        options: this.options,
      },
      this.deps.journalOptions,
    );
    this.journalPath = path.resolve(journal.file);
    return { ...checked, journal };
  }

  // --- prepare -------------------------------------------------------------------------

  private async prepare(session: Session, ledger: RollbackLedger): Promise<Prepared> {
    const { destinationHost: host, journal } = session;
    const plan = session.destinationPlan;
    journal.append('destination-starting', { host: host.name, builtFrom: plan.builtFrom, rewrites: plan.rewrites });
    // The source's resolved machine type, not the spec's alias: `q35` is another machine on another QEMU.
    const started = await host.startIncoming(this.request.vm, session.incoming);
    ledger.destination = started;
    journal.append('destination-started', { host: host.name, endpoint: started.endpoint, pid: started.pid });
    const destination = started.monitor;
    destination.setCommandTimeout(this.options.stepTimeoutMs);
    const status = await destination.queryStatus();
    if (status.status !== 'inmigrate') {
      throw new MigrationError('failed', 'prepare', `destination VM on ${host.name} is ${status.status}, expected inmigrate`);
    }
    // Before the stream can start: the destination must be the source's machine (RAM blocks,
    // PCI functions, devices), and its VFs able to take the state. Known only once it runs: a
    // misfit refuses here, every difference named, rolled back (the source never stopped).
    const [reasons, destinationHardware] = await Promise.all([this.strategy.afterDestinationStarted(destination), destination.guestHardware()]);
    const differences = compareSides(session.sourceHardware, destinationHardware, host.name);
    if (differences.length + reasons.length > 0) throw new PreflightError([...differences, ...reasons]);
    this.deps.onEvent({ type: 'log', message: `the destination on ${host.name} matches the source: ${describeHardware(destinationHardware)}` });
    // switchover-ack where both QEMUs offer it and a device may use it (QEMU 8.1+, vfio-pci).
    const ackDevices = switchoverAckDevices(session.sourceCapabilities, await destination.queryMigrateCapabilities(), session.sourceHardware.peripherals);
    const ack: Record<string, boolean> = ackDevices.length > 0 ? { 'return-path': true, 'switchover-ack': true } : {};
    if (ackDevices.length > 0) this.deps.onEvent({ type: 'log', message: `switchover-ack on (with return-path) for ${ackDevices.join(', ')}: the destination approves the switchover once they loaded their initial state` });
    await destination.migrateSetCapabilities({ events: true, ...ack });
    const announce = planAnnounce(this.request.spec, await destination.queryMigrateParameters());
    // Where QEMU can (9.1+), a failed incoming migration leaves the destination alive, so its
    // own error can be read and reported, instead of a QEMU that vanished.
    const features = await destination.schemaFeatures().catch(() => undefined);
    const exitOnError = features?.commandHasArgument('migrate-incoming', 'exit-on-error') ? { exitOnError: false } : {};
    const destinationEvents = destination.listen(['MIGRATION', 'RESUME', 'STOP']);
    await destination.migrateIncoming(`tcp:${formatHost(host.migrationAddress)}:0`, exitOnError);
    return { destination: started, destinationEvents, announce, switchoverAck: ackDevices.length > 0 };
  }

  // --- precopy -------------------------------------------------------------------------

  private async precopy(session: Session, prepared: Prepared, ledger: RollbackLedger): Promise<AtSwitchover> {
    const { source, journal } = session;
    const port = await prepared.destination.monitor.incomingMigrationPort();
    if (port === undefined) throw new MigrationError('failed', 'prepare', 'the destination reported no migration listening port');
    await source.migrateSetCapabilities({
      events: true,
      'pause-before-switchover': true,
      'auto-converge': this.options.autoConverge,
      ...(prepared.switchoverAck ? { 'return-path': true, 'switchover-ack': true } : {}),
    });
    const ladder = this.downtimeLadder();
    const first: DowntimeStep = {
      limitMs: ladder[0] as number,
      pass: 0,
      reason:
        this.options.downtimePolicy === 'fixed'
          ? 'fixed (--downtime-policy fixed)'
          : `start low: ceiling ${this.options.downtimeLimitMs} ms less ${this.options.downtimeOverhead.overheadMs} ms overhead (${this.options.downtimeOverhead.source}), from an eighth up`,
    };
    const downtimeSteps = [first];
    await source.migrateSetParameters({ 'downtime-limit': first.limitMs, 'max-bandwidth': this.options.bandwidth });
    this.deps.onEvent({ type: 'downtime-limit', ...first });
    await this.strategy.beforePrecopy(source);
    const sourceEvents = source.listen(['MIGRATION', 'STOP', 'RESUME']);
    const uri = `tcp:${formatHost(session.destinationHost.migrationAddress)}:${port}`;
    journal.append('precopy-starting', { uri, ...(prepared.switchoverAck ? { switchoverAck: true } : {}) });
    const switchover = this.armSwitchover(source);
    try {
      ledger.migrateIssued = true;
      const migrateStarted = performance.now();
      await source.migrate(uri);
      await this.awaitPreSwitchover(source, prepared, sourceEvents, migrateStarted, ladder, downtimeSteps);
      return { sourceEvents, switchoverSent: switchover.sent, downtimeSteps };
    } catch (error) {
      // No switchover may go out once pre-copy failed: the rollback cancels the migration.
      switchover.disarm();
      sourceEvents.close();
      throw error;
    }
  }

  /** Follows pre-copy (progress, convergence policy, deadline) until the source reaches pre-switchover. */
  private async awaitPreSwitchover(
    source: QemuMonitor,
    prepared: Prepared,
    sourceEvents: QmpEventListener,
    migrateStarted: number,
    ladder: readonly number[],
    downtimeSteps: DowntimeStep[],
  ): Promise<void> {
    const samples: ProgressSample[] = [];
    let forced = false;
    for (;;) {
      this.checkAborted();
      const event = await this.nextEvent('source', sourceEvents, this.options.progressIntervalMs);
      if (event?.event === 'MIGRATION') {
        const status = String(event.data?.status);
        if (status === 'pre-switchover') return;
        if (status === 'failed' || status === 'cancelled') {
          const info = await source.queryMigrate().catch(() => undefined);
          const destination = await this.destinationError(prepared);
          throw new MigrationError('failed', 'precopy', `migration ${status} on the source: ${info?.['error-desc'] ?? 'no reason given'}${destination}`);
        }
        continue;
      }
      if (event) continue;
      const info = await source.queryMigrate();
      const elapsedMs = performance.now() - migrateStarted;
      const sample = sampleFrom(info, elapsedMs);
      if (!sample) {
        // No RAM figures yet (QEMU still in setup: its connect to the destination has not
        // gone through). The pre-copy deadline holds here too, or an unreachable destination
        // would be waited for as long as TCP retries a connect.
        if (elapsedMs >= this.options.timeoutMs) {
          throw new MigrationError('timed-out', 'precopy', `the stream did not start within ${Math.round(this.options.timeoutMs / 1000)} s of migrate (the source is still in ${info.status ?? 'no'} status: is ${this.request.to} reachable from the source?)`);
        }
        continue;
      }
      samples.push(sample);
      this.deps.onEvent({
        type: 'progress',
        pass: sample.pass,
        transferred: sample.transferred,
        remaining: sample.remaining,
        total: info.ram?.total ?? 0,
        dirtyBytesPerSecond: sample.dirtyPagesRate * sample.pageSize,
        bandwidthBytesPerSecond: sample.bandwidth,
        expectedDowntimeMs: sample.expectedDowntimeMs,
        elapsedMs: sample.elapsedMs,
      });
      const decision = decideConvergence(samples, { timeoutMs: this.options.timeoutMs, onTimeout: this.options.onTimeout, stallPasses: 3 });
      if (decision.action === 'abort') throw new MigrationError('timed-out', 'precopy', decision.reason);
      if (decision.action === 'force' && !forced) {
        forced = true;
        this.deps.onEvent({ type: 'warning', message: `${decision.reason}: forcing stop-and-copy now` });
        await source.migrateSetParameters({ 'downtime-limit': FORCE_SWITCHOVER_DOWNTIME_LIMIT_MS });
      }
      const step = forced ? undefined : nextDowntimeStep(samples, ladder, downtimeSteps[downtimeSteps.length - 1] as DowntimeStep);
      if (step) {
        downtimeSteps.push(step);
        await source.migrateSetParameters({ 'downtime-limit': step.limitMs });
        this.deps.onEvent({ type: 'downtime-limit', ...step });
      }
    }
  }

  /** The next event of `listener` within `timeoutMs`, logged; undefined when none came. */
  private async nextEvent(side: 'source' | 'destination', listener: QmpEventListener, timeoutMs: number): Promise<QmpEvent | undefined> {
    try {
      const event = await this.abortable(listener.next(timeoutMs));
      this.eventLog.push({ side, event });
      return event;
    } catch (error) {
      if (error instanceof QmpTimeoutError) return undefined;
      throw error;
    }
  }

  // --- switchover (the guest is stopped from here to resume) ----------------------------

  /**
   * Sends the switchover's commands from inside the dispatch of the pre-switchover event, so
   * that nothing (a progress poll in flight, the phase bookkeeping) sits between the guest
   * stopping and migrate-continue. The fault hook of the switchover fires here too, on this
   * very path: a hook that returns nothing adds no wait; one that throws or rejects fails
   * the switchover before anything is sent.
   */
  private armSwitchover(source: QemuMonitor): { sent: Promise<unknown>; disarm: () => void } {
    let stop: () => void = () => undefined;
    const sent = new Promise<unknown>((resolve, reject) => {
      stop = source.onEvent((event) => {
        if (event.event !== 'MIGRATION' || event.data?.status !== 'pre-switchover') return;
        stop();
        if (this.deps.signal?.aborted) {
          reject(new MigrationError('interrupted', 'switchover', 'interrupted during switchover'));
          return;
        }
        let hook: Promise<void> | void;
        try {
          hook = this.deps.atPhase?.('switchover', { phase: 'switchover', at: 'pre-switchover-dispatch' });
        } catch (error) {
          reject(error);
          return;
        }
        if (hook instanceof Promise) hook.then(() => this.sendSwitchover(source)).then(resolve, reject);
        else this.sendSwitchover(source).then(resolve, reject);
      });
    });
    // Read by the switchover step; a rejection that comes before it is not "unhandled".
    sent.catch(() => undefined);
    return { sent, disarm: () => stop() };
  }

  /**
   * One pipelined batch: the strategy's quiesce/capture commands, migrate-continue right
   * behind. A failure is the first command's in send order: when one gets no reply, those
   * behind it time out with it, and the one QEMU is stuck on is what the operator needs.
   */
  private async sendSwitchover(source: QemuMonitor): Promise<unknown> {
    const results = await Promise.allSettled([this.strategy.atSwitchover(source), source.migrateContinue('pre-switchover')]);
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
    return results;
  }

  private async switchover(session: Session, prepared: Prepared, atSwitchover: AtSwitchover): Promise<Switched> {
    const { source, journal } = session;
    await atSwitchover.switchoverSent;
    // Written while QEMU sends the final pass, and synced in the background meanwhile: the
    // pre-cont record is durable before cont without a sync inside the pause (resume awaits
    // it, never skips it). recover must not resume a destination whose VF was quiesced on the
    // source but never replayed.
    journal.writeUnsynced([
      ['switchover', {}],
      ...this.strategy.switchoverRecords.map((event) => [event, {}] as const),
      ['cont-may-follow', { bootId: currentBootId() }],
    ]);
    const contMayFollow = journal.syncInBackground();
    const deadline = performance.now() + this.options.stepTimeoutMs;
    const ends = await Promise.allSettled([
      this.migrationEnd('source', atSwitchover.sourceEvents, deadline),
      this.migrationEnd('destination', prepared.destinationEvents, deadline),
    ]);
    const unfinished = ends.flatMap((end, index) => (end.status === 'rejected' && end.reason instanceof StreamNotFinished ? [index === 0 ? 'source' : 'destination'] : []));
    if (unfinished.length > 0) {
      // Each side that did not finish is named: which one is stuck cannot be told from here.
      const sides = unfinished.map((side) => `the ${side} (${this.request.vm} on ${side === 'source' ? this.sourceHostName : this.request.to})`).join(' and ');
      throw new MigrationError('failed', 'switchover', `${sides} did not finish the stream within ${this.options.stepTimeoutMs} ms of switchover`);
    }
    const failed = ends.find((end): end is PromiseRejectedResult => end.status === 'rejected');
    if (failed) throw failed.reason;
    const [sourceStatus, destinationStatus] = ends.map((end) => (end as PromiseFulfilledResult<string>).value);
    if (sourceStatus !== 'completed' || destinationStatus !== 'completed') {
      const info = await source.queryMigrate().catch(() => undefined);
      throw new MigrationError(
        'failed',
        'switchover',
        `migration ended ${sourceStatus} on the source and ${destinationStatus} on the destination: ${info?.['error-desc'] ?? 'no reason given'}${await this.destinationError(prepared)}`,
      );
    }
    // Journalled with 'destination-resuming', right before cont: a crash before then finds
    // neither and rolls back a destination that never ran, which is safe.
    return { contMayFollow };
  }

  /** The destination's own account of a failed stream (its error-desc), or that it is gone; '' when it says nothing. */
  private async destinationError(prepared: Prepared): Promise<string> {
    const monitor = prepared.destination.monitor;
    const said = await this.destinationLog(prepared);
    if (!monitor.isOpen) return `; the destination QEMU exited${said}`;
    let info: MigrationInfo;
    try {
      info = await monitor.queryMigrate();
    } catch (error) {
      return error instanceof QmpDisconnectedError || !monitor.isOpen ? `; the destination QEMU exited${said}` : `; the destination QEMU does not answer (${(error as Error).message})${said}`;
    }
    return `${info['error-desc'] ? `; the destination says: ${info['error-desc']}` : ''}${said}`;
  }

  /** What the destination QEMU wrote to its log (its own error messages), once it had time to. */
  private async destinationLog(prepared: Prepared): Promise<string> {
    if (!prepared.destination.logTail) return '';
    // QEMU writes its error as the stream fails; its exit (or the next poll) follows.
    await Promise.race([prepared.destination.monitor.closed, new Promise((resolve) => setTimeout(resolve, 200).unref())]);
    const tail = prepared.destination.logTail();
    return tail ? `; its log: ${tail}` : '';
  }

  /** Waits for one side's MIGRATION event to reach completed, failed or cancelled. */
  private async migrationEnd(side: 'source' | 'destination', listener: QmpEventListener, deadline: number): Promise<string> {
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) throw new StreamNotFinished(side);
      const event = await this.nextEvent(side, listener, left);
      if (!event) continue;
      const status = String(event.data?.status);
      if (event.event === 'MIGRATION' && isTerminalMigrationStatus(status)) return status;
    }
  }

  // --- replay --------------------------------------------------------------------------

  private async replay(destination: QemuMonitor): Promise<ReplayReport | undefined> {
    const report = await this.strategy.beforeResume(destination);
    if (report && !report.verified) {
      throw new MigrationError('failed', 'replay', `the destination VF does not match the source after replay: ${report.differences.join('; ')}`);
    }
    return report;
  }

  // --- resume --------------------------------------------------------------------------

  private async resume(
    session: Session,
    prepared: Prepared,
    switched: Switched,
    replay: ReplayReport | undefined,
    markResumed: () => void,
    ledger: RollbackLedger,
    warnings: string[],
  ): Promise<void> {
    const { journal } = session;
    const destination = prepared.destination.monitor;
    // The record that must precede cont, synced since the switchover: done by now unless the
    // disk is slower than the stream, and then awaited. If it failed, the destination is not
    // resumed: the error rolls back (invariant 4).
    await switched.contMayFollow;
    const hook = this.deps.atPoint?.('resume:before-cont');
    if (hook) await hook;
    // Written, not synced, right before cont: on this boot its absence proves cont never went
    // out (docs/recover.md). A write that fails stops the cont just the same.
    journal.writeUnsynced([
      ['migration-completed', {}],
      ...(replay ? [['replayed', { captured: replay.captured, replayed: replay.replayed, verified: replay.verified }] as const] : []),
      ['destination-resuming', { paused: !session.sourceWasRunning }],
    ]);
    if (!session.sourceWasRunning) {
      // A guest that was paused on the source stays paused on the destination, which owns it
      // from here on, as libvirt does.
      markResumed();
      await this.afterCont(session, journal.syncInBackground(), warnings, { paused: true });
      return;
    }
    // Once QEMU answered cont the destination runs: nothing rolls back after that.
    ledger.contSent = true;
    const resumed = destination.contAndWaitForResume(this.options.stepTimeoutMs, markResumed);
    // Synced once cont is on its way, while QEMU resumes the guest.
    const resumingDurable = journal.syncInBackground();
    const event = await resumed;
    this.eventLog.push({ side: 'destination', event });
    const resumedHook = this.deps.atPoint?.('resume:after-cont');
    if (resumedHook) await resumedHook;
    await this.afterCont(session, resumingDurable, warnings);
    const announced = await this.strategy.afterResume(destination);
    if (announced > 0) this.recordAfterResume(session, warnings, 'announced', { by: 'nicmig', how: 'i40evf-announce', devices: announced });
    await this.announceNics(session, prepared.announce, destination, warnings);
  }

  /** The NICs' announce as planned: QEMU's own (recorded), or announce-self (recorded once QEMU took it). */
  private async announceNics(session: Session, plan: AnnouncePlan, destination: QemuMonitor, warnings: string[]): Promise<void> {
    if (plan.by === 'nobody') return;
    if (plan.by === 'nicmig') {
      const { rounds, initialMs, maxMs, stepMs } = plan.timing;
      try {
        await destination.announceSelf({ initial: initialMs, max: maxMs, rounds, step: stepMs, interfaces: plan.nics.map((nic) => nic.id), id: 'nicmig' });
      } catch (error) {
        const message = `announce-self for ${plan.nics.map((nic) => `${nic.id} (${nic.mac})`).join(', ')} failed on ${session.destinationHost.name}: ${(error as Error).message}`;
        // Reported with the other warnings at the end of cleanup.
        warnings.push(message);
        return;
      }
    }
    this.recordAfterResume(session, warnings, 'announced', announcedRecord(plan));
  }

  /** After cont: the records written before it made durable (or a warning), then `destination-resumed`. */
  private async afterCont(session: Session, resumingDurable: Promise<void>, warnings: string[], data: Record<string, unknown> = {}): Promise<void> {
    const failure = await resumingDurable.then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    if (failure) warnings.push(`the journal could not sync 'destination-resuming': ${failure.message}`);
    this.recordAfterResume(session, warnings, 'destination-resumed', data);
  }

  // --- cleanup (after resume: retried and reported, never undone) -----------------------

  private async cleanup(session: Session, prepared: Prepared, warnings: string[]): Promise<void> {
    const { source, sourceHost, destinationHost } = session;
    // A monitor that left a command unanswered answers nothing behind it: no retry on it.
    const reset = await retry(3, async () => this.strategy.cleanupSource(source), () => source.unresponsive || !source.isOpen);
    if (reset.ok) this.recordAfterResume(session, warnings, 'source-vf-reset');
    // quit over the monitor nicmig holds; if the source does not go, its host stops it (quit
    // over a new connection, then signals), so that no paused copy is left behind.
    const quitOver = await source.quitAndWait({ quitTimeoutMs: this.options.stepTimeoutMs }).then(
      (how) => how,
      (error: unknown) => error as Error,
    );
    // A source that had died (killed) leaves what its host must clear: its socket, its pid file.
    if (quitOver === 'gone') await sourceHost.stopVm(this.request.vm).catch(() => undefined);
    let quit = !(quitOver instanceof Error);
    if (quitOver instanceof Error) {
      source.disconnect();
      let how = '';
      quit = (await retry(2, async () => (how = await sourceHost.stopVm(this.request.vm)))).ok;
      if (quit) warnings.push(`the source QEMU on ${sourceHost.name} did not quit when asked (${quitOver.message}); its host stopped it (${how})`);
    }
    if (!reset.ok) {
      warnings.push(`the source VF could not be reset (${reset.error?.message ?? 'no reason given'}): ${quit ? 'it is reset as its QEMU ended' : 'reset it on the PF by hand'}`);
    }
    if (quit) {
      this.recordAfterResume(session, warnings, 'source-quit');
      // Its taps on the source host go with it.
      const released = await sourceHost.releaseVm(this.request.vm).catch((error: unknown) => {
        warnings.push(`the taps of '${this.request.vm}' on ${sourceHost.name} were not removed: ${(error as Error).message}`);
        return [];
      });
      if (released.length > 0) this.recordAfterResume(session, warnings, 'note', { released: { host: sourceHost.name, taps: released } });
    } else warnings.push(`the source QEMU on ${sourceHost.name} did not quit: stop it by hand (it is paused in postmigrate)`);
    // nicmig holds the destination's monitor from its start: asked now, it says whether that
    // QEMU still runs the guest (a closed monitor may not have been noticed yet: ask). One that
    // left a command unanswered is not asked again: that failure is already a warning.
    const destination = prepared.destination.monitor;
    const found = destination.unresponsive ? 'not asked' : await destination.queryStatus().then(
      (status) => status.status,
      (error: unknown) => (destination.isOpen ? `unknown (${(error as Error).message})` : 'ended'),
    );
    if (found === 'ended') {
      warnings.push(`the destination QEMU on ${destinationHost.name} ended after it resumed the guest: the guest runs nowhere; check its log`);
    } else if (found.startsWith('unknown')) {
      warnings.push(`the destination QEMU on ${destinationHost.name} does not answer after it resumed the guest: ${found}`);
    }
    for (const warning of warnings) this.deps.onEvent({ type: 'warning', message: warning });
  }

  // --- rollback ------------------------------------------------------------------------

  private async rollback(session: Session, ledger: RollbackLedger, cause: MigrationError): Promise<void> {
    const { journal } = session;
    // The rollback goes on when the journal cannot be written (a full disk is a reason to roll back).
    const journalFailure = journal.tryAppend('rollback-started', { phase: this.phase, error: cause.toJSON() });
    const runner = new StepRunner(journal, {
      onStep: (result) => this.deps.onEvent({ type: 'rollback', step: result.step, ok: result.ok, ...(result.error ? { detail: result.error } : {}) }),
    });
    const destination = ledger.destination;
    const reached = await this.rollbackMonitor(session);
    const source = reached.monitor;
    try {
      if (!source) await runner.attempt('reach the source', () => Promise.reject(new Error(reached.reason)));
      await rollBack(
        runner,
        {
          source,
          cancelMigration: ledger.migrateIssued,
          stopDestination: destination ? () => destination.destroy() : undefined,
          restoreSourceVf: () => this.strategy.rollbackSource(source),
          resumeSource: session.sourceWasRunning,
          destinationMayRun: ledger.contSent === true,
        },
        this.options.stepTimeoutMs,
      );
    } finally {
      if (source !== session.source) source?.disconnect();
    }
    if (!runner.allOk) {
      const failures = runner.failures;
      journal.tryAppend('uncertain', { failures });
      throw new UncertainError(`${cause.message}; rollback incomplete: ${failures.join('; ')}`, {
        cause,
        details: { journal: journal.file, failures },
      });
    }
    // The destination's taps go once its QEMU is gone; one left behind is a warning, not an uncertain guest.
    if (destination) {
      const host = session.destinationHost.name;
      const released = await session.destinationHost.releaseVm(this.request.vm).catch((error: unknown) => {
        const message = `the taps of '${this.request.vm}' on ${host} were not removed: ${(error as Error).message}`;
        journal.tryAppend('note', { releaseFailed: { host, error: (error as Error).message } });
        this.deps.onEvent({ type: 'warning', message });
        return [];
      });
      if (released.length > 0) journal.tryAppend('note', { released: { host, taps: released } });
    }
    const unrecorded = journal.tryAppend('rolled-back', { error: cause.toJSON() }) ?? journalFailure ?? runner.journalFailure;
    if (unrecorded) this.deps.onEvent({ type: 'warning', message: `rolled back, but the journal could not record it (${unrecorded.message}); \`nicmig recover ${this.request.vm}\` will find the source running` });
    this.deps.onEvent({ type: 'log', message: `rolled back: ${this.request.vm} runs on ${session.sourceHost.name}` });
  }

  /**
   * The source's monitor for the rollback: the one nicmig holds, or, when a command on it got
   * no reply (everything sent behind it waits too), a new connection to the source's QEMU,
   * made once and bounded. Without one the rollback cannot reach the source: it is
   * incomplete, and recover decides.
   */
  private async rollbackMonitor(session: Session): Promise<{ monitor: QemuMonitor | undefined; reason: string }> {
    const { source, sourceHost } = session;
    if (!source.unresponsive) return { monitor: source, reason: '' };
    source.disconnect();
    const probe = await sourceHost.probeVm(this.request.vm);
    if (probe.monitor) {
      probe.monitor.setCommandTimeout(this.options.stepTimeoutMs);
      this.deps.onEvent({ type: 'log', message: `the source's monitor left a command unanswered; the rollback goes on over a new connection to ${this.request.vm} on ${sourceHost.name}` });
      return { monitor: probe.monitor, reason: '' };
    }
    return { monitor: undefined, reason: `${this.request.vm} on ${sourceHost.name} left a command unanswered and does not answer a new connection (${probe.presence.state === 'gone' || probe.presence.state === 'unknown' ? `${probe.presence.state}: ${probe.presence.reason}` : probe.presence.state})` };
  }

  // --- dry run -------------------------------------------------------------------------

  private async dryRunPlan(checked: Checked): Promise<DryRunPlan> {
    const vfs = this.strategy.describePlan().devices;
    const dirty = await checked.source.calcDirtyRate(1).catch(() => null);
    const rxBytes = vfs.reduce((sum, vf) => sum + vf.rxBufferBytes, 0);
    const bandwidth = this.options.bandwidth;
    const converges = dirty === null ? null : dirty < bandwidth;
    // QEMU switches over at the first pass whose remainder fits the limit at the bandwidth;
    // that remainder is what the guest dirtied during the pass before, about limit x
    // dirty/bandwidth. The VFs' RX buffers, marked dirty at the quiesce, go in the final pass.
    const limit = this.options.downtimeLimitMs;
    const ram = dirty === null ? limit : limit * Math.min(1, dirty / bandwidth);
    const predicted = converges === false ? null : Math.round((ram + predictDowntimeMs(rxBytes, bandwidth)) * 10) / 10;
    return {
      phases: this.strategy.hasReplayPhase ? [...PHASES] : PHASES.filter((p) => p !== 'replay'),
      vfs,
      dirtyBytesPerSecond: dirty,
      bandwidth,
      downtimeLimitMs: this.options.downtimeLimitMs,
      converges,
      predictedDowntimeMs: predicted,
    };
  }

  /** The limits QEMU may get, lowest first (one, the limit itself, with the fixed policy). */
  private downtimeLadder(): number[] {
    if (this.options.downtimePolicy === 'fixed') return [this.options.downtimeLimitMs];
    return downtimeLadder({ ceilingMs: this.options.downtimeLimitMs, overheadMs: this.options.downtimeOverhead.overheadMs, overheadSource: this.options.downtimeOverhead.source });
  }

  // --- results ---------------------------------------------------------------------------

  private baseResult(checked: Checked) {
    return {
      vm: this.request.vm,
      from: checked.sourceHost.name,
      to: this.request.to,
      strategy: this.strategy.name,
      destination: checked.destinationPlan,
      preflightWarnings: checked.preflightWarnings,
      totalTimeMs: this.elapsedMs,
      rolledBack: false as const,
      journal: this.journalPath,
      error: null,
    };
  }

  private migratedResult(session: Session, info: MigrationInfo | null, replay: ReplayReport | undefined, cleanupWarnings: string[], steps: DowntimeStep[] = []): MigratedResult {
    const moments = switchoverMoments(this.timeline().qemu);
    const timings = switchoverTimings(moments, info?.downtime ?? null);
    const ceilingMs = this.options.downtimeLimitMs;
    return {
      ...this.baseResult(session),
      status: 'migrated',
      ...timings,
      bytes: info?.ram?.transferred ?? null,
      passes: info?.ram?.['dirty-sync-count'] ?? null,
      replay: replay ? { captured: replay.captured, replayed: replay.replayed, verified: replay.verified } : null,
      cleanupWarnings,
      downtimePolicy: {
        ceilingMs,
        overheadMs: this.options.downtimeOverhead.overheadMs,
        overheadSource: this.options.downtimeOverhead.source,
        steps,
        feltShareOfCeiling: timings.measuredDowntimeMs === null ? null : Math.round((timings.measuredDowntimeMs / ceilingMs) * 100) / 100,
      },
    };
  }

  // --- helpers -------------------------------------------------------------------------

  /** A record after `cont`: nothing rolls back any more, so a journal that fails is a warning. */
  private recordAfterResume(session: Session, warnings: string[], event: JournalEvent, data: Record<string, unknown> = {}): void {
    const failure = session.journal.tryAppend(event, data);
    if (failure) warnings.push(`the journal could not record '${event}': ${failure.message}`);
  }

  private asMigrationError(error: NicmigError): MigrationError {
    if (error instanceof MigrationError) return error;
    if (error instanceof JournalError && this.phase === 'resume') {
      return new MigrationError('failed', 'resume', `the journal record that must precede cont could not be written (${error.message}): the destination was not resumed`, { cause: error });
    }
    const kind: MigrationFailureKind = this.deps.signal?.aborted ? 'interrupted' : 'failed';
    return new MigrationError(kind, this.phase, `${this.phase}: ${error.message}`, { cause: error });
  }

  private checkAborted(): void {
    if (this.deps.signal?.aborted) throw new MigrationError('interrupted', this.phase, `interrupted during ${this.phase}`);
  }

  private abortable<T>(promise: Promise<T>): Promise<T> {
    const signal = this.deps.signal;
    if (!signal) return promise;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new MigrationError('interrupted', this.phase, `interrupted during ${this.phase}`));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }
}

/** `machine pc-q35-7.2, 7 RAM blocks, 5 PCI functions, 1 device`: what preflight compared. */
function describeHardware(hardware: GuestHardware): string {
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  return [
    hardware.machineType ? `machine ${hardware.machineType}` : undefined,
    hardware.ramBlocks ? count(hardware.ramBlocks.length, 'RAM block') : undefined,
    hardware.pci ? count(hardware.pci.length, 'PCI function') : undefined,
    hardware.peripherals ? count(hardware.peripherals.length, 'device') : undefined,
  ]
    .filter((part) => part !== undefined)
    .join(', ');
}

/** A side's stream did not end by the switchover's deadline (switchover() words the error). */
class StreamNotFinished extends Error {
  constructor(readonly side: 'source' | 'destination') {
    super(`the ${side} did not finish the stream`);
  }
}

function formatHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** Runs `body` up to `times` times, 200 ms x attempt apart; stops early once `hopeless()` says a retry cannot help. */
async function retry(times: number, body: () => Promise<unknown>, hopeless: () => boolean = () => false): Promise<{ ok: boolean; error?: Error }> {
  let last: Error | undefined;
  for (let attempt = 1; attempt <= times; attempt++) {
    try {
      await body();
      return { ok: true };
    } catch (error) {
      last = error as Error;
      if (attempt === times || hopeless()) break;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt).unref());
    }
  }
  return { ok: false, error: last };
}
