import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { DemoLab } from '../../src/lab/demo-lab.js';
import { MigrationError } from '../../src/migration/errors.js';
import type { Phase } from '../../src/migration/events.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration } from '../../src/migration/orchestrator.js';
import { VfReplayStrategy } from '../../src/migration/vf-replay.js';

/**
 * The state directory fills up (a 64 KiB tmpfs, for real) at a journal write: nicmig never
 * resumes the destination without its record, rolls back, and says why.
 */

jest.setTimeout(60_000);

let lab: DemoLab | undefined;
let mount: string | undefined;

beforeEach(() => {
  mount = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-state-full-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mount]);
  if (mounted.status !== 0) throw new Error(`cannot mount a tmpfs for the full-disk tests (they need root): ${String(mounted.stderr).trim()}`);
});

afterEach(async () => {
  await lab?.close();
  lab = undefined;
  if (mount) {
    spawnSync('umount', [mount]);
    fs.rmSync(mount, { recursive: true, force: true });
  }
});

/**
 * Takes every free block of the tmpfs. The journal's last page may still have room for a
 * record: with `journalAtPageEnd` it is first padded to the page's end with empty lines
 * (which readers skip), as a journal that happens to end on a page boundary is.
 */
function fillDisk(dir: string, journalAtPageEnd = false): void {
  if (journalAtPageEnd) {
    const journalDir = path.join(dir, 'journal');
    for (const name of fs.readdirSync(journalDir)) {
      const file = path.join(journalDir, name);
      const size = fs.statSync(file).size;
      if (size % 4096 !== 0) fs.appendFileSync(file, '\n'.repeat(4096 - (size % 4096)));
    }
  }
  const fd = fs.openSync(path.join(dir, 'ballast'), 'a');
  try {
    for (;;) fs.writeSync(fd, Buffer.alloc(4096, 1));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    fs.closeSync(fd);
  }
}

async function migrate(atPhase?: (phase: Phase) => void) {
  lab = await DemoLab.start({ memoryMiB: 32, dirtyPagesPerSecond: 1000 });
  const current = lab;
  current.startTraffic(1000);
  await current.trafficFlowing(100);
  const run = new Migration(
    { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 100 }, spec: current.inventory.vms.get('vm1') },
    { hosts: current.hosts, strategy: new VfReplayStrategy(), journalDir: path.join(mount as string, 'journal'), onEvent: () => undefined, atPhase },
  );
  return { current, error: await run.run().catch((e: unknown) => e) };
}

describe('a full state directory', () => {
  it('at the record that must precede cont: the destination is not resumed, the migration rolls back (exit 11) and says why', async () => {
    const { current, error } = await migrate((phase) => {
      // Everything up to here was journalled; the disk fills before the pre-cont record.
      if (phase === 'resume') fillDisk(mount as string, true);
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
    fillDisk(mount as string);
    const { current, error } = await migrate();
    expect(error).toMatchObject({ code: 'STATE_DIR_UNWRITABLE', exitCode: 5 });
    expect(current.vm('hostB')).toBeUndefined();
    expect(current.vm('hostA')?.runState).toBe('running');
    const journalDir = path.join(mount as string, 'journal');
    expect(fs.existsSync(journalDir) ? fs.readdirSync(journalDir) : []).toEqual([]);
  });
});
