import path from 'node:path';
import { NicmigError, UsageError, asNicmigError } from '../errors.js';
import { eventTimeMs, type QmpEvent, type QmpEventListener } from '../qmp/events.js';
import { QmpTimeoutError } from '../qmp/errors.js';
import type { QemuMonitor } from '../qmp/monitor.js';
import type { MigrationInfo } from '../qmp/schemas.js';
import {
  decideConvergence,
  FORCE_SWITCHOVER_DOWNTIME_LIMIT_MS,
  predictDowntimeMs,
  sampleFrom,
  type OnTimeout,
  type ProgressSample,
} from './convergence.js';
import type { VmSpec } from '../hosts/vm-spec.js';
import { MigrationError, PreflightError, UncertainError, type MigrationFailureKind } from './errors.js';
import { destinationReasons } from './preflight.js';
import { PHASES, type MigrationEvent, type MigrationEventSink, type Phase } from './events.js';
import { MigrationJournal } from './journal.js';
import type { HostHandle, StartedVm } from './ports.js';
import type { MigrationStrategy, ReplayReport, StrategyPlan } from './strategy.js';

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
};

export interface MigrationRequest {
  vm: string;
  to: string;
  options: MigrationOptions;
  /** The VM as the inventory describes it: the destination host is checked against it. */
  spec?: VmSpec;
}

export interface MigrationDependencies {
  hosts: ReadonlyMap<string, HostHandle>;
  strategyFor(vm: string, source: QemuMonitor): Promise<MigrationStrategy>;
  journalDir: string;
  onEvent: MigrationEventSink;
  signal?: AbortSignal;
  /** Test hook: called at each phase boundary; throwing there injects a failure. */
  atPhase?: (phase: Phase) => Promise<void> | void;
}

export interface MigrationTimeline {
  vm: string;
  events: (MigrationEvent & { time: number })[];
  qemu: { side: 'source' | 'destination'; time: number; event: string; status: string | null }[];
}

/** What `--dry-run` found: what would happen, and what it would cost. */
export interface DryRunPlan {
  phases: Phase[];
  vfs: StrategyPlan['devices'];
  /** Measured on the source (QEMU's calc-dirty-rate), bytes/s; null where not measurable. */
  dirtyBytesPerSecond: number | null;
  bandwidth: number;
  downtimeLimitMs: number;
  /** Whether pre-copy can converge at this bandwidth; null when the dirty rate is unknown. */
  converges: boolean | null;
  /** The downtime to expect: QEMU stops at the limit, plus the VFs' RX buffers to resend. */
  predictedDowntimeMs: number | null;
}

export interface MigrationSummary {
  status: 'migrated' | 'rolled-back' | 'dry-run';
  vm: string;
  from: string;
  to: string;
  strategy: string;
  totalTimeMs: number;
  /** QEMU's own figure (query-migrate downtime on the source). */
  downtimeMs: number | null;
  /** Source STOP to destination RESUME, from QEMU's event timestamps. */
  measuredDowntimeMs: number | null;
  /** nicmig's own time inside the downtime: pre-switchover->device plus completed->RESUME. */
  orchestratorDowntimeMs: number | null;
  /** The two parts of it: at the source's switchover, and on the destination before it runs. */
  orchestratorWindowsMs: { switchover: number; resume: number } | null;
  bytes: number | null;
  passes: number | null;
  replay: { captured: number; replayed: number; verified: boolean } | null;
  rolledBack: boolean;
  cleanupWarnings: string[];
  journal: string | null;
  error: Record<string, unknown> | null;
  plan?: DryRunPlan;
}

const ACTIVE_MIGRATION = new Set(['setup', 'active', 'pre-switchover', 'device', 'cancelling', 'postcopy-active', 'postcopy-paused', 'postcopy-recover', 'wait-unplug', 'colo']);

/**
 * One migration, phase by phase (DESIGN.md): resolve, preflight, prepare, precopy,
 * switchover, replay, resume, cleanup. Before the destination's `cont` every failure rolls
 * back; after it nothing does.
 */
export class Migration {
  private readonly started = performance.now();
  private journal: MigrationJournal | undefined;
  private source: QemuMonitor | undefined;
  private sourceHost: HostHandle | undefined;
  private destinationHost: HostHandle | undefined;
  private destination: StartedVm | undefined;
  private strategy: MigrationStrategy | undefined;
  private sourceWasRunning = true;
  private migrateIssued = false;
  private switchoverSent: Promise<unknown> | undefined;
  private resumed = false;
  private phase: Phase = 'resolve';
  private readonly cleanupWarnings: string[] = [];
  private sourceEvents: QmpEventListener | undefined;
  private destinationEvents: QmpEventListener | undefined;
  private readonly eventLog: { side: 'source' | 'destination'; event: QmpEvent }[] = [];

  private readonly recorded: { time: number; event: MigrationEvent }[] = [];
  private readonly deps: MigrationDependencies;

  constructor(
    private readonly request: MigrationRequest,
    deps: MigrationDependencies,
  ) {
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

  get sourceHostName(): string | null {
    return this.sourceHost?.name ?? null;
  }

  get elapsedMs(): number {
    return Math.round(performance.now() - this.started);
  }

  get journalFile(): string | null {
    return this.journal ? path.resolve(this.journal.file) : null;
  }

  private get options(): MigrationOptions {
    return this.request.options;
  }

  async run(): Promise<MigrationSummary> {
    try {
      await this.step('resolve', () => this.resolve());
      await this.step('preflight', () => this.preflight());
      if (this.options.dryRun) {
        const plan = await this.dryRunPlan();
        return { ...this.summary('dry-run', null, null), plan };
      }
      this.openJournal();
      await this.step('prepare', () => this.prepare());
      await this.step('precopy', () => this.precopy());
      await this.step('switchover', () => this.switchover());
      const replay = this.strategy?.name === 'vf-replay' ? await this.step('replay', () => this.replay()) : this.skip('replay');
      await this.step('resume', () => this.resume(replay));
      // QEMU keeps the statistics in postmigrate: read them after the guest runs again.
      const completedInfo = await this.requireSource().queryMigrate().catch(() => null);
      await this.step('cleanup', () => this.cleanup());
      this.journal?.append('finished', { cleanupWarnings: this.cleanupWarnings });
      return this.summary('migrated', completedInfo, replay);
    } catch (error) {
      const failure = asNicmigError(error);
      if (this.resumed) {
        // After cont nothing rolls back: the guest runs on the destination.
        this.cleanupWarnings.push(failure.message);
        this.journal?.append('cleanup-failed', { error: failure.toJSON() });
        this.journal?.append('finished', { cleanupWarnings: this.cleanupWarnings });
        return this.summary('migrated', null, null);
      }
      if (!this.journal) throw failure;
      const wrapped = this.asMigrationError(failure);
      await this.rollback(wrapped);
      // A refusal found once the destination ran is still a refusal (exit 10), after rollback.
      throw failure instanceof PreflightError ? failure : wrapped;
    } finally {
      this.sourceEvents?.close();
      this.destinationEvents?.close();
      this.journal?.close();
      // QEMU serves one QMP client per monitor: let go of both so others can connect.
      this.source?.client.destroy();
      this.destination?.monitor.client.destroy();
    }
  }

  private skip(phase: Phase): undefined {
    this.deps.onEvent({ type: 'phase', phase, state: 'skipped', detail: 'no VF' });
    return undefined;
  }

  private async step<T>(phase: Phase, body: () => Promise<T>): Promise<T> {
    this.phase = phase;
    this.checkAborted();
    await this.deps.atPhase?.(phase);
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

  private async resolve(): Promise<void> {
    const { vm, to } = this.request;
    const destinationHost = this.deps.hosts.get(to);
    if (!destinationHost) {
      throw new UsageError('UNKNOWN_HOST', `no host named '${to}' in the inventory`, {
        hint: `known hosts: ${[...this.deps.hosts.keys()].join(', ') || 'none'}`,
      });
    }
    this.destinationHost = destinationHost;
    const found: { host: HostHandle; monitor: QemuMonitor; status: string }[] = [];
    for (const host of this.deps.hosts.values()) {
      const monitor = await host.connectVm(vm).catch(() => undefined);
      if (!monitor) continue;
      const status = await monitor.queryStatus();
      found.push({ host, monitor, status: status.status });
    }
    const live = found.filter((f) => f.status !== 'inmigrate' && f.status !== 'postmigrate');
    for (const other of found) if (!live.includes(other) || live.length > 1) other.monitor.client.destroy();
    if (live.length === 0) {
      throw new PreflightError([`VM '${vm}' runs on none of the hosts (${[...this.deps.hosts.keys()].join(', ')})`]);
    }
    if (live.length > 1) {
      throw new PreflightError([`VM '${vm}' answers on several hosts (${live.map((f) => f.host.name).join(', ')}): run \`nicmig status ${vm}\``]);
    }
    const [only] = live as [(typeof live)[number]];
    if (only.host === destinationHost) {
      only.monitor.client.destroy();
      throw new PreflightError([`VM '${vm}' already runs on ${to}`]);
    }
    this.source = only.monitor;
    this.sourceHost = only.host;
  }

  // --- preflight -----------------------------------------------------------------------

  private async preflight(): Promise<void> {
    const source = this.requireSource();
    const reasons: string[] = [];
    const [version, status, migration, capabilities] = await Promise.all([
      source.queryVersion(),
      source.queryStatus(),
      source.queryMigrate(),
      source.queryMigrateCapabilities(),
    ]);
    if (version.qemu.major < 7) reasons.push(`source QEMU ${version.qemu.major}.${version.qemu.minor} is older than 7.0`);
    if (status.status !== 'running' && status.status !== 'paused') {
      reasons.push(`VM '${this.request.vm}' is ${status.status} on ${this.sourceHost?.name}; it must be running or paused`);
    }
    this.sourceWasRunning = status.status === 'running';
    if (migration.status && ACTIVE_MIGRATION.has(migration.status)) {
      reasons.push(`a migration of '${this.request.vm}' is already in flight (status ${migration.status})`);
    }
    for (const needed of ['events', 'pause-before-switchover']) {
      if (!capabilities.has(needed)) reasons.push(`source QEMU lacks the migration capability '${needed}'`);
    }
    if (this.options.autoConverge && !capabilities.has('auto-converge')) reasons.push(`source QEMU lacks 'auto-converge' (pass --no-auto-converge)`);
    this.strategy = await this.deps.strategyFor(this.request.vm, source);
    reasons.push(...(await this.strategy.preflight(source)));
    const spec = this.request.spec;
    if (spec) {
      const destination = this.requireDestinationHost();
      const facts = await destination.facts().catch((error: unknown) => {
        reasons.push(`cannot ask ${destination.name} what it can take: ${(error as Error).message}`);
        return undefined;
      });
      if (facts) {
        reasons.push(...destinationReasons(spec, destination.name, facts));
        reasons.push(...this.strategy.checkDestinationHost(spec, facts));
      }
    }
    if (reasons.length > 0) throw new PreflightError(reasons);
  }

  private openJournal(): void {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    this.journal = MigrationJournal.create(this.deps.journalDir, `${this.request.vm}-${stamp}`);
    this.journal.append('begin', {
      vm: this.request.vm,
      from: this.sourceHost?.name,
      to: this.request.to,
      strategy: this.strategy?.name,
      sourceWasRunning: this.sourceWasRunning,
      options: this.options,
    });
  }

  // --- prepare -------------------------------------------------------------------------

  private async prepare(): Promise<void> {
    const host = this.requireDestinationHost();
    this.journal?.append('destination-starting', { host: host.name });
    this.destination = await host.startIncoming(this.request.vm);
    this.journal?.append('destination-started', { host: host.name, endpoint: this.destination.endpoint, pid: this.destination.pid });
    const destination = this.destination.monitor;
    const status = await destination.queryStatus();
    if (status.status !== 'inmigrate') {
      throw new MigrationError('failed', 'prepare', `destination VM on ${host.name} is ${status.status}, expected inmigrate`);
    }
    const reasons = (await this.strategy?.afterDestinationStarted(destination)) ?? [];
    // The destination's VF facts are known only once it runs: a misfit refuses here, rolled back.
    if (reasons.length > 0) throw new PreflightError(reasons);
    await destination.migrateSetCapabilities({ events: true });
    this.destinationEvents = destination.client.listen({ names: ['MIGRATION', 'RESUME', 'STOP'] });
    await destination.migrateIncoming(`tcp:${host.migrationAddress}:0`);
  }

  // --- precopy -------------------------------------------------------------------------

  private async precopy(): Promise<void> {
    const source = this.requireSource();
    const destination = this.requireDestination();
    const port = listeningPort(await destination.queryMigrate());
    await source.migrateSetCapabilities({ events: true, 'pause-before-switchover': true, 'auto-converge': this.options.autoConverge });
    await source.migrateSetParameters({ 'downtime-limit': this.options.downtimeLimitMs, 'max-bandwidth': this.options.bandwidth });
    await this.strategy?.beforePrecopy(source);
    this.sourceEvents = source.client.listen({ names: ['MIGRATION', 'STOP', 'RESUME'] });
    const uri = `tcp:${formatHost(this.requireDestinationHost().migrationAddress)}:${port}`;
    this.journal?.append('precopy-starting', { uri });
    this.armSwitchover(source);
    this.migrateIssued = true;
    const migrateStarted = performance.now();
    await source.migrate(uri);

    const samples: ProgressSample[] = [];
    let forced = false;
    for (;;) {
      this.checkAborted();
      const event = await this.nextSourceEvent(this.options.progressIntervalMs);
      if (event?.event === 'MIGRATION') {
        const status = String(event.data?.status);
        if (status === 'pre-switchover') return;
        if (status === 'failed' || status === 'cancelled') {
          const info = await source.queryMigrate().catch(() => undefined);
          throw new MigrationError('failed', 'precopy', `migration ${status} on the source: ${info?.['error-desc'] ?? 'no reason given'}`);
        }
        continue;
      }
      if (event) continue;
      const info = await source.queryMigrate();
      const sample = sampleFrom(info, performance.now() - migrateStarted);
      if (!sample) continue;
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
    }
  }

  /** The next source MIGRATION/STOP event within `timeoutMs`, or undefined when none came. */
  private async nextSourceEvent(timeoutMs: number): Promise<QmpEvent | undefined> {
    const listener = this.sourceEvents as QmpEventListener;
    try {
      const event = await this.abortable(listener.next(timeoutMs));
      this.eventLog.push({ side: 'source', event });
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
   * stopping and migrate-continue. Not with a test's phase hook, which must be able to fail
   * the switchover first.
   */
  private armSwitchover(source: QemuMonitor): void {
    if (this.deps.atPhase) return;
    const stop = source.client.onEvent((event) => {
      if (event.event !== 'MIGRATION' || event.data?.status !== 'pre-switchover') return;
      stop();
      if (this.deps.signal?.aborted) return;
      this.switchoverSent = this.sendSwitchover(source);
      this.switchoverSent.catch(() => undefined);
    });
  }

  /** One pipelined batch: the strategy's quiesce/capture commands, migrate-continue right behind. */
  private sendSwitchover(source: QemuMonitor): Promise<unknown> {
    return Promise.all([this.strategy?.atSwitchover(source), source.migrateContinue('pre-switchover')]);
  }

  private async switchover(): Promise<void> {
    const source = this.requireSource();
    await (this.switchoverSent ?? this.sendSwitchover(source));
    // Written while QEMU sends the final pass; recover must not resume a destination whose
    // VF was quiesced on the source but never replayed.
    this.journal?.appendAll([['switchover', {}], ...(this.strategy?.name === 'vf-replay' ? [['source-vf-quiesced', {}] as const] : [])]);
    const deadline = performance.now() + this.options.stepTimeoutMs;
    const [sourceStatus, destinationStatus] = await Promise.all([this.migrationEnd('source', deadline), this.migrationEnd('destination', deadline)]);
    if (sourceStatus !== 'completed' || destinationStatus !== 'completed') {
      const info = await source.queryMigrate().catch(() => undefined);
      throw new MigrationError(
        'failed',
        'switchover',
        `migration ended ${sourceStatus} on the source and ${destinationStatus} on the destination: ${info?.['error-desc'] ?? 'no reason given'}`,
      );
    }
    // Journalled together with 'destination-resuming' (one fsync inside the downtime): a
    // crash before then finds no 'migration-completed' and rolls back, which is safe.
  }

  /** Waits for one side's MIGRATION event to reach completed, failed or cancelled. */
  private async migrationEnd(side: 'source' | 'destination', deadline: number): Promise<string> {
    const listener = (side === 'source' ? this.sourceEvents : this.destinationEvents) as QmpEventListener;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) throw new MigrationError('failed', 'switchover', `the ${side} did not finish the stream within ${this.options.stepTimeoutMs} ms of switchover`);
      const event = await this.abortable(listener.next(left)).catch((error: unknown) => {
        if (error instanceof QmpTimeoutError) return undefined;
        throw error;
      });
      if (!event) continue;
      this.eventLog.push({ side, event });
      const status = String(event.data?.status);
      if (event.event === 'MIGRATION' && ['completed', 'failed', 'cancelled'].includes(status)) return status;
    }
  }

  // --- replay --------------------------------------------------------------------------

  private async replay(): Promise<ReplayReport | undefined> {
    const report = await this.strategy?.beforeResume(this.requireDestination());
    if (report) {
      if (!report.verified) {
        throw new MigrationError('failed', 'replay', `the destination VF does not match the source after replay: ${report.differences.join('; ')}`);
      }
    }
    return report;
  }

  // --- resume --------------------------------------------------------------------------

  private async resume(replay: ReplayReport | undefined): Promise<void> {
    const destination = this.requireDestination();
    // One fsync for all three records: the only journal write inside the downtime.
    this.journal?.appendAll([
      ['migration-completed', {}],
      ...(replay ? [['replayed', { captured: replay.captured, replayed: replay.replayed, verified: replay.verified }] as const] : []),
      ['destination-resuming', { paused: !this.sourceWasRunning }],
    ]);
    if (!this.sourceWasRunning) {
      // A guest that was paused on the source stays paused on the destination, which owns it
      // from here on, as libvirt does.
      this.resumed = true;
      this.journal?.append('destination-resumed', { paused: true });
      return;
    }
    const resumed = destination.client.waitFor('RESUME', undefined, this.options.stepTimeoutMs);
    await destination.cont();
    this.resumed = true;
    const event = await resumed;
    this.eventLog.push({ side: 'destination', event });
    this.journal?.append('destination-resumed');
    await this.strategy?.afterResume(destination);
    this.journal?.append('announced');
  }

  // --- cleanup (after resume: retried and reported, never undone) -----------------------

  private async cleanup(): Promise<void> {
    const source = this.requireSource();
    const released = await retry(3, async () => this.strategy?.cleanupSource(source));
    if (released) this.journal?.append('source-vf-reset');
    else this.cleanupWarnings.push('the source VF could not be reset: reset it on the PF by hand');
    const quit = await retry(3, async () => {
      const shutdown = source.client.closed;
      await source.quit();
      await Promise.race([shutdown, delay(this.options.stepTimeoutMs)]);
    });
    if (quit) this.journal?.append('source-quit');
    else this.cleanupWarnings.push(`the source QEMU on ${this.sourceHost?.name} did not quit: stop it by hand (it is paused in postmigrate)`);
    for (const warning of this.cleanupWarnings) this.deps.onEvent({ type: 'warning', message: warning });
  }

  // --- rollback ------------------------------------------------------------------------

  private async rollback(cause: MigrationError): Promise<void> {
    this.journal?.append('rollback-started', { phase: this.phase, error: cause.toJSON() });
    const failures: string[] = [];
    const attempt = async (name: string, body: () => Promise<void>) => {
      try {
        await body();
        this.journal?.append('rollback-step', { step: name, ok: true });
        this.deps.onEvent({ type: 'rollback', step: name, ok: true });
      } catch (error) {
        const message = (error as Error).message;
        failures.push(`${name}: ${message}`);
        this.journal?.append('rollback-step', { step: name, ok: false, error: message });
        this.deps.onEvent({ type: 'rollback', step: name, ok: false, detail: message });
      }
    };
    const source = this.source;
    if (source && this.migrateIssued) {
      await attempt('cancel the migration on the source', async () => {
        const info = await source.queryMigrate();
        if (!info.status || !ACTIVE_MIGRATION.has(info.status)) return;
        const ended = source.client.waitFor('MIGRATION', (e) => ['cancelled', 'failed', 'completed'].includes(String(e.data?.status)), this.options.stepTimeoutMs);
        await source.migrateCancel();
        await ended;
      });
    }
    if (this.destination) {
      const destination = this.destination;
      await attempt('stop the destination QEMU', () => destination.destroy());
    }
    await attempt('restore the source VF', async () => this.strategy?.rollbackSource(source));
    if (source && this.sourceWasRunning) {
      await attempt('resume the source', async () => {
        let status = await source.queryStatus();
        // Right after MIGRATION completed QEMU may still say finish-migrate; postmigrate follows.
        const deadline = performance.now() + this.options.stepTimeoutMs;
        while (status.status === 'finish-migrate' && performance.now() < deadline) {
          await delay(10);
          status = await source.queryStatus();
        }
        if (status.status === 'running') return;
        const resumed = source.client.waitFor('RESUME', undefined, this.options.stepTimeoutMs);
        await source.cont();
        await resumed;
      });
    }
    if (failures.length > 0) {
      this.journal?.append('uncertain', { failures });
      throw new UncertainError(`${cause.message}; rollback incomplete: ${failures.join('; ')}`, {
        cause,
        details: { journal: this.journal?.file, failures },
      });
    }
    this.journal?.append('rolled-back', { error: cause.toJSON() });
    this.deps.onEvent({ type: 'log', message: `rolled back: ${this.request.vm} runs on ${this.sourceHost?.name}` });
  }

  // --- dry run -------------------------------------------------------------------------

  private async dryRunPlan(): Promise<DryRunPlan> {
    const source = this.requireSource();
    const vfs = this.strategy?.describePlan().devices ?? [];
    const dirty = await measureDirtyRate(source, 1).catch(() => null);
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
      phases: this.strategy?.name === 'vf-replay' ? [...PHASES] : PHASES.filter((p) => p !== 'replay'),
      vfs,
      dirtyBytesPerSecond: dirty,
      bandwidth,
      downtimeLimitMs: this.options.downtimeLimitMs,
      converges,
      predictedDowntimeMs: predicted,
    };
  }

  // --- helpers -------------------------------------------------------------------------

  private asMigrationError(error: NicmigError): MigrationError {
    if (error instanceof MigrationError) return error;
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

  private requireSource(): QemuMonitor {
    if (!this.source) throw new Error('no source monitor');
    return this.source;
  }

  private requireDestination(): QemuMonitor {
    if (!this.destination) throw new Error('no destination');
    return this.destination.monitor;
  }

  private requireDestinationHost(): HostHandle {
    if (!this.destinationHost) throw new Error('no destination host');
    return this.destinationHost;
  }

  private summary(status: MigrationSummary['status'], info: MigrationInfo | null, replay: ReplayReport | undefined | null): MigrationSummary {
    const time = (side: 'source' | 'destination', name: string, status?: string) => {
      const found = this.eventLog.find((e) => e.side === side && e.event.event === name && (status === undefined || e.event.data?.status === status));
      return found ? eventTimeMs(found.event) : undefined;
    };
    const stop = time('source', 'STOP');
    const resume = time('destination', 'RESUME');
    const preSwitchover = time('source', 'MIGRATION', 'pre-switchover');
    const device = time('source', 'MIGRATION', 'device');
    const completed = time('destination', 'MIGRATION', 'completed');
    const orchestrator =
      preSwitchover !== undefined && device !== undefined && completed !== undefined && resume !== undefined ? device - preSwitchover + (resume - completed) : undefined;
    return {
      status,
      vm: this.request.vm,
      from: this.sourceHost?.name ?? '',
      to: this.request.to,
      strategy: this.strategy?.name ?? 'plain',
      totalTimeMs: Math.round(performance.now() - this.started),
      downtimeMs: info?.downtime ?? null,
      measuredDowntimeMs: stop !== undefined && resume !== undefined ? round3(resume - stop) : null,
      orchestratorDowntimeMs: orchestrator !== undefined ? round3(orchestrator) : null,
      orchestratorWindowsMs:
        orchestrator !== undefined ? { switchover: round3((device as number) - (preSwitchover as number)), resume: round3((resume as number) - (completed as number)) } : null,
      bytes: info?.ram?.transferred ?? null,
      passes: info?.ram?.['dirty-sync-count'] ?? null,
      replay: replay ? { captured: replay.captured, replayed: replay.replayed, verified: replay.verified } : null,
      rolledBack: false,
      cleanupWarnings: this.cleanupWarnings,
      journal: this.journal ? path.resolve(this.journal.file) : null,
      error: null,
    };
  }
}

/**
 * The guest's dirty rate in bytes/s, measured by QEMU (calc-dirty-rate, QEMU 5.2+) over
 * `seconds`; null when the QEMU cannot measure it.
 */
async function measureDirtyRate(monitor: QemuMonitor, seconds: number): Promise<number | null> {
  try {
    await monitor.client.execute('calc-dirty-rate', { 'calc-time': seconds });
  } catch {
    return null;
  }
  const deadline = performance.now() + seconds * 1000 + 5000;
  while (performance.now() < deadline) {
    await delay(200);
    const result = (await monitor.client.execute('query-dirty-rate')) as { status?: string; 'dirty-rate'?: number };
    if (result.status === 'measured' && typeof result['dirty-rate'] === 'number') return result['dirty-rate'] * 1024 * 1024;
  }
  return null;
}

function listeningPort(info: MigrationInfo): number {
  const addresses = (info as Record<string, unknown>)['socket-address'] as { port?: string | number }[] | undefined;
  const port = Number(addresses?.[0]?.port);
  if (!Number.isInteger(port) || port <= 0) throw new MigrationError('failed', 'prepare', 'the destination reported no migration listening port');
  return port;
}

function formatHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

async function retry(times: number, body: () => Promise<unknown>): Promise<boolean> {
  for (let attempt = 1; attempt <= times; attempt++) {
    try {
      await body();
      return true;
    } catch {
      if (attempt < times) await delay(200 * attempt);
    }
  }
  return false;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
