import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { DemoLab } from '../../src/lab/demo-lab.js';
import { MigrationError } from '../../src/migration/errors.js';
import type { Phase } from '../../src/migration/events.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration } from '../../src/migration/orchestrator.js';
import { VfReplayStrategy } from '../../src/migration/vf-replay.js';
import { SmallDisk } from '../helpers/small-disk.js';

/**
 * The state directory fills up (a 64 KiB tmpfs, for real) at a journal write: nicmig never
 * resumes the destination without its record, rolls back, and says why.
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

async function migrate(atPhase?: (phase: Phase) => void) {
  lab = await DemoLab.start({ memoryMiB: 32, dirtyPagesPerSecond: 1000 });
  const current = lab;
  current.startTraffic(1000);
  await current.trafficFlowing(100);
  const run = new Migration(
    { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 100 }, spec: current.inventory.vms.get('vm1') },
    { hosts: current.hosts, strategy: new VfReplayStrategy(), journalDir: path.join((disk as SmallDisk).dir, 'journal'), onEvent: () => undefined, atPhase },
  );
  return { current, error: await run.run().catch((e: unknown) => e) };
}

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
