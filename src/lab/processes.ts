/**
 * The lab's background processes: spawned detached (they outlive `nicmig lab up`), found
 * again by pid, and ended with SIGTERM then SIGKILL.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/** bin/run.js of this installation (dist/lab/ or src/lab/ -> ../../bin). */
export function defaultNicmigBin(): string {
  return fileURLToPath(new URL('../../bin/run.js', import.meta.url));
}

export interface DetachedProcess {
  pid: number;
  /** how it ended, once it did (while this process still runs) */
  ended(): string | undefined;
}

/** `node bin/run.js ARGS` in its own session, stdout and stderr to logFile; not waited for. */
export function spawnDetached(bin: string, args: string[], logFile: string): DetachedProcess {
  const fd = fs.openSync(logFile, 'a');
  try {
    const child = spawn(process.execPath, [bin, ...args], { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, NO_COLOR: '1' } });
    let spawnError: Error | undefined;
    child.once('error', (error) => {
      spawnError = error;
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`cannot start ${process.execPath} ${bin} ${args.join(' ')}`);
    return {
      pid: child.pid,
      ended: () => {
        if (spawnError) return spawnError.message;
        if (child.exitCode !== null) return `exited with code ${child.exitCode}`;
        if (child.signalCode !== null) return `ended by ${child.signalCode}`;
        return undefined;
      },
    };
  } finally {
    fs.closeSync(fd);
  }
}

const HAS_PROC = fs.existsSync('/proc/self/stat');

/** Alive and not a zombie (an exited child nobody reaped yet counts as gone). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (!HAS_PROC) return true;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * Whether pid is still the process the lab started (pids are reused): its command line names
 * the lab directory. Without /proc, trust the pid.
 */
export function isLabProcess(pid: number, labDir: string): boolean {
  if (!processAlive(pid)) return false;
  if (!HAS_PROC) return true;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((arg) => arg === labDir || arg.startsWith(`${labDir}/`));
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

export type Ending = 'SIGTERM' | 'SIGKILL' | 'already gone';

/** SIGTERM to each, SIGKILL to those still there after graceMs; resolves when all are gone. */
export async function terminate(pids: number[], options: { graceMs?: number; isOurs?: (pid: number) => boolean } = {}): Promise<Map<number, Ending>> {
  const isOurs = options.isOurs ?? processAlive;
  const endings = new Map<number, Ending>();
  const running = pids.filter((pid) => {
    const ours = isOurs(pid);
    endings.set(pid, ours ? 'SIGTERM' : 'already gone');
    return ours;
  });
  for (const pid of running) signal(pid, 'SIGTERM');
  const graceMs = options.graceMs ?? 5000;
  let left = await waitUntilGone(running, graceMs);
  for (const pid of left) {
    endings.set(pid, 'SIGKILL');
    signal(pid, 'SIGKILL');
  }
  left = await waitUntilGone(left, 5000);
  if (left.length > 0) throw new Error(`processes ${left.join(', ')} survived SIGKILL`);
  return endings;
}

async function waitUntilGone(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = pids.filter(processAlive);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    left = left.filter(processAlive);
  }
  return left;
}

/** Whether something accepts connections on the unix socket. */
export function socketListening(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls `ready` until it returns true; `failed` ends it early with a reason. */
export async function pollUntil(
  ready: () => boolean | Promise<boolean>,
  options: { timeoutMs: number; what: string; failed?: () => string | undefined; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (true) {
    if (await ready()) return;
    const failure = options.failed?.();
    if (failure) throw new Error(`${options.what}: ${failure}`);
    if (Date.now() > deadline) throw new Error(`${options.what}: not ready after ${options.timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 25));
  }
}
