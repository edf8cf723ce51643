import { describe, expect, it } from '@jest/globals';
import type { JournalEvent, JournalRecord } from '../../../src/migration/journal.js';
import { decideRecovery, type VmPresence } from '../../../src/migration/recovery-plan.js';

function journal(...events: JournalEvent[]): JournalRecord[] {
  return events.map((event, seq) => ({ seq, time: '2026-11-24T00:00:00Z', event, data: event === 'begin' ? { vm: 'vm1', sourceWasRunning: true } : {} }));
}
const gone: VmPresence = { state: 'gone', reason: 'no QMP socket' };
const at = (status: string, migration?: string): VmPresence => ({ state: status === 'running' ? 'running' : 'paused', status, migration });
const busy: VmPresence = { state: 'unknown', reason: 'no QMP greeting within 3000 ms', busy: true };
const hung: VmPresence = { state: 'unknown', reason: 'no answer to query-status', busy: false };
const names = { vm: 'vm1', from: 'hostA', to: 'hostB' };

describe('decideRecovery', () => {
  it('finishes forward when the destination runs, and never resumes the source', () => {
    const decision = decideRecovery(journal('begin', 'migration-completed', 'destination-resuming'), at('postmigrate', 'completed'), at('running'));
    expect(decision).toMatchObject({ action: 'finish', resumeDestination: false, quitSource: true });
  });

  it('rolls back before the destination was resumed: cancel, kill destination, resume source', () => {
    const decision = decideRecovery(journal('begin', 'destination-started', 'precopy-starting', 'switchover'), at('finish-migrate', 'pre-switchover'), at('inmigrate'));
    expect(decision).toMatchObject({ action: 'roll-back', cancelMigration: true, killDestination: true, resumeSource: true });
  });

  it('does not resume a source that was not running before the migration', () => {
    const records = journal('begin', 'precopy-starting');
    (records[0] as JournalRecord).data.sourceWasRunning = false;
    expect(decideRecovery(records, at('paused', 'active'), gone)).toMatchObject({ action: 'roll-back', resumeSource: false, killDestination: false });
  });

  it('does nothing to a source that still runs and cleans up a dead-end destination', () => {
    expect(decideRecovery(journal('begin', 'destination-started'), at('running'), at('inmigrate'))).toMatchObject({
      action: 'roll-back',
      resumeSource: false,
      cancelMigration: false,
      killDestination: true,
    });
  });

  it('resumes the destination when the source is gone and the destination holds the whole state', () => {
    expect(decideRecovery(journal('begin', 'migration-completed'), gone, at('paused', 'completed'))).toMatchObject({ action: 'finish', resumeDestination: true });
  });

  it('is uncertain when the source is gone and the destination never completed', () => {
    expect(decideRecovery(journal('begin', 'precopy-starting'), gone, at('inmigrate', 'active'))).toMatchObject({ action: 'uncertain' });
    expect(decideRecovery(journal('begin', 'precopy-starting'), gone, gone)).toMatchObject({ action: 'uncertain' });
  });

  it('does not resume a destination whose VF state was quiesced but never replayed', () => {
    expect(decideRecovery(journal('begin', 'source-vf-quiesced', 'migration-completed'), gone, at('paused'))).toMatchObject({ action: 'uncertain' });
  });

  it('will not guess after cont was attempted and both copies exist', () => {
    expect(decideRecovery(journal('begin', 'migration-completed', 'destination-resuming'), at('postmigrate'), at('paused'))).toMatchObject({ action: 'uncertain' });
  });

  it('finishes when the destination took over a guest that was paused on the source', () => {
    expect(decideRecovery(journal('begin', 'migration-completed', 'destination-resuming', 'destination-resumed'), at('postmigrate'), at('paused'))).toMatchObject({
      action: 'finish',
      resumeDestination: false,
      quitSource: true,
    });
  });

  it('reports journals that already ended', () => {
    expect(decideRecovery(journal('begin', 'finished'), gone, at('running'))).toMatchObject({ action: 'nothing', owner: 'destination' });
    expect(decideRecovery(journal('begin', 'rolled-back'), at('running'), gone)).toMatchObject({ action: 'nothing', owner: 'source' });
  });

  it('changes nothing while either side is unknown, whatever the journal and the other side say', () => {
    const journals = [
      journal('begin', 'destination-started', 'precopy-starting', 'switchover'),
      journal('begin', 'migration-completed', 'destination-resuming'),
      journal('begin', 'migration-completed', 'destination-resuming', 'destination-resumed'),
      journal('begin'),
    ];
    const known = [gone, at('running'), at('paused', 'completed'), at('finish-migrate', 'pre-switchover'), at('inmigrate', 'active')];
    for (const records of journals) {
      for (const other of known) {
        for (const unknown of [busy, hung]) {
          expect(decideRecovery(records, unknown, other, names)).toMatchObject({ action: 'needs-facts' });
          expect(decideRecovery(records, other, unknown, names)).toMatchObject({ action: 'needs-facts' });
        }
      }
      expect(decideRecovery(records, busy, hung, names)).toMatchObject({ action: 'needs-facts' });
    }
  });

  it('says what it needs: the other client of a busy monitor stopped, on which host', () => {
    const decision = decideRecovery(journal('begin', 'switchover'), at('finish-migrate', 'pre-switchover'), busy, names);
    expect(decision).toMatchObject({ action: 'needs-facts', reason: expect.stringContaining('the destination (hostB)') });
    expect(decision.action === 'needs-facts' && decision.needs).toEqual([expect.stringMatching(/^stop the other client of vm1's monitor on hostB/)]);
    const both = decideRecovery(journal('begin', 'switchover'), hung, busy, names);
    expect(both.action === 'needs-facts' && both.needs).toEqual([expect.stringMatching(/^make vm1's QEMU on hostA answer/), expect.stringMatching(/on hostB/)]);
  });

  it('reads a journal without its begin record as a migration that never began', () => {
    expect(decideRecovery([], gone, gone, names)).toMatchObject({ action: 'nothing', owner: null });
    expect(decideRecovery([], busy, busy, names)).toMatchObject({ action: 'nothing', owner: null });
  });
});
