import type { JournalRecord } from './journal.js';

/**
 * What a migration abandoned mid-way (a second Ctrl-C) may have left behind, read from its
 * journal: each a sentence an operator can check. Pure.
 */
export function leftBehind(records: readonly JournalRecord[], where: { vm: string; from: string | null; to: string }): string[] {
  const seen = new Set(records.map((record) => record.event));
  const source = where.from ?? 'the source host';
  if (records.length === 0) return [`nothing was recorded: '${where.vm}' should still run on ${source} as before`];
  if (seen.has('finished') || seen.has('rolled-back')) return [];
  const left: string[] = [];
  if (seen.has('destination-resuming')) {
    left.push(`the destination VM on ${where.to} may already run the guest (its resume was under way)`);
  } else if (seen.has('destination-starting')) {
    left.push(`a destination VM on ${where.to} may be left (paused, waiting for or holding the migration stream)`);
  }
  if (seen.has('precopy-starting') && !seen.has('migration-completed')) {
    left.push(`the source's outgoing migration on ${source} may still be in flight`);
  }
  if (seen.has('switchover') && !seen.has('destination-resumed')) {
    left.push(`the guest's vCPUs on ${source} may be stopped (the switchover had begun)`);
  }
  if (seen.has('source-vf-quiesced')) left.push(`the VF of '${where.vm}' on ${source} was quiesced`);
  if (seen.has('rollback-started')) left.push('the rollback had begun and did not finish');
  if (left.length === 0) left.push(`'${where.vm}' should still run on ${source}; nothing had been started elsewhere`);
  return left;
}
