import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { MigrationJournal, readJournal } from '../../../src/migration/journal.js';
import { rollBack, StepRunner } from '../../../src/migration/rollback.js';
import type { QemuMonitor } from '../../../src/qmp/monitor.js';

/** The rollback's order and its one refusal: never resume the source beside a destination that may run. */
describe('rollBack', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  function setup() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-rollback-${process.pid}-`));
    dirs.push(dir);
    const journal = MigrationJournal.begin(dir, 'vm1-test', { vm: 'vm1' });
    const calls: string[] = [];
    const source = {
      cancelMigrationAndWait: async () => (calls.push('cancel'), 'cancelled'),
      resumeAfterMigration: async () => (calls.push('resume'), 'postmigrate'),
    } as unknown as QemuMonitor;
    return { journal, calls, source, runner: new StepRunner(journal) };
  }

  it('cancels, stops the destination, restores the VF, resumes the source, in that order', async () => {
    const { journal, calls, source, runner } = setup();
    await rollBack(runner, { source, cancelMigration: true, stopDestination: async () => void calls.push('stop'), restoreSourceVf: async () => void calls.push('vf'), resumeSource: true }, 1000);
    expect(calls).toEqual(['cancel', 'stop', 'vf', 'resume']);
    expect(runner.allOk).toBe(true);
    journal.close();
  });

  it('does not resume the source when a destination that was sent cont could not be stopped', async () => {
    const { journal, calls, source, runner } = setup();
    const stopDestination = async () => {
      throw new Error('QEMU did not quit within 2000 ms');
    };
    await rollBack(runner, { source, cancelMigration: false, stopDestination, restoreSourceVf: async () => void calls.push('vf'), resumeSource: true, destinationMayRun: true }, 1000);
    expect(calls).toEqual([]);
    expect(runner.allOk).toBe(false);
    expect(runner.failures).toEqual(['stop the destination QEMU: QEMU did not quit within 2000 ms', expect.stringMatching(/^resume the source: not done: the destination was sent cont/)]);
    journal.close();
    expect(readJournal(journal.file).records.filter((r) => r.event === 'rollback-step').map((r) => r.data.ok)).toEqual([false, false]);
  });

  it('still resumes the source when the destination never got cont (it cannot run) even if stopping it failed', async () => {
    const { journal, calls, source, runner } = setup();
    await rollBack(runner, { source, cancelMigration: false, stopDestination: () => Promise.reject(new Error('gone wrong')), resumeSource: true, destinationMayRun: false }, 1000);
    expect(calls).toEqual(['resume']);
    journal.close();
  });
});
