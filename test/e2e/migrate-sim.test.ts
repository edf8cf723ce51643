import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { SimHostProcesses } from '../helpers/sim-hosts.js';

jest.setTimeout(60_000);

/** Two `nicmig sim host` processes and an inventory naming them. */
describe('nicmig migrate between two simulated hosts (separate processes)', () => {
  let hosts: SimHostProcesses;
  let config: string;

  beforeEach(async () => {
    hosts = new SimHostProcesses('e2e-sim');
    config = hosts.config;
    await hosts.start();
  });

  afterEach(async () => {
    await hosts.stop();
  });

  it('moves a running VM with a dirtying guest there and back, the same path as real QEMU', async () => {
    const there = await runCli(['migrate', 'vm1', 'hostB', '--json', '--config', config]);
    expect(there.code).toBe(0);
    expect(JSON.parse(there.stdout)).toMatchObject({ status: 'migrated', from: 'hostA', to: 'hostB', strategy: 'plain' });
    const status = JSON.parse((await runCli(['status', 'vm1', '--json', '--config', config])).stdout);
    expect(status.vms[0]).toMatchObject({ runsOn: 'hostB', placements: [{ host: 'hostB', status: 'running' }] });
    const back = await runCli(['migrate', 'vm1', 'hostA', '--json', '--config', config]);
    expect(back.code).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ status: 'migrated', from: 'hostB', to: 'hostA' });
  });
});
