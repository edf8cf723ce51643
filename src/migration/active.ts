import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ExitCode } from '../errors.js';
import { JournalError } from './journal.js';

/**
 * A marker per VM while a `nicmig migrate` process works on it, so that `nicmig cancel` and
 * `nicmig status` in another terminal can find it, and a second migrate of the same VM is
 * refused.
 */
const MarkerSchema = z.object({ pid: z.number().int(), vm: z.string(), to: z.string(), journal: z.string().nullable(), startedAt: z.string() });
export type ActiveMarker = z.infer<typeof MarkerSchema>;

export function markerPath(stateDir: string, vm: string): string {
  return path.join(stateDir, 'active', `${vm}.json`);
}

export function readMarker(stateDir: string, vm: string): ActiveMarker | undefined {
  try {
    const marker = MarkerSchema.safeParse(JSON.parse(fs.readFileSync(markerPath(stateDir, vm), 'utf8')));
    return marker.success ? marker.data : undefined;
  } catch {
    return undefined;
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Claims the VM; returns the live marker of another process when it holds it. */
export function claimVm(stateDir: string, marker: ActiveMarker): ActiveMarker | undefined {
  const file = markerPath(stateDir, marker.vm);
  const existing = readMarker(stateDir, marker.vm);
  if (existing && existing.pid !== marker.pid && processAlive(existing.pid)) return existing;
  const temporary = `${file}.${process.pid}`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(temporary, JSON.stringify(marker));
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw new JournalError('STATE_DIR_UNWRITABLE', `cannot write the active-migration marker ${file}: ${(error as Error).message}; nothing was changed`, { file }, error, ExitCode.STATE_DIR);
  }
  return undefined;
}

export function updateMarker(stateDir: string, marker: ActiveMarker): void {
  fs.writeFileSync(markerPath(stateDir, marker.vm), JSON.stringify(marker));
}

export function releaseVm(stateDir: string, vm: string): void {
  const existing = readMarker(stateDir, vm);
  if (!existing || existing.pid === process.pid) fs.rmSync(markerPath(stateDir, vm), { force: true });
}

/**
 * Removes the marker of a nicmig that died without removing it (SIGKILL, a crash): its
 * process no longer exists. Returns the marker removed, if any. A live one is left alone.
 */
export function clearStaleMarker(stateDir: string, vm: string): ActiveMarker | undefined {
  const existing = readMarker(stateDir, vm);
  if (!existing || existing.pid === process.pid || processAlive(existing.pid)) return undefined;
  fs.rmSync(markerPath(stateDir, vm), { force: true });
  return existing;
}
