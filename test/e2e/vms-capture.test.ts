import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { runCli } from '../helpers/cli.js';

jest.setTimeout(90_000);

/** `nicmig vms` and `nicmig vf capture` against a lab of host processes, as an operator would. */
describe('nicmig vms and vf capture against a lab', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nm-vms-'));
    const up = await runCli(['lab', 'up', '--dir', dir, '--memory', '64']);
    if (up.code !== 0) throw new Error(`lab up failed: ${up.stderr}`);
    env = { NICMIG_CONFIG: path.join(dir, 'config.yaml') };
  });
  afterAll(async () => {
    await runCli(['lab', 'down', '--dir', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('vms lists vm1 on hostA with its VF and the strategy it would migrate by', async () => {
    const result = await runCli(['vms', '--json'], { env });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).vms).toEqual([expect.objectContaining({ vm: 'vm1', runsOn: 'hostA', status: 'running', strategy: 'vf-replay', vfs: ['vf0@enp1s0f0'] })]);
  });

  it('vf capture saves the live admin log; vf state reduces it to the VF the guest configured', async () => {
    const file = path.join(dir, 'vm1.cap');
    const capture = await runCli(['vf', 'capture', 'vm1', '-o', file, '--json'], { env });
    expect(capture.code).toBe(0);
    expect(JSON.parse(capture.stdout)).toMatchObject({ vm: 'vm1', host: 'hostA', device: 'vf0' });
    const state = await runCli(['vf', 'state', file, '--json']);
    expect(state.code).toBe(0);
    expect(JSON.parse(state.stdout)).toMatchObject({ active: true, macs: [{ addr: '02:00:00:00:00:01', type: 'primary' }] });
    const missing = await runCli(['vf', 'capture', 'vm9', '-o', file], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/UNKNOWN_VM/);
  });
});
