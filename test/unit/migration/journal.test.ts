import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { listJournals, MigrationJournal, readJournal, vmOfJournalName } from '../../../src/migration/journal.js';
import { SmallDisk } from '../../helpers/small-disk.js';

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

describe('MigrationJournal under faults', () => {
  it('cuts a torn tail away at the next open, keeps its bytes beside the journal, and numbers on', () => {
    const journal = MigrationJournal.begin(dir, 'vm1-2026-12-01T06-00-00-000Z', { vm: 'vm1' });
    journal.append('destination-starting');
    journal.close();
    const goodSize = fs.statSync(journal.file).size;
    fs.appendFileSync(journal.file, '{"seq":2,"time":"2026-');
    const reopened = MigrationJournal.open(journal.file);
    expect(fs.statSync(journal.file).size).toBe(goodSize);
    expect(fs.readFileSync(`${journal.file}.tail-${goodSize}`, 'utf8')).toBe('{"seq":2,"time":"2026-');
    expect(reopened.append('note').seq).toBe(2);
    reopened.close();
    // Read again and again: never JOURNAL_CORRUPT.
    const again = readJournal(journal.file);
    expect(again.truncatedTail).toBe(false);
    expect(again.records.map((r) => [r.seq, r.event])).toEqual([
      [0, 'begin'],
      [1, 'destination-starting'],
      [2, 'note'],
    ]);
    expect(listJournals(dir, 'vm1')).toHaveLength(1);
  });

  it('tells a corrupt last record (checksum) from a corrupt one before it', () => {
    const journal = MigrationJournal.begin(dir, 'vm1-x', { vm: 'vm1' });
    journal.append('destination-starting');
    journal.append('destination-started');
    journal.close();
    const lines = fs.readFileSync(journal.file, 'utf8').split('\n');
    // Flip one character inside the last record's data: still JSON, wrong checksum.
    const flip = (line: string) => line.replace('"destination-started"', '"destination-starteX"');
    fs.writeFileSync(journal.file, [lines[0], lines[1], flip(lines[2] as string), ''].join('\n'));
    const torn = readJournal(journal.file);
    expect(torn.truncatedTail).toBe(true);
    expect(torn.records.map((r) => r.event)).toEqual(['begin', 'destination-starting']);
    fs.writeFileSync(journal.file, [lines[0], flip((lines[1] as string).replace('starting', 'started')), lines[2], ''].join('\n'));
    expect(() => readJournal(journal.file)).toThrow(expect.objectContaining({ code: 'JOURNAL_CORRUPT', details: expect.objectContaining({ line: 2 }) }));
  });

  it('refuses what is not a journal file: a directory, a device, a huge file', () => {
    expect(() => readJournal(dir)).toThrow(expect.objectContaining({ code: 'JOURNAL_UNREADABLE' }));
    expect(() => readJournal('/dev/zero')).toThrow(expect.objectContaining({ code: 'JOURNAL_UNREADABLE' }));
  });

  it('names the VM of a journal that has no begin record from its file name', () => {
    expect(vmOfJournalName('vm1-2026-12-01T06-00-00-000Z.journal')).toBe('vm1');
    expect(vmOfJournalName('web.prod-2-2026-12-01T06-00-00-000Z.journal')).toBe('web.prod-2');
    fs.writeFileSync(path.join(dir, 'web.prod-2-2026-12-01T06-00-00-000Z.journal'), '');
    expect(listJournals(dir, 'web.prod-2').map((j) => j.vm)).toEqual(['web.prod-2']);
  });
});

describe('MigrationJournal.writeUnsynced and syncInBackground (the records around cont)', () => {
  /** A disk whose fdatasync finishes only when the test says so, or fails. */
  function heldSync() {
    const calls: { fd: number; finish: (error?: Error) => void }[] = [];
    const backgroundFdatasync = (fd: number) =>
      new Promise<void>((resolve, reject) => {
        calls.push({ fd, finish: (error) => (error ? reject(error) : fs.fdatasync(fd, (e) => (e ? reject(e) : resolve()))) });
      });
    return { calls, backgroundFdatasync };
  }
  const stillPending = async (promise: Promise<unknown>) => {
    let pending = true;
    promise.then(
      () => (pending = false),
      () => (pending = false),
    );
    await new Promise((resolve) => setImmediate(resolve));
    return pending;
  };

  it('has the records in the file on return, and says when they are durable', async () => {
    const disk = heldSync();
    const journal = MigrationJournal.begin(dir, 'vm1-bg', { vm: 'vm1' }, disk);
    const records = journal.writeUnsynced([
      ['switchover', {}],
      ['cont-may-follow', { bootId: 'b' }],
    ]);
    expect(records.map((r) => [r.seq, r.event])).toEqual([
      [1, 'switchover'],
      [2, 'cont-may-follow'],
    ]);
    // Another reader (recover, after this process died) already sees them.
    expect(readJournal(journal.file).records.map((r) => r.event)).toEqual(['begin', 'switchover', 'cont-may-follow']);
    expect(disk.calls).toHaveLength(0);
    const durable = journal.syncInBackground();
    expect(await stillPending(durable)).toBe(true);
    disk.calls[0]?.finish();
    await expect(durable).resolves.toBeUndefined();
    expect(journal.append('note').seq).toBe(3);
    journal.close();
  });

  it('a failed fdatasync rejects with JOURNAL_WRITE_FAILED naming the records; the journal numbers on after them', async () => {
    const disk = heldSync();
    const journal = MigrationJournal.begin(dir, 'vm1-eio', { vm: 'vm1' }, disk);
    journal.writeUnsynced([['cont-may-follow', {}]]);
    const durable = journal.syncInBackground();
    disk.calls[0]?.finish(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await expect(durable).rejects.toMatchObject({ code: 'JOURNAL_WRITE_FAILED', details: { records: ['cont-may-follow'] } });
    expect(journal.append('rollback-started').seq).toBe(2);
    journal.close();
    await expect(journal.syncInBackground()).rejects.toMatchObject({ code: 'JOURNAL_WRITE_FAILED' });
  });

  it('close() while an fdatasync runs keeps the file open until it finished', async () => {
    const disk = heldSync();
    const journal = MigrationJournal.begin(dir, 'vm1-close', { vm: 'vm1' }, disk);
    journal.writeUnsynced([['destination-resuming', {}]]);
    const durable = journal.syncInBackground();
    journal.close();
    expect(() => journal.writeUnsynced([['note', {}]])).toThrow(expect.objectContaining({ code: 'JOURNAL_WRITE_FAILED' }));
    // The descriptor is still this journal's: the sync succeeds (a closed one would be EBADF).
    disk.calls[0]?.finish();
    await expect(durable).resolves.toBeUndefined();
    expect(() => fs.fstatSync(disk.calls[0]?.fd as number)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('syncs for real by default', async () => {
    const journal = MigrationJournal.begin(dir, 'vm1-real', { vm: 'vm1' });
    journal.writeUnsynced([['cont-may-follow', {}]]);
    await expect(journal.syncInBackground()).resolves.toBeUndefined();
    journal.close();
    expect(readJournal(journal.file).records.map((r) => r.event)).toEqual(['begin', 'cont-may-follow']);
  });
});

/** A 64 KiB tmpfs: a state directory that fills up for real (root needed; CI runs as root). */
function withFullDisk(body: (mount: string, fill: () => void) => void): void {
  let disk: SmallDisk;
  try {
    disk = SmallDisk.mount('64k', 'nicmig-full');
  } catch (error) {
    if (process.env.CI === 'true') throw error;
    console.warn(`SKIPPED: ${(error as Error).message}`);
    return;
  }
  try {
    body(disk.dir, () => disk.fill());
  } finally {
    disk.unmount();
  }
}

describe('MigrationJournal on a full disk', () => {
  it('begin on a full disk fails with STATE_DIR_UNWRITABLE (exit 5) and leaves no file behind', () => {
    withFullDisk((mount, fill) => {
      const journalDir = path.join(mount, 'journal');
      fs.mkdirSync(journalDir);
      fill();
      expect(() => MigrationJournal.begin(journalDir, 'vm1-a', { vm: 'vm1', padding: 'x'.repeat(8192) })).toThrow(
        expect.objectContaining({ code: 'STATE_DIR_UNWRITABLE', exitCode: 5 }),
      );
      expect(fs.readdirSync(journalDir)).toEqual([]);
    });
  });

  it('an append that does not fit fails loudly, and the journal still reads back without it', () => {
    withFullDisk((mount, fill) => {
      const journal = MigrationJournal.begin(mount, 'vm1-a', { vm: 'vm1' });
      fill();
      expect(() => journal.append('destination-resuming', { padding: 'x'.repeat(16384) })).toThrow(expect.objectContaining({ code: 'JOURNAL_WRITE_FAILED' }));
      expect(journal.tryAppend('note', { padding: 'x'.repeat(16384) })).toMatchObject({ code: 'JOURNAL_WRITE_FAILED' });
      journal.close();
      fs.rmSync(path.join(mount, 'ballast'));
      const reopened = MigrationJournal.open(journal.file);
      reopened.append('rolled-back');
      reopened.close();
      expect(readJournal(journal.file).records.map((r) => r.event)).toEqual(['begin', 'rolled-back']);
    });
  });

  it('an append cut short by the full disk leaves none of its bytes: the same journal writes on cleanly once there is room', () => {
    withFullDisk((mount, fill) => {
      const journal = MigrationJournal.begin(mount, 'vm1-c', { vm: 'vm1' });
      const before = fs.statSync(journal.file).size;
      fill();
      // Bigger than the room left in the file's last page: part of it would fit.
      expect(() => journal.append('switchover', { padding: 'x'.repeat(16384) })).toThrow(expect.objectContaining({ code: 'JOURNAL_WRITE_FAILED' }));
      expect(fs.statSync(journal.file).size).toBe(before);
      fs.rmSync(path.join(mount, 'ballast'));
      journal.append('rollback-started');
      journal.append('rolled-back');
      journal.close();
      const contents = readJournal(journal.file);
      expect(contents.truncatedTail).toBe(false);
      expect(contents.records.map((r) => [r.seq, r.event])).toEqual([
        [0, 'begin'],
        [1, 'rollback-started'],
        [2, 'rolled-back'],
      ]);
    });
  });

  it('an unsynced write that does not fit throws at once, before anything could depend on it, and leaves nothing', () => {
    withFullDisk((mount, fill) => {
      const journal = MigrationJournal.begin(mount, 'vm1-b', { vm: 'vm1' });
      const before = fs.statSync(journal.file).size;
      fill();
      expect(() => journal.writeUnsynced([['destination-resuming', { padding: 'x'.repeat(16384) }]])).toThrow(expect.objectContaining({ code: 'JOURNAL_WRITE_FAILED' }));
      expect(fs.statSync(journal.file).size).toBe(before);
      journal.close();
    });
  });
});
