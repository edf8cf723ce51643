import { spawn } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { waitFor, waitForOutput, waitUntil, WaitTimeoutError } from '../../helpers/wait.js';

/** The tests' own waiting: on a state, with a deadline that names what it waited for. */
describe('waitUntil', () => {
  it('returns the first value that satisfies the predicate', async () => {
    let reads = 0;
    const value = await waitUntil('the third read', () => ++reads, (n) => n >= 3, { intervalMs: 1 });
    expect(value).toBe(3);
  });

  it('past its deadline fails naming what it waited for and the last value seen', async () => {
    const error = await waitUntil('the door to open', () => ({ door: 'closed' }), (s) => s.door === 'open', { deadlineMs: 30, intervalMs: 5 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect((error as Error).message).toBe('timed out after 30 ms waiting for the door to open; last seen: {"door":"closed"}');
  });

  it('fails at once when the state cannot be read', async () => {
    await expect(waitUntil('anything', () => Promise.reject(new Error('no such file')), () => true)).rejects.toThrow('no such file');
  });

  it('waitFor shows the state it was given for the error', async () => {
    await expect(waitFor('the flag', () => false, { deadlineMs: 10, lastSeen: () => 'flag unset' })).rejects.toThrow('waiting for the flag; last seen: flag unset');
  });
});

describe('waitForOutput', () => {
  it('resolves once the child prints its ready line', async () => {
    const child = spawn(process.execPath, ['-e', "process.stderr.write('starting\\n'); setImmediate(() => process.stderr.write('ready\\n')); setInterval(() => undefined, 1000)"], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      await expect(waitForOutput(child, 'the child to be ready', /^ready$/m)).resolves.toMatch(/starting\nready/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('rejects naming what it waited for when the child exits first', async () => {
    const child = spawn(process.execPath, ['-e', "process.stdout.write('no PF here\\n'); process.exit(3)"], { stdio: ['ignore', 'pipe', 'ignore'] });
    await expect(waitForOutput(child, 'the host to be ready', /ready/, { stream: 'stdout' })).rejects.toThrow(/exited \(code 3\) before the host to be ready; it printed: no PF here/);
  });
});
