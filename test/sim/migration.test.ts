import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { QmpClient } from '../../src/qmp/client.js';
import { QemuMonitor } from '../../src/qmp/monitor.js';
import type { SimDevice, SimDeviceContext } from '../../src/sim/device.js';
import { firstDifferentPage, PAGE_SIZE } from '../../src/sim/ram.js';
import { SimVm, type SimVmOptions } from '../../src/sim/vm.js';

jest.setTimeout(30_000);

let dir: string;
let vms: SimVm[];
let clients: QmpClient[];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-sim-migration-'));
  vms = [];
  clients = [];
});
afterEach(async () => {
  for (const client of clients) client.destroy();
  await Promise.all(vms.map((vm) => vm.exit(0, 'test cleanup')));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function start(options: SimVmOptions): Promise<{ vm: SimVm; monitor: QemuMonitor }> {
  const vm = new SimVm(options);
  vms.push(vm);
  await vm.listen(path.join(dir, `${options.name}.qmp`));
  const client = await QmpClient.connect(`unix:${path.join(dir, `${options.name}.qmp`)}`);
  clients.push(client);
  return { vm, monitor: new QemuMonitor(client) };
}

/** A destination listening on a free port, and a source with the given capabilities. */
async function pair(source: Partial<SimVmOptions>, destination: Partial<SimVmOptions>, capabilities: Record<string, boolean>, incoming: { exitOnError?: boolean } = {}) {
  const dst = await start({ name: 'destination', memoryBytes: 32 << 20, paused: true, incoming: true, ...destination });
  const src = await start({ name: 'source', memoryBytes: 32 << 20, fillRandom: true, ...source });
  await dst.monitor.migrateSetCapabilities({ events: true, ...capabilities });
  await dst.monitor.migrateIncoming('tcp:127.0.0.1:0', incoming);
  const info = (await dst.monitor.queryMigrate()) as Record<string, unknown>;
  const port = Number((info['socket-address'] as { port: string }[])[0]?.port);
  await src.monitor.migrateSetCapabilities({ events: true, ...capabilities });
  return { src, dst, uri: `tcp:127.0.0.1:${port}` };
}

const done = (monitor: QemuMonitor) =>
  monitor.client.waitFor('MIGRATION', (e) => ['completed', 'failed', 'cancelled'].includes(String(e.data?.status)), 20_000);

/** A device that writes "received packets" into guest RAM by DMA, optionally reporting them dirty before the final sync. */
class DmaDevice implements SimDevice {
  context!: SimDeviceContext;
  readonly written: number[] = [];
  loaded: Buffer | undefined;
  constructor(
    readonly id: string,
    private readonly reportDirty: boolean,
    private readonly refuse = false,
  ) {}
  attach(context: SimDeviceContext): void {
    this.context = context;
  }
  dma(page: number): void {
    this.context.ram.write(page * PAGE_SIZE, Buffer.from(`packet for page ${page}`), { markDirty: false });
    this.written.push(page);
  }
  beforeFinalSync(): void {
    if (this.reportDirty) for (const page of this.written) this.context.ram.markDirty(page * PAGE_SIZE, 1);
  }
  saveState(): Uint8Array {
    return Buffer.from(JSON.stringify({ rings: [1, 2, 3] }));
  }
  loadState(state: Uint8Array): void {
    if (this.refuse) throw new Error('VF state does not fit this PF');
    this.loaded = Buffer.from(state);
  }
}

describe('migration between two simulated QEMUs', () => {
  it('converges under a dirtying guest, pauses before switchover, and leaves both RAMs byte-identical', async () => {
    const { src, dst, uri } = await pair({ dirtyPagesPerSecond: 20_000, workingSetBytes: 4 << 20 }, {}, { 'pause-before-switchover': true });
    await src.monitor.migrateSetParameters({ 'max-bandwidth': 256 << 20, 'downtime-limit': 100 });
    const paused = src.monitor.client.waitFor('MIGRATION', (e) => e.data?.status === 'pre-switchover', 20_000);
    const passes = src.monitor.client.listen({ names: ['MIGRATION_PASS'] });
    await src.monitor.migrate(uri);
    await paused;
    expect(await src.monitor.queryStatus()).toMatchObject({ status: 'finish-migrate', running: false });
    const atPause = await src.monitor.queryMigrate();
    expect(atPause.ram?.['dirty-sync-count']).toBeGreaterThanOrEqual(2);
    const sourceDone = done(src.monitor);
    const destinationDone = done(dst.monitor);
    await src.monitor.migrateContinue('pre-switchover');
    expect((await sourceDone).data?.status).toBe('completed');
    expect((await destinationDone).data?.status).toBe('completed');
    const info = await src.monitor.queryMigrate();
    expect(info.ram?.remaining).toBe(0);
    expect(info.ram?.transferred).toBeGreaterThan(32 << 20);
    expect(info.downtime).toBeGreaterThanOrEqual(0);
    expect(passes.drain().length).toBeGreaterThanOrEqual(3);
    // The source has not run since STOP: its RAM is the RAM at switchover.
    expect(src.vm.workload.pagesWritten).toBeGreaterThan(0);
    expect(firstDifferentPage(src.vm.ram, dst.vm.ram)).toBe(-1);
    expect(await dst.monitor.queryStatus()).toMatchObject({ status: 'paused' });
  });

  it('counts zero pages as duplicate and sends them as 5-byte records', async () => {
    const { src, dst, uri } = await pair({ fillRandom: false }, {}, {});
    src.vm.ram.write(2 << 20, Buffer.alloc(3 * PAGE_SIZE, 0xaa));
    const finished = Promise.all([done(src.monitor), done(dst.monitor)]);
    await src.monitor.migrate(uri);
    await finished;
    const ram = (await src.monitor.queryMigrate()).ram;
    expect(ram?.normal).toBe(3);
    expect(ram?.duplicate).toBe(src.vm.ram.pageCount - 3);
    expect(ram?.transferred).toBeLessThan(src.vm.ram.pageCount * 6 + 4 * PAGE_SIZE);
    expect(firstDifferentPage(src.vm.ram, dst.vm.ram)).toBe(-1);
  });

  it('DMA that the dirty log does not see reaches the destination only if the device reports it', async () => {
    for (const reportDirty of [false, true]) {
      const sourceDevice = new DmaDevice('vf0', reportDirty);
      const destinationDevice = new DmaDevice('vf0', false);
      const { src, dst, uri } = await pair({ devices: [sourceDevice], name: `source-${reportDirty}` }, { devices: [destinationDevice], name: `destination-${reportDirty}` }, { 'pause-before-switchover': true });
      const paused = src.monitor.client.waitFor('MIGRATION', (e) => e.data?.status === 'pre-switchover', 20_000);
      await src.monitor.migrate(uri);
      await paused;
      // The page went out in pass 1 already; the NIC now writes into it behind KVM's back.
      sourceDevice.dma(300);
      const finished = Promise.all([done(src.monitor), done(dst.monitor)]);
      await src.monitor.migrateContinue('pre-switchover');
      await finished;
      expect(firstDifferentPage(src.vm.ram, dst.vm.ram)).toBe(reportDirty ? -1 : 300);
      expect(JSON.parse(String(destinationDevice.loaded))).toEqual({ rings: [1, 2, 3] });
    }
  });

  it('a device refusing its state fails the destination (exit 1); with return-path the source fails and runs again', async () => {
    const { src, dst, uri } = await pair({ devices: [new DmaDevice('vf0', true)] }, { devices: [new DmaDevice('vf0', false, true)] }, { 'return-path': true });
    const resumed = src.monitor.client.waitFor('RESUME', undefined, 20_000);
    const sourceDone = done(src.monitor);
    await src.monitor.migrate(uri);
    expect((await sourceDone).data?.status).toBe('failed');
    await resumed;
    expect((await dst.vm.exited).code).toBe(1);
    const info = await src.monitor.queryMigrate();
    expect(info['error-desc']).toMatch(/vf0.*VF state does not fit this PF/);
    expect(await src.monitor.queryStatus()).toMatchObject({ status: 'running' });
  });

  it('QEMU 10.0, migrate-incoming exit-on-error false: a device refusing its state leaves the destination alive, failed, with its error', async () => {
    const log: string[] = [];
    const { src, dst, uri } = await pair(
      { qemuVersion: '10.0', devices: [new DmaDevice('vf0', true)] },
      { qemuVersion: '10.0', devices: [new DmaDevice('vf0', false, true)], log: (message) => log.push(message) },
      { 'return-path': true },
      { exitOnError: false },
    );
    const sourceDone = done(src.monitor);
    const destinationDone = done(dst.monitor);
    await src.monitor.migrate(uri);
    expect((await sourceDone).data?.status).toBe('failed');
    expect((await destinationDone).data?.status).toBe('failed');
    expect(dst.vm.hasExited).toBe(false);
    const info = await dst.monitor.queryMigrate();
    expect(info).toMatchObject({ status: 'failed' });
    // As QEMU 10.0: the errno in error-desc, the why in the log (QEMU's stderr).
    expect(info['error-desc']).toBe('load of migration failed: Invalid argument');
    expect(log.join('\n')).toMatch(/incoming migration failed: .*vf0.*VF state does not fit this PF/);
    expect(await dst.monitor.queryStatus()).toMatchObject({ status: 'inmigrate', running: false });
    // The orchestrator removes it: quit works as on any QEMU.
    await dst.monitor.quitAndWait({ quitTimeoutMs: 5000 });
    expect((await dst.vm.exited).code).toBe(0);
  });

  it('QEMU 7.2 refuses exit-on-error as an unexpected argument', async () => {
    const dst = await start({ name: 'destination', memoryBytes: 16 << 20, paused: true, incoming: true });
    await expect(dst.monitor.migrateIncoming('tcp:127.0.0.1:0', { exitOnError: false })).rejects.toMatchObject({ errorClass: 'GenericError', desc: "Parameter 'exit-on-error' is unexpected" });
    expect(await dst.monitor.queryStatus()).toMatchObject({ status: 'inmigrate' });
  });

  it('without return-path the source completes even though the destination refused (as QEMU)', async () => {
    const { src, dst, uri } = await pair({ devices: [new DmaDevice('vf0', true)] }, { devices: [new DmaDevice('vf0', false, true)] }, {});
    const sourceDone = done(src.monitor);
    await src.monitor.migrate(uri);
    expect((await sourceDone).data?.status).toBe('completed');
    expect((await dst.vm.exited).code).toBe(1);
  });

  it('a guest dirtying faster than the bandwidth does not converge until max-bandwidth is raised live', async () => {
    const small = { memoryBytes: 8 << 20 };
    const { src, dst, uri } = await pair({ ...small, dirtyPagesPerSecond: 8000, workingSetBytes: 4 << 20 }, small, {});
    // 8000 pages/s is 32 MiB/s of dirty data against 16 MiB/s of bandwidth: never below
    // the 50 ms threshold. (Random RAM, so that pass 1 itself takes a while.)
    await src.monitor.migrateSetParameters({ 'max-bandwidth': 16 << 20, 'downtime-limit': 50 });
    const thirdPass = src.monitor.client.waitFor('MIGRATION_PASS', (e) => Number(e.data?.pass) >= 3, 20_000);
    await src.monitor.migrate(uri);
    await thirdPass;
    expect((await src.monitor.queryMigrate()).status).toBe('active');
    const finished = Promise.all([done(src.monitor), done(dst.monitor)]);
    await src.monitor.migrateSetParameters({ 'max-bandwidth': 1 << 30, 'downtime-limit': 2000 });
    const [source] = await finished;
    expect(source.data?.status).toBe('completed');
    expect(firstDifferentPage(src.vm.ram, dst.vm.ram)).toBe(-1);
  });

  it('measures the stream: 64 MiB of random RAM without a bandwidth limit', async () => {
    const { src, dst, uri } = await pair({ memoryBytes: 64 << 20 }, { memoryBytes: 64 << 20 }, {});
    await src.monitor.migrateSetParameters({ 'max-bandwidth': 8 * 2 ** 30 });
    const finished = Promise.all([done(src.monitor), done(dst.monitor)]);
    const started = performance.now();
    await src.monitor.migrate(uri);
    await finished;
    const seconds = (performance.now() - started) / 1000;
    const info = await src.monitor.queryMigrate();
    process.stderr.write(`sim stream: 64 MiB random RAM in ${seconds.toFixed(2)} s = ${(64 / seconds).toFixed(0)} MiB/s (total-time ${info['total-time']} ms, downtime ${info.downtime} ms)\n`);
    expect(firstDifferentPage(src.vm.ram, dst.vm.ram)).toBe(-1);
  });
});
