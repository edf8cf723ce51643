/**
 * Waiting on a state, never on time: `waitUntil` reads a value until it satisfies a predicate,
 * and past its deadline fails naming what it waited for and the last value it saw.
 */
import type { ChildProcess } from 'node:child_process';

export class WaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly deadlineMs: number,
    readonly lastSeen: string,
  ) {
    super(`timed out after ${deadlineMs} ms waiting for ${what}; last seen: ${lastSeen}`);
    this.name = 'WaitTimeoutError';
  }
}

export interface WaitOptions<T> {
  /** how long to wait in all (generous: the machine may be loaded) */
  deadlineMs?: number;
  /** pause between two reads */
  intervalMs?: number;
  /** how the last value is shown in the error (JSON by default) */
  show?: (value: T) => string;
}

function showValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  try {
    const text = JSON.stringify(value);
    return text.length > 2000 ? `${text.slice(0, 2000)}...` : text;
  } catch {
    return String(value);
  }
}

/**
 * Reads `read()` until `ok(value)` holds and returns that value. The first read is immediate;
 * a read that throws fails the wait at once (the state cannot be read: nothing to wait for).
 */
export async function waitUntil<T>(what: string, read: () => T | Promise<T>, ok: (value: T) => boolean, options: WaitOptions<T> = {}): Promise<T> {
  const deadlineMs = options.deadlineMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 20;
  const show = options.show ?? showValue;
  const deadline = performance.now() + deadlineMs;
  while (true) {
    const value = await read();
    if (ok(value)) return value;
    if (performance.now() >= deadline) throw new WaitTimeoutError(what, deadlineMs, show(value));
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** `waitUntil` for a condition read as a boolean; `lastSeen` describes the state for the error. */
export function waitFor(what: string, condition: () => boolean | Promise<boolean>, options: { deadlineMs?: number; intervalMs?: number; lastSeen?: () => string } = {}): Promise<boolean> {
  return waitUntil(what, condition, (value) => value, { ...options, show: () => options.lastSeen?.() ?? 'false' });
}

/**
 * Resolves with a child process's output once it matches `pattern` (a line it prints when it
 * is ready); rejects naming `what` if the child exits first or the deadline passes.
 */
export function waitForOutput(child: ChildProcess, what: string, pattern: RegExp, options: { stream?: 'stdout' | 'stderr'; deadlineMs?: number } = {}): Promise<string> {
  const deadlineMs = options.deadlineMs ?? 30_000;
  const stream = options.stream === 'stdout' ? child.stdout : child.stderr;
  if (!stream) return Promise.reject(new Error(`cannot wait for ${what}: the child's ${options.stream ?? 'stderr'} is not a pipe`));
  let output = '';
  return new Promise<string>((resolve, reject) => {
    const finish = (error?: Error) => {
      clearTimeout(timer);
      stream.off('data', onData);
      // keep reading what it prints later (unread, a full pipe would block the child)
      stream.resume();
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(output);
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (pattern.test(output)) finish();
    };
    const onExit = (code: number | null, signal: string | null) => finish(new Error(`pid ${child.pid} exited (${signal ?? `code ${code}`}) before ${what}; it printed: ${output.trim()}`));
    const timer = setTimeout(() => finish(new WaitTimeoutError(what, deadlineMs, JSON.stringify(output.trim()))), deadlineMs);
    stream.on('data', onData);
    child.on('exit', onExit);
    if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
  });
}
