import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { QmpClient } from '../../src/qmp/client.js';
import { QemuMonitor } from '../../src/qmp/monitor.js';
import { SimHost } from '../../src/sim/host.js';
import { readHostManifest, SimHostClient } from '../../src/sim/host-client.js';
import { waitForOutput } from '../helpers/wait.js';

jest.setTimeout(30_000);

let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-sim-host-'));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function startHost(name: string, hostDir: string): Promise<SimHost> {
  const host = new SimHost({ name, dir: hostDir });
  await host.start();
  cleanups.push(() => host.stop());
  return host;
}

async function connectClient(dirOrSocket: string): Promise<SimHostClient> {
  const client = await SimHostClient.connect(dirOrSocket);
  cleanups.push(() => client.close());
  return client;
}

describe('SimHost and its control socket', () => {
  it('starts, lists and stops VMs over the control socket and keeps host.json current', async () => {
    const host = await startHost('hostA', dir);
    const client = await connectClient(dir);
    const vm = await client.startVm({ name: 'vm1', memoryMiB: 16, devices: [{ type: 'virtio-net', id: 'net0', mac: '52:54:00:00:00:01' }] }, { paused: true, incoming: true });
    expect(vm).toMatchObject({ name: 'vm1', memoryMiB: 16, runState: 'inmigrate', qmp: path.join(dir, 'vm1.qmp') });
    expect(readHostManifest(dir).vms.map((v) => v.name)).toEqual(['vm1']);

    const qmp = await QmpClient.connect(`unix:${vm.qmp}`);
    cleanups.push(() => qmp.destroy());
    expect(await new QemuMonitor(qmp).queryStatus()).toMatchObject({ status: 'inmigrate' });

    await expect(client.startVm({ name: 'vm1', memoryMiB: 16 })).rejects.toMatchObject({ code: 'SIM_VM_EXISTS' });
    await expect(client.startVm({ name: 'bad name!', memoryMiB: 16 })).rejects.toMatchObject({ code: 'SIM_CONTROL_FAILED' });
    await expect(client.stopVm('nope')).rejects.toMatchObject({ code: 'SIM_VM_NOT_FOUND' });
    expect((await client.listVms()).map((v) => v.name)).toEqual(['vm1']);

    await client.stopVm('vm1');
    await qmp.closed;
    expect(await client.listVms()).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'vm1.qmp'))).toBe(false);
    expect(readHostManifest(dir).vms).toEqual([]);
    await host.stop();
    expect(fs.existsSync(path.join(dir, 'host.sock'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'host.json'))).toBe(false);
  });

  it('a VM that quits leaves the host', async () => {
    const host = await startHost('hostA', dir);
    const info = await host.startVm({ name: 'vm1', memoryMiB: 16 });
    const qmp = await QmpClient.connect(`unix:${info.qmp}`);
    cleanups.push(() => qmp.destroy());
    const exited = host.vms.get('vm1')?.vm.exited;
    await new QemuMonitor(qmp).quit();
    expect(await exited).toEqual({ code: 0, reason: 'quit' });
    expect(host.list()).toEqual([]);
  });

  it('migrates a VM between two hosts, the destination started through the control socket', async () => {
    const hostA = await startHost('hostA', path.join(dir, 'a'));
    await startHost('hostB', path.join(dir, 'b'));
    const source = await hostA.startVm({ name: 'vm1', memoryMiB: 16 }, { fillRandom: true, dirtyPagesPerSecond: 1000 });
    const hostB = await connectClient(path.join(dir, 'b'));
    const destination = await hostB.startVm({ name: 'vm1', memoryMiB: 16 }, { paused: true, incoming: true });
    const src = new QemuMonitor(await QmpClient.connect(`unix:${source.qmp}`));
    const dst = new QemuMonitor(await QmpClient.connect(`unix:${destination.qmp}`));
    cleanups.push(() => src.client.destroy(), () => dst.client.destroy());
    await dst.migrateSetCapabilities({ events: true });
    await dst.migrateIncoming('tcp:127.0.0.1:0');
    const port = Number(((await dst.queryMigrate())['socket-address'] as { port: string }[])[0]?.port);
    await src.migrateSetCapabilities({ events: true });
    const done = dst.client.waitFor('MIGRATION', (e) => e.data?.status === 'completed', 20_000);
    await src.migrate(`tcp:127.0.0.1:${port}`);
    await done;
    expect(await src.queryStatus()).toMatchObject({ status: 'postmigrate' });
    expect(await dst.queryStatus()).toMatchObject({ status: 'paused' });
  });
});

describe('nicmig sim host (its own process)', () => {
  const built = fs.existsSync(path.join(process.cwd(), 'dist', 'commands', 'sim', 'host.js'));
  const inCi = process.env.CI === 'true';
  if (!built && !inCi) process.stderr.write('\n*** SKIPPED test/sim/host.test.ts "nicmig sim host (its own process)": no dist/ (npm run build, or npm test) ***\n\n');
  (built || inCi ? it : it.skip)('writes host.json, serves QMP, and removes its sockets on SIGTERM', async () => {
    if (!built) throw new Error('dist/commands/sim/host.js is missing: npm run build first (npm test does)');
    const child: ChildProcess = spawn(process.execPath, ['bin/run.js', 'sim', 'host', '--name', 'hostA', '--dir', dir, '--vm', 'vm1', '--memory', '16'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    });
    await waitForOutput(child, 'nicmig sim host to say it is ready', /ready/);
    const manifest = readHostManifest(dir);
    expect(manifest.vms.map((v) => v.name)).toEqual(['vm1']);
    const qmp = await QmpClient.connect(`unix:${manifest.vms[0]?.qmp}`);
    expect(await new QemuMonitor(qmp).queryStatus()).toMatchObject({ status: 'running' });
    qmp.destroy();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('simulated host memory sizes', () => {
  it('starts a VM of 2 GiB and more (no 32-bit overflow in the size)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-sim-big-'));
    const host = new SimHost({ name: 'hostA', dir });
    try {
      await host.start();
      const info = await host.startVm({ name: 'big', memoryMiB: 2048 });
      expect(info.memoryMiB).toBe(2048);
      expect(host.vms.get('big')?.vm.ram.size).toBe(2048 * 1024 * 1024);
    } finally {
      await host.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
