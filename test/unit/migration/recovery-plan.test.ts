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

  describe('after the pre-cont record (cont-may-follow: durable before cont, written at the switchover)', () => {
    const BOOT = 'b00710ad-0000-4000-8000-000000000001';
    const OTHER_BOOT = 'b00710ad-0000-4000-8000-000000000002';
    /** A journal as nicmig leaves it when killed at `upTo`, written on boot BOOT, with the VF strategy or not. */
    function killedAt(upTo: 'before-cont' | 'cont-sent' | 'resumed', vf = false): JournalRecord[] {
      const events: JournalEvent[] = ['begin', 'destination-starting', 'destination-started', 'precopy-starting', 'switchover', ...(vf ? (['source-vf-quiesced'] as const) : []), 'cont-may-follow'];
      if (upTo !== 'before-cont') events.push('migration-completed', ...(vf ? (['replayed'] as const) : []), 'destination-resuming');
      if (upTo === 'resumed') events.push('destination-resumed');
      const records = journal(...events);
      (records[0] as JournalRecord).data.strategy = vf ? 'vf-replay' : 'plain';
      (records.find((r) => r.event === 'cont-may-follow') as JournalRecord).data.bootId = BOOT;
      return records;
    }
    const sameBoot = { ...names, bootId: BOOT };
    const otherBoot = { ...names, bootId: OTHER_BOOT };
    const unknownBoot = { ...names, bootId: null };
    // What recover finds of the destination: it never ran (still receiving, or paused with the whole state), or it runs, or it is gone.
    const destinations: [string, VmPresence][] = [
      ['still receiving the stream', at('inmigrate', 'active')],
      ['paused with the whole state', at('paused', 'completed')],
      ['running', at('running', 'completed')],
      ['gone', gone],
    ];

    for (const vf of [false, true]) {
      describe(vf ? 'VF strategy' : 'plain strategy', () => {
        it('killed before cont, read on the same boot: a destination that never ran is rolled back to the source; a running one owns the guest', () => {
          const expected: Record<string, Record<string, unknown>> = {
            'still receiving the stream': { action: 'roll-back', killDestination: true, resumeSource: true },
            'paused with the whole state': { action: 'roll-back', killDestination: true, resumeSource: true, cancelMigration: false },
            running: { action: 'finish', resumeDestination: false, quitSource: true },
            gone: { action: 'roll-back', killDestination: false, resumeSource: true },
          };
          for (const [what, destination] of destinations) {
            expect([what, decideRecovery(killedAt('before-cont', vf), at('postmigrate', 'completed'), destination, sameBoot)]).toEqual([what, expect.objectContaining(expected[what] ?? {})]);
          }
          // The source gone too: the journal holds no migration-completed, so the destination is not resumed on a guess.
          expect(decideRecovery(killedAt('before-cont', vf), gone, at('paused', 'completed'), sameBoot)).toMatchObject({ action: 'uncertain' });
        });

        it('killed after cont was sent: a destination not running now may have run, so nothing is guessed while the source exists', () => {
          const expected: Record<string, Record<string, unknown>> = {
            'paused with the whole state': { action: 'uncertain' },
            running: { action: 'finish', resumeDestination: false, quitSource: true },
            gone: { action: 'uncertain' },
          };
          for (const [what, destination] of destinations.filter(([w]) => w !== 'still receiving the stream')) {
            for (const context of [sameBoot, otherBoot, unknownBoot]) {
              expect([what, decideRecovery(killedAt('cont-sent', vf), at('postmigrate', 'completed'), destination, context)]).toEqual([what, expect.objectContaining(expected[what] ?? {})]);
            }
          }
          // The source gone: the destination holds the only, complete copy (its records say so).
          expect(decideRecovery(killedAt('cont-sent', vf), gone, at('paused', 'completed'), sameBoot)).toMatchObject({ action: 'finish', resumeDestination: true });
          expect(decideRecovery(killedAt('resumed', vf), at('postmigrate', 'completed'), at('paused', 'completed'), sameBoot)).toMatchObject({ action: 'finish', resumeDestination: false });
        });

        it('read after a restart of the machine (or with its boot unknown): the missing destination-resuming proves nothing, so only facts decide', () => {
          for (const context of [otherBoot, unknownBoot]) {
            const records = killedAt('before-cont', vf);
            // Still receiving the stream: nicmig sends cont only after it completed, so it never ran.
            expect(decideRecovery(records, at('finish-migrate', 'device'), at('inmigrate', 'active'), context)).toMatchObject({ action: 'roll-back', killDestination: true });
            expect(decideRecovery(records, at('postmigrate', 'completed'), at('running'), context)).toMatchObject({ action: 'finish', quitSource: true });
            const paused = decideRecovery(records, at('postmigrate', 'completed'), at('paused', 'completed'), context);
            expect(paused).toMatchObject({ action: 'uncertain', reason: expect.stringContaining('not written during this boot') });
            expect(decideRecovery(records, at('postmigrate', 'completed'), gone, context)).toMatchObject({ action: 'uncertain' });
            expect(decideRecovery(records, at('running'), at('paused', 'completed'), context)).toMatchObject({ action: 'uncertain' });
            // The source gone: a plain guest whose destination says the stream completed is resumed
            // there; a VF's replay nobody can vouch for, so not that one.
            expect(decideRecovery(records, gone, at('paused', 'completed'), context)).toMatchObject(vf ? { action: 'uncertain' } : { action: 'finish', resumeDestination: true });
            expect(decideRecovery(records, gone, at('paused', 'active'), context)).toMatchObject({ action: 'uncertain' });
          }
        });
      });
    }

    it('a journal whose cont-may-follow was torn away (a crash mid-append) reads as before it: roll back', () => {
      const records = killedAt('before-cont').filter((r) => r.event !== 'cont-may-follow');
      expect(decideRecovery(records, at('postmigrate', 'completed'), at('paused', 'completed'), otherBoot)).toMatchObject({ action: 'roll-back' });
    });
  });

  it('reads a journal without its begin record as a migration that never began', () => {
    expect(decideRecovery([], gone, gone, names)).toMatchObject({ action: 'nothing', owner: null });
    expect(decideRecovery([], busy, busy, names)).toMatchObject({ action: 'nothing', owner: null });
  });
});
