import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { listJournals, MigrationJournal, readJournal } from '../../../src/migration/journal.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-journal-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('MigrationJournal', () => {
  it('appends numbered records that a reader gets back in order', () => {
    const journal = MigrationJournal.create(dir, 'vm1-1');
    journal.append('begin', { vm: 'vm1', from: 'hostA', to: 'hostB', sourceWasRunning: true });
    journal.append('destination-starting');
    journal.close();
    const { records, truncatedTail } = readJournal(journal.file);
    expect(truncatedTail).toBe(false);
    expect(records.map((r) => [r.seq, r.event])).toEqual([
      [0, 'begin'],
      [1, 'destination-starting'],
    ]);
    expect(records[0]?.data).toMatchObject({ vm: 'vm1', to: 'hostB' });
  });

  it('refuses to overwrite an existing journal', () => {
    MigrationJournal.create(dir, 'vm1-1').close();
    expect(() => MigrationJournal.create(dir, 'vm1-1')).toThrow(expect.objectContaining({ code: 'JOURNAL_EXISTS' }));
  });

  it('keeps the records before a line torn by a crash mid-write', () => {
    const journal = MigrationJournal.create(dir, 'vm1-1');
    journal.append('begin', { vm: 'vm1' });
    journal.close();
    fs.appendFileSync(journal.file, '{"seq":1,"time":"2026-');
    const contents = readJournal(journal.file);
    expect(contents.truncatedTail).toBe(true);
    expect(contents.records).toHaveLength(1);
    // Reopened for recover, it continues the numbering after the good records.
    const reopened = MigrationJournal.open(journal.file);
    expect(reopened.append('note').seq).toBe(1);
    reopened.close();
  });

  it('refuses damage that is not a torn last line, naming the line', () => {
    const file = path.join(dir, 'bad.journal');
    fs.writeFileSync(file, 'garbage\n{"seq":1,"time":"t","event":"begin","data":{}}\n');
    expect(() => readJournal(file)).toThrow(expect.objectContaining({ code: 'JOURNAL_CORRUPT', details: expect.objectContaining({ line: 1 }) }));
    fs.writeFileSync(file, '{"seq":0,"time":"t","event":"exploded","data":{}}\n');
    expect(() => readJournal(file)).toThrow(expect.objectContaining({ code: 'JOURNAL_CORRUPT' }));
  });

  it('lists journals per VM, newest first, marking those that ended', () => {
    const a = MigrationJournal.create(dir, 'vm1-a');
    a.append('begin', { vm: 'vm1' });
    a.append('finished');
    a.close();
    const b = MigrationJournal.create(dir, 'vm2-b');
    b.append('begin', { vm: 'vm2' });
    b.close();
    expect(listJournals(dir, 'vm1').map((j) => [j.vm, j.ended])).toEqual([['vm1', true]]);
    expect(listJournals(dir).map((j) => j.vm).sort()).toEqual(['vm1', 'vm2']);
    expect(listJournals(path.join(dir, 'absent'))).toEqual([]);
  });
});
