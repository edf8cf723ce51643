import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { SimulatedHost } from '../../src/hosts/sim-host.js';
import { VmSpecSchema } from '../../src/inventory/vm-spec.js';
import { QmpClient } from '../../src/qmp/client.js';
import { SimHost } from '../../src/sim/host.js';

jest.setTimeout(60_000);

/**
 * probeVm on a simulated host: the four answers (running, paused, gone, unknown) from facts,
 * and never "gone" for a QEMU that merely does not answer.
 */
describe('SimulatedHost.probeVm', () => {
  let dir: string;
  let host: SimHost;
  let handle: SimulatedHost;
  const clients: QmpClient[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-probe-${process.pid}-`));
    host = new SimHost({ name: 'hostA', dir });
    await host.start();
    const specs = new Map([['vm1', VmSpecSchema.parse({ name: 'vm1', memoryMiB: 16 })]]);
    handle = new SimulatedHost({ name: 'hostA', kind: 'sim', runDir: dir, migrationAddress: '127.0.0.1' } as never, specs, { probeTimeoutMs: 800 });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await host.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('running and paused VMs answer with their run state and migration status', async () => {
    await host.startVm({ name: 'vm1', memoryMiB: 16 });
    const running = await handle.probeVm('vm1');
    running.monitor?.disconnect();
    expect(running.presence).toEqual({ state: 'running', status: 'running', migration: undefined });
    await host.stopVm('vm1');
    await host.startVm({ name: 'vm1', memoryMiB: 16 }, { paused: true, incoming: true });
    const paused = await handle.probeVm('vm1');
    paused.monitor?.disconnect();
    expect(paused.presence).toMatchObject({ state: 'paused', status: 'inmigrate' });
  });

  it('a VM that never ran or has quit is gone, and says why', async () => {
    expect((await handle.probeVm('vm1')).presence).toMatchObject({ state: 'gone', reason: expect.stringMatching(/no QMP socket .*not exist/) });
    await host.startVm({ name: 'vm1', memoryMiB: 16 });
    const monitor = await handle.connectVm('vm1');
    await monitor?.quitAndWait({ quitTimeoutMs: 5000 });
    expect((await handle.probeVm('vm1')).presence).toMatchObject({ state: 'gone' });
  });

  it('a socket left by a killed process, with nothing listening, is gone (ECONNREFUSED)', async () => {
    const socket = path.join(dir, 'vm1.qmp');
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket)}, () => console.log('listening'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the child did not listen on the socket within 10 s')), 10_000);
      child.stdout.once('data', () => (clearTimeout(timer), resolve()));
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(fs.existsSync(socket)).toBe(true);
    expect((await handle.probeVm('vm1')).presence).toMatchObject({ state: 'gone', reason: expect.stringContaining('ECONNREFUSED') });
  });

  it('a monitor held by another client is busy, never gone, within the probe deadline', async () => {
    await host.startVm({ name: 'vm1', memoryMiB: 16 });
    clients.push(await QmpClient.connect(`unix:${path.join(dir, 'vm1.qmp')}`));
    const started = performance.now();
    const probe = await handle.probeVm('vm1');
    expect(probe.monitor).toBeUndefined();
    expect(probe.presence).toMatchObject({ state: 'unknown', busy: true, reason: expect.stringContaining('another client holds the monitor') });
    expect(performance.now() - started).toBeLessThan(5000);
    // Once the other client lets go, the VM answers again.
    clients.splice(0).forEach((client) => client.destroy());
    const again = await handle.probeVm('vm1');
    again.monitor?.disconnect();
    expect(again.presence).toMatchObject({ state: 'running' });
  });

  it('a monitor that greets and then does not answer qmp_capabilities is busy (hung), never gone', async () => {
    await host.startVm({ name: 'vm1', memoryMiB: 16 });
    // The socket replaced by one that greets as QEMU does and then says nothing more.
    const socket = path.join(dir, 'vm1.qmp');
    fs.rmSync(socket);
    const silent = new Set<net.Socket>();
    const server = net.createServer((connection) => {
      silent.add(connection);
      connection.write(`${JSON.stringify({ QMP: { version: { qemu: { micro: 0, minor: 0, major: 10 }, package: '' }, capabilities: ['oob'] } })}\r\n`);
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const started = performance.now();
      const probe = await handle.probeVm('vm1');
      expect(probe.monitor).toBeUndefined();
      expect(probe.presence).toMatchObject({ state: 'unknown', busy: true, reason: expect.stringContaining('greeted but did not answer qmp_capabilities within 800 ms') });
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      for (const connection of silent) connection.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a socket that does not answer while the host lists the VM is unknown, not gone', async () => {
    await host.startVm({ name: 'vm1', memoryMiB: 16 });
    // The socket file replaced by one nobody listens on: the host still says vm1 runs.
    const socket = path.join(dir, 'vm1.qmp');
    fs.rmSync(socket);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect((await handle.probeVm('vm1')).presence).toMatchObject({ state: 'unknown', busy: false, reason: expect.stringContaining('vm1 in the VM list of simulated host process') });
  });
});
