import type { QemuMonitor } from '../qmp/monitor.js';
import type { JournalError, JournalEvent, MigrationJournal } from './journal.js';

/** One step of a rollback or a recovery, as journalled and reported. */
export interface StepResult {
  step: string;
  ok: boolean;
  error?: string;
}

/**
 * Runs named steps one after another; a failing step is recorded and the next still runs
 * (a rollback does all it can). Each outcome is journalled as `rollback-step` (with `by`
 * when recover runs it) and reported to `onStep`. Shared by the orchestrator's rollback and
 * `nicmig recover`.
 */
export class StepRunner {
  readonly results: StepResult[] = [];
  /** The first journal write that failed: the steps went on, unrecorded. */
  journalFailure: JournalError | undefined;

  constructor(
    private readonly journal: MigrationJournal,
    private readonly options: { by?: 'recover'; onStep?: (result: StepResult) => void } = {},
  ) {}

  async attempt(step: string, body: () => Promise<unknown>): Promise<boolean> {
    let result: StepResult;
    try {
      await body();
      result = { step, ok: true };
    } catch (error) {
      result = { step, ok: false, error: error instanceof Error ? error.message : String(error) };
    }
    this.results.push(result);
    this.journalFailure ??= this.journal.tryAppend('rollback-step', { ...result, ...(this.options.by ? { by: this.options.by } : {}) });
    this.options.onStep?.(result);
    return result.ok;
  }

  record(event: JournalEvent, data: Record<string, unknown> = {}): void {
    this.journal.append(event, { ...data, ...(this.options.by ? { by: this.options.by } : {}) });
  }

  get failures(): string[] {
    return this.results.filter((r) => !r.ok).map((r) => `${r.step}: ${r.error}`);
  }

  get allOk(): boolean {
    return this.results.every((r) => r.ok);
  }
}

/** What a rollback has to undo; each part absent is a step that does not apply. */
export interface RollbackTargets {
  /** The source's monitor, when it answers. */
  source: QemuMonitor | undefined;
  /** The source may still be migrating: cancel it and wait for the end. */
  cancelMigration: boolean;
  /** Ends the destination QEMU (and what was made for it). */
  stopDestination?: () => Promise<void>;
  /** Un-quiesces the source VF (the replay strategy). */
  restoreSourceVf?: () => Promise<void>;
  /** The guest ran before the migration: resume it on the source. */
  resumeSource: boolean;
  /**
   * The destination's `cont` was sent: it may run. Then the source is resumed only once the
   * destination is known to be stopped; otherwise two copies could run (invariant 1).
   */
  destinationMayRun?: boolean;
}

/**
 * Invariant 2's rollback, in its order: cancel the stream, end the destination, give the
 * source its VF back, resume the source (only if it ran before). Every wait has a deadline.
 */
export async function rollBack(runner: StepRunner, targets: RollbackTargets, stepTimeoutMs: number): Promise<void> {
  const { source } = targets;
  if (source && targets.cancelMigration) {
    await runner.attempt('cancel the migration on the source', () => source.cancelMigrationAndWait(stepTimeoutMs));
  }
  const destinationStopped = targets.stopDestination ? await runner.attempt('stop the destination QEMU', targets.stopDestination) : true;
  if (!destinationStopped && targets.destinationMayRun) {
    // Record why the source stays stopped: a failed step makes the rollback incomplete (recover decides).
    await runner.attempt('resume the source', () => Promise.reject(new Error('not done: the destination was sent cont and could not be stopped, so it may run')));
    return;
  }
  if (targets.restoreSourceVf) await runner.attempt('restore the source VF', targets.restoreSourceVf);
  if (source && targets.resumeSource) {
    await runner.attempt('resume the source', () => source.resumeAfterMigration(stepTimeoutMs));
  }
}
