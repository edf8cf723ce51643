import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { LabError } from '../../../src/lab/errors.js';
import { labDown, labUp } from '../../../src/lab/lab.js';
import { labPaths, writeLabState, type LabState } from '../../../src/lab/lab-state.js';
import { defaultVsiBase } from '../../../src/lab/pf-host.js';
import { processAlive } from '../../../src/lab/processes.js';
import { waitForOutput } from '../../helpers/wait.js';

jest.setTimeout(30_000);

/**
 * A stand-in for bin/run.js: `sim switch` listens on its socket like the real one and notes
 * its pid; `sim host` does what HOST_MODE says (fail at once, or never become ready).
 */
const FAKE_BIN = `
import fs from 'node:fs';
import net from 'node:net';
const args = process.argv.slice(2);
const flag = (name) => args[args.indexOf(name) + 1];
if (args[1] === 'switch') {
  fs.writeFileSync(flag('--socket') + '.pid', String(process.pid));
  net.createServer(() => undefined).listen(flag('--socket'));
} else if (process.env.HOST_MODE === 'fail') {
  process.stderr.write('host cannot open its PF\\n');
  process.exit(1);
} else {
  fs.writeFileSync(flag('--dir') + '.pid', String(process.pid));
  setInterval(() => undefined, 1000);
}
`;

describe('lab processes', () => {
  let dir: string;
  let bin: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-lab-sim-'));
    bin = path.join(dir, 'fake-run.mjs');
    fs.writeFileSync(bin, FAKE_BIN);
  });

  afterEach(() => {
    delete process.env.HOST_MODE;
    for (const file of [`${labPaths(dir).switchSocket}.pid`, `${path.join(dir, 'hostA')}.pid`, `${path.join(dir, 'hostB')}.pid`]) {
      if (!fs.existsSync(file)) continue;
      const pid = Number(fs.readFileSync(file, 'utf8'));
      if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives two hosts different VSI bases unless told otherwise', () => {
    expect(defaultVsiBase('hostA')).not.toBe(defaultVsiBase('hostB'));
    expect(defaultVsiBase('hostA')).toBe(defaultVsiBase('hostA'));
    for (const name of ['hostA', 'hostB', 'h', 'a-very-long-host-name.example']) {
      expect(defaultVsiBase(name)).toBeGreaterThanOrEqual(16);
      expect(defaultVsiBase(name) + 127).toBeLessThan(1024);
    }
  });

  it('lab up stops what it started when a host fails, and says why with its log', async () => {
    process.env.HOST_MODE = 'fail';
    const error = await labUp({ dir, memoryMiB: 64, dirtyPagesPerSecond: 0, trafficRate: 0, bin }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LabError);
    expect(error).toMatchObject({ code: 'LAB_START_FAILED', exitCode: 1 });
    expect((error as Error).message).toMatch(/host host[AB]: exited with code 1/);
    expect((error as Error).message).toContain('host cannot open its PF');
    const switchPid = Number(fs.readFileSync(`${labPaths(dir).switchSocket}.pid`, 'utf8'));
    expect(processAlive(switchPid)).toBe(false);
    expect(fs.existsSync(labPaths(dir).state)).toBe(false);
    expect(fs.existsSync(labPaths(dir).switchSocket)).toBe(false);
  });

  it('lab up gives up on a host that never becomes ready, by its deadline, and stops everything', async () => {
    process.env.HOST_MODE = 'hang';
    const error = await labUp({ dir, memoryMiB: 64, dirtyPagesPerSecond: 0, trafficRate: 0, bin, readyTimeoutMs: 1500 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'LAB_START_FAILED' });
    // the given deadline fired (not the 60 s default): its own message says which, on any machine speed
    expect((error as Error).message).toMatch(/not ready after 1.5 s/);
    for (const file of [`${labPaths(dir).switchSocket}.pid`, `${path.join(dir, 'hostA')}.pid`, `${path.join(dir, 'hostB')}.pid`]) {
      expect(processAlive(Number(fs.readFileSync(file, 'utf8')))).toBe(false);
    }
    expect(fs.existsSync(labPaths(dir).state)).toBe(false);
  });

  it('lab down kills a process that ignores SIGTERM after the grace period, and never signals a pid that is not the lab\'s', async () => {
    // it says so once it ignores SIGTERM: a SIGTERM before that would end it as any process
    const stubborn = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => undefined); process.stdout.write('ignoring SIGTERM\\n'); setInterval(() => undefined, 1000)", path.join(dir, 'hostA')], { stdio: ['ignore', 'pipe', 'ignore'] });
    // a live process that is not part of this lab (its command line does not name the lab directory)
    const stranger = spawn(process.execPath, ['-e', "process.stdout.write('up\\n'); setInterval(() => undefined, 1000)"], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await Promise.all([
        waitForOutput(stubborn, 'the stubborn process to ignore SIGTERM', /ignoring SIGTERM/, { stream: 'stdout' }),
        waitForOutput(stranger, 'the stranger process to be up', /up/, { stream: 'stdout' }),
      ]);
      const state: LabState = {
        format: 'nicmig-lab/1',
        dir,
        config: labPaths(dir).config,
        ready: true,
        startedAt: new Date().toISOString(),
        starter: 1,
        processes: [
          { role: 'host', name: 'hostA', pid: stubborn.pid as number, socket: path.join(dir, 'hostA', 'host.sock'), log: path.join(dir, 'hostA.log') },
          { role: 'host', name: 'hostB', pid: stranger.pid as number, socket: path.join(dir, 'hostB', 'host.sock'), log: path.join(dir, 'hostB.log') },
        ],
        traffic: null,
      };
      writeLabState(state);
      const down = await labDown(dir, { graceMs: 300 });
      expect(down.processes.map((p) => p.ended)).toEqual(['SIGKILL', 'already gone']);
      expect(processAlive(stubborn.pid as number)).toBe(false);
      expect(processAlive(stranger.pid as number)).toBe(true);
      expect(fs.existsSync(labPaths(dir).state)).toBe(false);
      await expect(labDown(dir)).rejects.toMatchObject({ code: 'LAB_NOT_UP', exitCode: 2 });
    } finally {
      stubborn.kill('SIGKILL');
      stranger.kill('SIGKILL');
    }
  });
});
