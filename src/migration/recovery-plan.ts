import type { JournalRecord } from './journal.js';

/** What a probe of one side found. `gone`: no QEMU answers there. */
export type SideState =
  | { alive: false }
  | { alive: true; status: string; migration?: string | undefined };

export type RecoveryDecision =
  | { action: 'nothing'; owner: 'source' | 'destination'; reason: string }
  | { action: 'finish'; reason: string; resumeDestination: boolean; quitSource: boolean }
  | { action: 'roll-back'; reason: string; cancelMigration: boolean; killDestination: boolean; resumeSource: boolean }
  | { action: 'uncertain'; reason: string };

const SOURCE_STOPPED_BY_MIGRATION = new Set(['finish-migrate', 'postmigrate', 'paused']);

/**
 * Decides what `nicmig recover` does after a crash of nicmig itself, from the journal and
 * what both sides say now. Pure. The rules, in order:
 * 1. A running destination owns the guest: finish forward, never resume the source.
 * 2. Before the destination's `cont` was ever attempted, roll back (invariant 2).
 * 3. After `cont` was attempted but the destination is not running, act only if the source
 *    is gone (then the destination holds the only copy: resume it); otherwise say so.
 */
export function decideRecovery(records: readonly JournalRecord[], source: SideState, destination: SideState): RecoveryDecision {
  const has = (event: string) => records.some((r) => r.event === event);
  const begin = records.find((r) => r.event === 'begin');
  const sourceWasRunning = begin?.data.sourceWasRunning !== false;
  const last = records[records.length - 1];

  if (last?.event === 'finished') return { action: 'nothing', owner: 'destination', reason: 'the journal says the migration finished' };
  if (last?.event === 'rolled-back') return { action: 'nothing', owner: 'source', reason: 'the journal says the migration was rolled back' };

  if (destination.alive && destination.status === 'running') {
    return {
      action: 'finish',
      reason: 'the destination is running, so it owns the guest; the source must never run again',
      resumeDestination: false,
      quitSource: source.alive,
    };
  }

  // The destination took a paused guest over (it was paused on the source): it owns it.
  if (has('destination-resumed') && destination.alive) {
    return { action: 'finish', reason: 'the destination took the guest over (the journal says so)', resumeDestination: false, quitSource: source.alive };
  }

  const contAttempted = has('destination-resuming');
  if (!contAttempted) {
    if (source.alive) {
      return {
        action: 'roll-back',
        reason: `the destination was never resumed (journal ends at '${last?.event ?? 'nothing'}'), so the source still owns the guest`,
        cancelMigration: source.migration !== undefined && !['completed', 'failed', 'cancelled', 'none'].includes(source.migration),
        killDestination: destination.alive,
        resumeSource: sourceWasRunning && source.status !== 'running' && SOURCE_STOPPED_BY_MIGRATION.has(source.status),
      };
    }
    if (destination.alive && has('migration-completed') && (!has('source-vf-quiesced') || has('replayed'))) {
      return {
        action: 'finish',
        reason: 'the source is gone and the destination holds the complete, migrated state',
        resumeDestination: true,
        quitSource: false,
      };
    }
    return { action: 'uncertain', reason: 'the source is gone and the destination does not hold a complete state: the guest is lost or elsewhere' };
  }

  // `cont` on the destination was attempted; it is not running now.
  if (!source.alive && destination.alive) {
    return { action: 'finish', reason: 'the source is gone; resuming the destination, which holds the only copy', resumeDestination: true, quitSource: false };
  }
  if (source.alive && source.status === 'running') {
    return { action: 'uncertain', reason: 'the source runs again although the destination was resumed: check the guest before anything else' };
  }
  return {
    action: 'uncertain',
    reason: `the destination was resumed but is now ${destination.alive ? destination.status : 'gone'}: nicmig will not guess which copy is current`,
  };
}
