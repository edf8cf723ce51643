import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { DemoLab } from '../../src/lab/demo-lab.js';
import { MigrationError } from '../../src/migration/errors.js';
import type { Phase } from '../../src/migration/events.js';
import type { JournalOptions } from '../../src/migration/journal.js';
import { readJournal } from '../../src/migration/journal.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration } from '../../src/migration/orchestrator.js';
import { VfReplayStrategy } from '../../src/migration/vf-replay.js';
import { SmallDisk } from '../helpers/small-disk.js';

/**
 * The state directory fills up (a 64 KiB tmpfs, for real) at a journal write, or its disk is
 * slow or fails the fdatasync of the pre-cont record: nicmig never resumes the destination
 * before that record is durable; when it cannot be, it rolls back and says why.
 */

jest.setTimeout(60_000);

let lab: DemoLab | undefined;
let disk: SmallDisk | undefined;

beforeEach(() => {
  disk = SmallDisk.mount('64k', 'nicmig-state-full');
});

afterEach(async () => {
  await lab?.close();
  lab = undefined;
  disk?.unmount();
  disk = undefined;
});

async function migrate(atPhase?: (phase: Phase) => void, journalOptions?: JournalOptions) {
  lab = await DemoLab.start({ memoryMiB: 32, dirtyPagesPerSecond: 1000 });
  const current = lab;
  current.startTraffic(1000);
  await current.trafficFlowing(100);
  const run = new Migration(
    { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 100 }, spec: current.inventory.vms.get('vm1') },
    { hosts: current.hosts, strategy: new VfReplayStrategy(), journalDir: path.join((disk as SmallDisk).dir, 'journal'), onEvent: () => undefined, atPhase, journalOptions },
  );
  const outcome = await run.run().then(
    (summary) => ({ summary, error: undefined }),
    (error: unknown) => ({ summary: undefined, error }),
  );
  return { current, run, ...outcome };
}

/** The journal's records, in order. */
function journalEvents(): string[] {
  const journalDir = path.join((disk as SmallDisk).dir, 'journal');
  const [file] = fs.readdirSync(journalDir).filter((name) => name.endsWith('.journal'));
  return readJournal(path.join(journalDir, file as string)).records.map((r) => r.event);
}

describe('the pre-cont record, synced in the background from the switchover on', () => {
  it('is awaited before cont when the disk is slower than the stream: the destination resumes only once it is durable', async () => {
    let durableAt = 0;
    let syncs = 0;
    const { summary, error, run } = await migrate(undefined, {
      // The first background sync is the switchover's batch with cont-may-follow: 1.5 s, far longer than the stream and the replay.
      backgroundFdatasync: (fd) => {
        const first = syncs++ === 0;
        return new Promise<void>((resolve, reject) => {
          setTimeout(
            () =>
              fs.fdatasync(fd, (e) => {
                if (e) return reject(e);
                if (first) durableAt = Date.now();
                resolve();
              }),
            first ? 1500 : 0,
          );
        });
      },
    });
    if (error) throw error;
    expect(summary?.status).toBe('migrated');
    const resume = run.timeline().qemu.find((e) => e.side === 'destination' && e.event === 'RESUME');
    const completed = run.timeline().qemu.find((e) => e.side === 'destination' && e.event === 'MIGRATION' && e.status === 'completed');
    expect(durableAt).toBeGreaterThan(0);
    // The stream was done long before the record was durable, and cont waited for the record.
    expect(completed?.time).toBeLessThan(durableAt - 500);
    expect(resume?.time).toBeGreaterThanOrEqual(durableAt);
    expect(journalEvents()).toEqual(expect.arrayContaining(['switchover', 'cont-may-follow', 'destination-resuming', 'destination-resumed', 'finished']));
  });

  it('that cannot be made durable (the fdatasync fails): no cont, the migration rolls back (exit 11) and says why', async () => {
    let syncs = 0;
    const { current, error } = await migrate(undefined, {
      backgroundFdatasync: (fd) =>
        syncs++ === 0
          ? Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }))
          : new Promise<void>((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve()))),
    });
    if (!(error instanceof MigrationError)) throw error;
    expect(error.exitCode).toBe(11);
    expect(error.message).toMatch(/journal record that must precede cont could not be written.*EIO.*the destination was not resumed/);
    expect(current.vm('hostB')).toBeUndefined();
    expect(current.vm('hostA')?.runState).toBe('running');
    expect(current.device('hostA')?.vf.quiesced).toBe(false);
    const events = journalEvents();
    expect(events).not.toContain('destination-resuming');
    expect(events.at(-1)).toBe('rolled-back');
    await current.trafficFlowing(100);
  });
});

describe('a full state directory', () => {
  it('at the record that must precede cont: the destination is not resumed, the migration rolls back (exit 11) and says why', async () => {
    const { current, error } = await migrate((phase) => {
      // Everything up to here was journalled; the disk fills before the pre-cont record.
      if (phase === 'resume') disk?.fill(path.join(disk.dir, 'journal'));
    });
    if (!(error instanceof MigrationError)) throw error;
    expect(error.exitCode).toBe(11);
    expect((error as Error).message).toMatch(/journal record that must precede cont could not be written.*the destination was not resumed/);
    expect(current.vm('hostB')).toBeUndefined();
    expect(current.vm('hostA')?.runState).toBe('running');
    expect(current.device('hostA')?.vf.quiesced).toBe(false);
    await current.trafficFlowing(100);
  });

  it('before anything starts: STATE_DIR_UNWRITABLE (exit 5), no destination, no journal file left', async () => {
    disk?.fill();
    const { current, error } = await migrate();
    expect(error).toMatchObject({ code: 'STATE_DIR_UNWRITABLE', exitCode: 5 });
    expect(current.vm('hostB')).toBeUndefined();
    expect(current.vm('hostA')?.runState).toBe('running');
    const journalDir = path.join((disk as SmallDisk).dir, 'journal');
    expect(fs.existsSync(journalDir) ? fs.readdirSync(journalDir) : []).toEqual([]);
  });
});
