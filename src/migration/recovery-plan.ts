import type { JournalRecord } from './journal.js';
import type { VmPresence } from './ports.js';

export type { VmPresence } from './ports.js';

export type RecoveryDecision =
  | { action: 'nothing'; owner: 'source' | 'destination' | null; reason: string }
  | { action: 'finish'; reason: string; resumeDestination: boolean; quitSource: boolean }
  | { action: 'roll-back'; reason: string; cancelMigration: boolean; killDestination: boolean; resumeSource: boolean }
  /** A side could not be classified: nothing is done until an operator supplies the fact. */
  | { action: 'needs-facts'; reason: string; needs: string[] }
  | { action: 'uncertain'; reason: string };

/** Names for the messages of a decision, and the one fact about the machine recover runs on. */
export interface RecoveryNames {
  vm: string;
  from: string;
  to: string;
  /**
   * This machine's boot (`currentBootId()`), or null when unknown. `destination-resuming` is
   * written unsynced right before cont: its absence proves cont never went out only when read
   * on the boot that wrote the journal (`cont-may-follow`'s `bootId`).
   */
  bootId?: string | null;
}

const SOURCE_STOPPED_BY_MIGRATION = new Set(['finish-migrate', 'postmigrate', 'paused']);

/** What `recover` asks of the operator for a side it could not classify. */
function needFor(presence: Extract<VmPresence, { state: 'unknown' }>, vm: string, host: string): string {
  return presence.busy
    ? `stop the other client of ${vm}'s monitor on ${host}, or end that QEMU if it is hung (${presence.reason})`
    : `make ${vm}'s QEMU on ${host} answer on its monitor, or end it (${presence.reason})`;
}

/**
 * Decides what `nicmig recover` does after a crash of nicmig itself, from the journal and
 * what both sides say now. Pure. The rules, in order:
 * 0. A journal without its begin record: the migration never began (nothing changed).
 *    A journal that ended: nothing to do.
 * 1. Any side unknown (busy, hung, unreachable): change nothing and say what is needed.
 * 2. A running destination owns the guest: finish forward, never resume the source.
 * 3. Before the destination's `cont` was ever attempted, roll back (invariant 2). Never
 *    attempted: no `destination-resuming`, read on the boot that wrote `cont-may-follow`
 *    (or no `cont-may-follow` at all), or a destination still receiving the stream.
 * 4. After `cont` was attempted, or after `cont-may-follow` when the machine restarted since
 *    (an unsynced `destination-resuming` may be lost), and the destination is not running:
 *    act only if the source is gone and the destination surely holds the whole state (then
 *    resume it: it holds the only copy); otherwise say so.
 */
export function decideRecovery(records: readonly JournalRecord[], sourcePresence: VmPresence, destinationPresence: VmPresence, names?: RecoveryNames): RecoveryDecision {
  const has = (event: string) => records.some((r) => r.event === event);
  const begin = records.find((r) => r.event === 'begin');
  const sourceWasRunning = begin?.data.sourceWasRunning !== false;
  const last = records[records.length - 1];

  if (!begin) return { action: 'nothing', owner: null, reason: 'the journal holds no begin record: that migration never began, nothing was changed' };
  if (last?.event === 'finished') return { action: 'nothing', owner: 'destination', reason: 'the journal says the migration finished' };
  if (last?.event === 'rolled-back') return { action: 'nothing', owner: 'source', reason: 'the journal says the migration was rolled back' };

  const vm = names?.vm ?? String(begin.data.vm ?? 'the VM');
  const sides = [
    [sourcePresence, names?.from ?? String(begin.data.from ?? 'the source'), 'source'],
    [destinationPresence, names?.to ?? String(begin.data.to ?? 'the destination'), 'destination'],
  ] as const;
  const unknowns = sides.filter(([presence]) => presence.state === 'unknown');
  if (unknowns.length > 0) {
    return {
      action: 'needs-facts',
      reason: `cannot tell the state of ${unknowns.map(([, host, role]) => `the ${role} (${host})`).join(' and ')}: nothing was changed`,
      needs: unknowns.map(([presence, host]) => needFor(presence as Extract<VmPresence, { state: 'unknown' }>, vm, host)),
    };
  }
  const source = sideState(sourcePresence);
  const destination = sideState(destinationPresence);

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

  const contMayFollow = records.find((r) => r.event === 'cont-may-follow');
  // The destination still receives the stream: nicmig sends cont only after it completed.
  const stillIncoming = destination.alive && destination.status === 'inmigrate';
  const resumingMayBeLost = contMayFollow !== undefined && !has('destination-resuming') && !stillIncoming && (names?.bootId == null || contMayFollow.data.bootId !== names.bootId);
  const contAttempted = has('destination-resuming') || resumingMayBeLost;
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

  // `cont` on the destination was attempted (or may have been); it is not running now.
  const restarted = resumingMayBeLost
    ? ' (the journal was not written during this boot of this machine, so the lack of a destination-resuming record does not prove that cont was never sent)'
    : '';
  if (!source.alive && destination.alive) {
    // Without the records written with destination-resuming, only QEMU's word says the stream
    // completed, and nothing vouches for the replay of a quiesced VF.
    const complete = !resumingMayBeLost || (destination.migration === 'completed' && !has('source-vf-quiesced'));
    if (!complete) return { action: 'uncertain', reason: `the source is gone and the destination may not hold the complete, replayed state${restarted}` };
    return { action: 'finish', reason: 'the source is gone; resuming the destination, which holds the only copy', resumeDestination: true, quitSource: false };
  }
  if (source.alive && source.status === 'running') {
    return { action: 'uncertain', reason: `the source runs again although the destination may have been resumed: check the guest before anything else${restarted}` };
  }
  return {
    action: 'uncertain',
    reason: `the destination may have been resumed but is now ${destination.alive ? destination.status : 'gone'}: nicmig will not guess which copy is current${restarted}`,
  };
}

/** A classified side, as the rules below read it. */
type SideState = { alive: false } | { alive: true; status: string; migration?: string | undefined };

function sideState(presence: VmPresence): SideState {
  return presence.state === 'running' || presence.state === 'paused' ? { alive: true, status: presence.status, migration: presence.migration } : { alive: false };
}
