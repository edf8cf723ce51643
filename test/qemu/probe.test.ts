import net from 'node:net';
import { afterEach, beforeEach, expect, it, jest } from '@jest/globals';
import { QemuHost } from '../../src/hosts/qemu-host.js';
import { QmpClient } from '../../src/qmp/client.js';
import { QemuLab } from '../helpers/qemu-lab.js';
import { describeEachQemu } from '../helpers/qemu.js';
import { waitUntil } from '../helpers/wait.js';

jest.setTimeout(60_000);

/**
 * QemuHost.probeVm against real QEMU, on each version: busy is not gone. QEMU serves one client per
 * monitor and queues two more; the next connect fails at once with EAGAIN.
 */
describeEachQemu('probeVm on real QEMU', (qemu) => {
  let lab: QemuLab;
  let host: QemuHost;
  const sockets: net.Socket[] = [];
  const clients: QmpClient[] = [];

  beforeEach(() => {
    lab = new QemuLab([{ name: 'vm1', memoryMiB: 32 }], 'tcg', undefined, { a: qemu.binary, b: qemu.binary });
    host = new QemuHost(lab.configs[0] as never, lab.specs, { probeTimeoutMs: 1000 });
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    for (const client of clients.splice(0)) client.destroy();
    await lab.cleanup();
  });

  /** A raw connection QEMU queues without greeting it (the kernel completes the connect). */
  function queued(path: string): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(path);
      socket.once('connect', () => resolve(socket));
      socket.once('error', reject);
      sockets.push(socket);
    });
  }

  it('running; busy when another client holds the monitor (no greeting) and when its queue is full (EAGAIN); gone once SIGKILLed', async () => {
    const started = await lab.startRunning('vm1', 'hostA');
    const pid = started.pid as number;
    started.monitor.disconnect();
    const running = await host.probeVm('vm1');
    running.monitor?.disconnect();
    expect(running.presence).toMatchObject({ state: 'running', status: 'running' });

    clients.push(await QmpClient.connect(`unix:${host.qmpPath('vm1')}`));
    const held = await host.probeVm('vm1');
    expect(held.presence).toMatchObject({ state: 'unknown', busy: true, reason: expect.stringContaining('no QMP greeting') });

    // QEMU's queue (listen backlog 1) takes two connects; the probe's own abandoned one may
    // still sit in it. Fill it until the kernel refuses: then the probe is refused at once too.
    let refused = false;
    for (let i = 0; i < 4 && !refused; i++) {
      await queued(host.qmpPath('vm1')).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EAGAIN') throw error;
        refused = true;
      });
    }
    expect(refused).toBe(true);
    const begun = performance.now();
    const full = await host.probeVm('vm1');
    expect(full.presence).toMatchObject({ state: 'unknown', busy: true, reason: expect.stringContaining('EAGAIN') });
    expect(performance.now() - begun).toBeLessThan(500);

    for (const socket of sockets.splice(0)) socket.destroy();
    for (const client of clients.splice(0)) client.destroy();
    // QEMU works through the connections it had queued; stop it only once its monitor is free,
    // so that what the probe meets is the stop, not the queue's leftovers.
    await waitUntil(
      'the monitor free again after the queued clients left',
      async () => {
        const probe = await host.probeVm('vm1');
        probe.monitor?.disconnect();
        return probe.presence.state;
      },
      (state) => state === 'running',
    );
    process.kill(pid, 'SIGSTOP');
    try {
      const stopped = await host.probeVm('vm1');
      expect(stopped.presence).toMatchObject({ state: 'unknown', busy: true });
    } finally {
      process.kill(pid, 'SIGCONT');
    }

    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (lab.livePids().includes(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const gone = await host.probeVm('vm1');
    expect(gone.presence).toMatchObject({ state: 'gone', reason: expect.stringMatching(/QEMU process \d+ .*does not exist/) });
  });
});
