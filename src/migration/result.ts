import type { NicmigError } from '../errors.js';
import { AbandonedError, MigrationError, PreflightError, UncertainError } from './errors.js';
import type { MigrationEvent, Phase } from './events.js';
import type { IncomingPlan } from './ports.js';
import type { StrategyPlan } from './strategy.js';

/**
 * The outcome of one migration, defined once: `--json`, `--events`, the summary table, the
 * demo and the HTML report render it; none rebuilds it. The field names are the `--json`
 * document's (docs/operator-guide.md), which scripts read.
 */

/** What happened when: nicmig's events (wall clock) and QEMU's (QEMU's own timestamps), epoch ms. */
export interface MigrationTimeline {
  vm: string;
  events: (MigrationEvent & { time: number })[];
  qemu: { side: 'source' | 'destination'; time: number; event: string; status: string | null }[];
}

/** The switchover's moments from QEMU's own event timestamps (epoch ms). */
export interface SwitchoverMoments {
  stop: number | undefined;
  preSwitchover: number | undefined;
  device: number | undefined;
  completed: number | undefined;
  resume: number | undefined;
  /** the guest's downtime: source STOP (or pre-switchover) to destination RESUME */
  downtime: { start: number; end: number } | null;
}

export function switchoverMoments(qemu: MigrationTimeline['qemu']): SwitchoverMoments {
  const find = (side: 'source' | 'destination', event: string, status?: string) =>
    qemu.find((e) => e.side === side && e.event === event && (status === undefined || e.status === status) && e.time > 0)?.time;
  const stop = find('source', 'STOP');
  const preSwitchover = find('source', 'MIGRATION', 'pre-switchover');
  const device = find('source', 'MIGRATION', 'device');
  const completed = find('destination', 'MIGRATION', 'completed');
  const resume = find('destination', 'RESUME');
  const start = stop ?? preSwitchover;
  return { stop, preSwitchover, device, completed, resume, downtime: start !== undefined && resume !== undefined && resume >= start ? { start, end: resume } : null };
}

/** How long the guest was stopped, and nicmig's own share of it. */
export interface SwitchoverTimings {
  /** QEMU's own figure (query-migrate downtime on the source). */
  downtimeMs: number | null;
  /** Source STOP to destination RESUME, from QEMU's event timestamps. */
  measuredDowntimeMs: number | null;
  /** nicmig's own time inside the downtime: pre-switchover->device plus completed->RESUME. */
  orchestratorDowntimeMs: number | null;
  /** The two parts of it: at the source's switchover, and on the destination before it runs. */
  orchestratorWindowsMs: { switchover: number; resume: number } | null;
}

export const NO_TIMINGS: SwitchoverTimings = { downtimeMs: null, measuredDowntimeMs: null, orchestratorDowntimeMs: null, orchestratorWindowsMs: null };

export function switchoverTimings(moments: SwitchoverMoments, qemuDowntimeMs: number | null): SwitchoverTimings {
  const { stop, resume, preSwitchover, device, completed } = moments;
  const windows =
    preSwitchover !== undefined && device !== undefined && completed !== undefined && resume !== undefined
      ? { switchover: round3(device - preSwitchover), resume: round3(resume - completed) }
      : null;
  return {
    downtimeMs: qemuDowntimeMs,
    measuredDowntimeMs: stop !== undefined && resume !== undefined ? round3(resume - stop) : null,
    orchestratorDowntimeMs: windows ? round3(windows.switchover + windows.resume) : null,
    orchestratorWindowsMs: windows,
  };
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

interface ResultBase {
  vm: string;
  /** The source host; null when the migration failed before it was found. */
  from: string | null;
  to: string;
  totalTimeMs: number;
  /** The journal file; null when nothing was journalled (dry run, refusal). */
  journal: string | null;
}

/** The downtime policy's account: the ceiling, what QEMU was given step by step, and the felt pause. */
export interface DowntimePolicyReport {
  /** --downtime-limit: the ceiling on the pause the guest feels. */
  ceilingMs: number;
  /** Subtracted from the ceiling for what QEMU's own figure leaves out, and where it comes from. */
  overheadMs: number;
  overheadSource: string;
  /** The limits QEMU got, in order. */
  steps: { limitMs: number; pass: number; reason: string }[];
  /** The felt pause (STOP -> RESUME) as a share of the ceiling, e.g. 0.42; null when not measured. */
  feltShareOfCeiling: number | null;
}

export interface ReplaySummary {
  captured: number;
  replayed: number;
  verified: boolean;
}

/** The guest runs on the destination (cleanup warnings, if any, do not undo that). */
export interface MigratedResult extends ResultBase, SwitchoverTimings {
  status: 'migrated';
  from: string;
  strategy: string;
  /** How the destination was (or would be) started: from the source's command line or from the spec. */
  destination: IncomingPlan;
  /** What preflight found worth saying but not worth refusing (e.g. a TCG source older than QEMU 9.0). */
  preflightWarnings: string[];
  bytes: number | null;
  passes: number | null;
  replay: ReplaySummary | null;
  rolledBack: false;
  cleanupWarnings: string[];
  error: null;
  plan?: undefined;
  downtimePolicy?: DowntimePolicyReport;
}

/** `--dry-run`: resolved and preflighted, nothing changed. */
export interface DryRunResult extends ResultBase, SwitchoverTimings {
  status: 'dry-run';
  from: string;
  strategy: string;
  /** How the destination was (or would be) started: from the source's command line or from the spec. */
  destination: IncomingPlan;
  /** What preflight found worth saying but not worth refusing (e.g. a TCG source older than QEMU 9.0). */
  preflightWarnings: string[];
  bytes: null;
  passes: null;
  replay: null;
  rolledBack: false;
  cleanupWarnings: string[];
  error: null;
  plan: DryRunPlan;
}

export type FailureStatus = 'refused' | 'rolled-back' | 'uncertain' | 'interrupted' | 'error';

/** The migration did not happen: refused, rolled back, uncertain (run recover), or an error. */
export interface FailedResult extends Omit<ResultBase, 'totalTimeMs'> {
  status: FailureStatus;
  /** null when it failed before the migration began (bad usage). */
  totalTimeMs: number | null;
  rolledBack: boolean;
  /** NicmigError.toJSON() */
  error: Record<string, unknown>;
}

export type MigrationResult = MigratedResult | DryRunResult | FailedResult;

/** What `run()` resolves with: the outcomes that are not failures. */
export type MigrationSummary = MigratedResult | DryRunResult;

/** The status a failed migration shows for its error. */
export function failureStatus(error: NicmigError): FailureStatus {
  if (error instanceof PreflightError) return 'refused';
  if (error instanceof MigrationError) return 'rolled-back';
  if (error instanceof UncertainError) return 'uncertain';
  if (error instanceof AbandonedError) return 'interrupted';
  return 'error';
}

export function failedResult(error: NicmigError, context: ResultBase): FailedResult {
  return { status: failureStatus(error), ...context, rolledBack: error instanceof MigrationError, error: error.toJSON() };
}

export function isFailed(result: MigrationResult): result is FailedResult {
  return result.status !== 'migrated' && result.status !== 'dry-run';
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
