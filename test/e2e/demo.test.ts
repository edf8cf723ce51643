import fs from 'node:fs';
import { expect, it, jest, describe } from '@jest/globals';
import { runCli } from '../helpers/cli.js';

jest.setTimeout(60_000);

describe('nicmig demo (the README first command)', () => {
  it('migrates vm1 between two simulated hosts, prints the summary, and leaves nothing behind', async () => {
    const result = await runCli(['demo', '--memory', '64']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/vm1 now runs on hostB/);
    expect(result.stdout).toMatch(/Next:/);
    const labDir = /in (\S*nicmig-demo-[A-Za-z0-9]+)/.exec(result.stderr)?.[1];
    expect(labDir).toBeDefined();
    expect(fs.existsSync(labDir as string)).toBe(false);
  });

  it('--json prints one summary document', async () => {
    const result = await runCli(['demo', '--memory', '64', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'migrated', vm: 'vm1', from: 'hostA', to: 'hostB' });
  });
});
