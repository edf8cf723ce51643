import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
    if (there.code !== 0) throw new Error(`migrate vm1 hostB: exit ${there.code}\n${there.stdout}\n${there.stderr}`);
    expect(JSON.parse(there.stdout)).toMatchObject({ status: 'migrated', from: 'hostA', to: 'hostB', strategy: 'plain' });
    const status = JSON.parse((await runCli(['status', 'vm1', '--json', '--config', config])).stdout);
    expect(status.vms[0]).toMatchObject({ runsOn: 'hostB', placements: [{ host: 'hostB', status: 'running' }] });
    const back = await runCli(['migrate', 'vm1', 'hostA', '--json', '--config', config]);
    if (back.code !== 0) throw new Error(`migrate vm1 hostA: exit ${back.code}\n${back.stdout}\n${back.stderr}`);
    expect(JSON.parse(back.stdout)).toMatchObject({ status: 'migrated', from: 'hostB', to: 'hostA' });
  });
});

/** hostA a simulated QEMU 7.2, hostB a 10.0, each version from the inventory: the rolling upgrade. */
describe('nicmig migrate from a simulated QEMU 7.2 host to a 10.0 one (separate processes)', () => {
  let hosts: SimHostProcesses;

  beforeEach(async () => {
    hosts = new SimHostProcesses('e2e-sim-versions', { hostB: "qemuVersion: '10.0'" });
    await hosts.start();
  });

  afterEach(async () => {
    await hosts.stop();
  });

  async function versionAndMachine(host: string): Promise<string> {
    const socket = `unix:${path.join(hosts.dir, host, 'vm1.qmp')}`;
    const version = JSON.parse((await runCli(['qmp', socket, 'query-version', '--json'])).stdout);
    const type = JSON.parse((await runCli(['qmp', socket, 'qom-get', '{"path": "/machine", "property": "type"}', '--json'])).stdout);
    return `${version.qemu.major}.${version.qemu.minor} ${type}`;
  }

  it('moves vm1 (q35) to 10.0 on its 7.2 machine type, and back to 7.2 on it', async () => {
    expect(await versionAndMachine('hostA')).toBe('7.2 pc-q35-7.2-machine');
    const there = await runCli(['migrate', 'vm1', 'hostB', '--json', '--config', hosts.config]);
    if (there.code !== 0) throw new Error(`migrate vm1 hostB: exit ${there.code}\n${there.stdout}\n${there.stderr}`);
    expect(JSON.parse(there.stdout)).toMatchObject({ status: 'migrated', from: 'hostA', to: 'hostB' });
    expect(await versionAndMachine('hostB')).toBe('10.0 pc-q35-7.2-machine');
    // Back to 7.2: the machine type was pinned, so it fits.
    const back = await runCli(['migrate', 'vm1', 'hostA', '--json', '--config', hosts.config]);
    if (back.code !== 0) throw new Error(`migrate vm1 hostA: exit ${back.code}\n${back.stdout}\n${back.stderr}`);
    expect(await versionAndMachine('hostA')).toBe('7.2 pc-q35-7.2-machine');
  });
});

describe('nicmig sim host --qemu-version', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-sim-version-${process.pid}-`));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a version it does not simulate (exit 2), naming it and the known ones, before it starts anything', async () => {
    const result = await runCli(['sim', 'host', '--name', 'hostX', '--dir', path.join(dir, 'hostX'), '--qemu-version', '9.2'], { timeoutMs: 20_000 });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--qemu-version=9\.2 to be one of: 7\.2, 10\.0/);
    expect(fs.existsSync(path.join(dir, 'hostX'))).toBe(false);
  });

  it('refuses a version that contradicts the inventory entry of the host (exit 3), both named', async () => {
    const config = path.join(dir, 'config.yaml');
    fs.writeFileSync(config, ['hosts:', `  hostX: {kind: sim, runDir: ${path.join(dir, 'hostX')}, qemuVersion: '10.0'}`, ''].join('\n'));
    const result = await runCli(['sim', 'host', '--name', 'hostX', '--dir', path.join(dir, 'hostX'), '--qemu-version', '7.2', '--config', config, '--json'], { timeoutMs: 20_000 });
    expect(result.code).toBe(3);
    expect(JSON.parse(result.stdout).error).toMatchObject({ code: 'CONFIG_INVALID', message: `--qemu-version 7.2 contradicts the inventory ${config}: hosts.hostX.qemuVersion is 10.0` });
    expect(fs.existsSync(path.join(dir, 'hostX'))).toBe(false);
  });
});
