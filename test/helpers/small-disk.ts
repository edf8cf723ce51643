import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A small tmpfs that really fills up: the state directory of the full-disk tests. Mounting
 * needs root (CI runs as root); without it the caller decides whether to fail or skip.
 */
export class SmallDisk {
  private constructor(readonly dir: string) {}

  /** Mounts a tmpfs of `size` (e.g. '64k'); throws, naming why, when it cannot. */
  static mount(size: string, label = 'nicmig-small-disk'): SmallDisk {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${label}-${process.pid}-`));
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
    if (mounted.status !== 0) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`cannot mount a ${size} tmpfs (the full-disk tests need root): ${String(mounted.stderr).trim() || `exit ${mounted.status}`}`);
    }
    return new SmallDisk(dir);
  }

  /**
   * Takes every free block. A journal's last page may still have room for a record: with
   * `journalDir`, each journal there is first padded to its page's end with empty lines (which
   * readers skip), as a journal that happens to end on a page boundary is, so that the very
   * next record needs a block the disk does not have.
   */
  fill(journalDir?: string): void {
    if (journalDir && fs.existsSync(journalDir)) {
      for (const name of fs.readdirSync(journalDir)) {
        const file = path.join(journalDir, name);
        const size = fs.statSync(file).size;
        if (size % 4096 !== 0) fs.appendFileSync(file, '\n'.repeat(4096 - (size % 4096)));
      }
    }
    const fd = fs.openSync(path.join(this.dir, 'ballast'), 'a');
    try {
      for (;;) fs.writeSync(fd, Buffer.alloc(4096, 1));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Gives the blocks back. */
  empty(): void {
    fs.rmSync(path.join(this.dir, 'ballast'), { force: true });
  }

  unmount(): void {
    spawnSync('umount', [this.dir]);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
