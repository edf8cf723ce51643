import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, expect, it, jest } from '@jest/globals';
import type { QmpEvent } from '../../src/qmp/client.js';
import { QemuMonitor } from '../../src/qmp/monitor.js';
import { describeEachQemu, QemuHarness } from '../helpers/qemu.js';
import { TranscriptRecorder } from '../helpers/transcript.js';
import { waitUntil } from '../helpers/wait.js';

jest.setTimeout(120_000);

const MEMORY_MIB = 128;

function fillRandom(file: string, mib: number): void {
  const fd = fs.openSync(file, 'w');
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < mib; i++) {
      crypto.randomFillSync(chunk);
      fs.writeSync(fd, chunk);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Index of the first differing 4 KiB page of two equally sized files, or -1. */
function firstDifferentPage(a: string, b: string): number {
  const left = fs.readFileSync(a);
  const right = fs.readFileSync(b);
  if (left.length !== right.length) return 0;
  for (let offset = 0; offset < left.length; offset += 4096) {
    if (left.compare(right, offset, offset + 4096, offset, offset + 4096) !== 0) return offset / 4096;
  }
  return -1;
}

function incomingPort(info: Record<string, unknown>): number {
  const addresses = info['socket-address'] as { type: string; port?: string | number }[] | undefined;
  const port = Number(addresses?.[0]?.port);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`destination reported no listening port: ${JSON.stringify(info)}`);
  return port;
}

describeEachQemu('live migration between two real QEMU processes of one version', (qemu) => {
  let harness: QemuHarness;
  beforeEach(() => {
    harness = new QemuHarness('migration', qemu.binary);
  });
  afterEach(async () => {
    await harness.cleanup();
  });

  it('moves random RAM over TCP with pause-before-switchover, leaving both RAM files byte-identical', async () => {
    // TCG, not KVM: with nested KVM one BIOS shadow page escapes the dirty log
    // (REFERENCE-qmp.md, point 7), and this test compares every byte.
    const recorder = new TranscriptRecorder(
      'migration-pause-before-switchover',
      `${MEMORY_MIB} MiB random RAM, source running, destination -S -incoming defer, pause-before-switchover, migrate-continue`,
      'tcg',
    );
    const sourceRam = path.join(harness.dir, 'source.ram');
    const destinationRam = path.join(harness.dir, 'destination.ram');
    fillRandom(sourceRam, MEMORY_MIB);
    fs.writeFileSync(destinationRam, '');
    fs.truncateSync(destinationRam, MEMORY_MIB << 20);

    const source = harness.start({ name: 'source', memoryMiB: MEMORY_MIB, memoryFile: sourceRam, accel: 'tcg' });
    const destination = harness.start({ name: 'destination', memoryMiB: MEMORY_MIB, memoryFile: destinationRam, accel: 'tcg', paused: true, incoming: true });
    const src = new QemuMonitor(await source.connect({ onTraffic: recorder.side('source') }));
    const dst = new QemuMonitor(await destination.connect({ onTraffic: recorder.side('destination') }));

    expect(await dst.queryStatus()).toMatchObject({ status: 'inmigrate', running: false });
    await dst.migrateSetCapabilities({ events: true });
    const destinationEvents = dst.client.listen({ names: ['MIGRATION', 'STOP', 'RESUME'] });
    await dst.migrateIncoming('tcp:127.0.0.1:0');
    const port = incomingPort(await dst.queryMigrate());

    await src.migrateSetCapabilities({ events: true, 'pause-before-switchover': true });
    await src.migrateSetParameters({ 'max-bandwidth': 1 << 30, 'downtime-limit': 300 });
    const sourceEvents = src.client.listen({ names: ['MIGRATION', 'MIGRATION_PASS', 'STOP', 'RESUME'] });
    const preSwitchover = src.client.waitFor('MIGRATION', (e) => e.data?.status === 'pre-switchover', 60_000);
    await src.migrate(`tcp:127.0.0.1:${port}`);
    await preSwitchover;

    // vCPUs are stopped while the migration waits for us.
    expect(await src.queryStatus()).toMatchObject({ status: 'finish-migrate', running: false });
    expect(await src.queryMigrate()).toMatchObject({ status: 'pre-switchover' });

    const sourceDone = src.client.waitFor('MIGRATION', (e) => ['completed', 'failed'].includes(String(e.data?.status)), 60_000);
    const destinationDone = dst.client.waitFor('MIGRATION', (e) => ['completed', 'failed'].includes(String(e.data?.status)), 60_000);
    await src.migrateContinue('pre-switchover');
    expect((await sourceDone).data?.status).toBe('completed');
    expect((await destinationDone).data?.status).toBe('completed');

    const info = await src.queryMigrate();
    expect(info.status).toBe('completed');
    expect(info.downtime).toBeGreaterThanOrEqual(0);
    expect(info.ram?.total).toBeGreaterThanOrEqual(MEMORY_MIB << 20); // plus ROM and firmware blocks
    expect(info.ram?.transferred).toBeGreaterThan((MEMORY_MIB << 20) * 0.9);
    expect(await src.queryStatus()).toMatchObject({ status: 'postmigrate', running: false });
    expect(await dst.queryStatus()).toMatchObject({ status: 'paused', running: false });

    // The order of events on each side, the same on 7.2 and 10.0 (REFERENCE-qmp.md).
    const summary = (events: QmpEvent[]) =>
      events.map((e) => (e.event === 'MIGRATION' ? `MIGRATION:${String(e.data?.status)}` : e.event)).filter((name) => name !== 'MIGRATION_PASS');
    expect(summary(sourceEvents.drain())).toEqual([
      'MIGRATION:setup',
      'MIGRATION:active',
      'STOP',
      'MIGRATION:pre-switchover',
      'MIGRATION:device',
      'MIGRATION:completed',
    ]);
    expect(summary(destinationEvents.drain())).toEqual(['MIGRATION:setup', 'MIGRATION:active', 'MIGRATION:completed']);

    expect(firstDifferentPage(sourceRam, destinationRam)).toBe(-1);

    // The destination runs on `cont`, the source stays in postmigrate.
    const resumed = dst.client.waitFor('RESUME', undefined, 10_000);
    await dst.cont();
    await resumed;
    expect(await dst.queryStatus()).toMatchObject({ status: 'running' });
    expect(await src.queryStatus()).toMatchObject({ status: 'postmigrate' });
    recorder.save();
  });
  /** A source and a destination connected and migrating slowly (so there is time to interfere). */
  async function startSlowMigration(recorder: TranscriptRecorder) {
    const sourceRam = path.join(harness.dir, 'source.ram');
    fillRandom(sourceRam, MEMORY_MIB);
    const source = harness.start({ name: 'source', memoryMiB: MEMORY_MIB, memoryFile: sourceRam, accel: 'tcg' });
    const destination = harness.start({ name: 'destination', memoryMiB: MEMORY_MIB, accel: 'tcg', paused: true, incoming: true });
    const src = new QemuMonitor(await source.connect({ onTraffic: recorder.side('source') }));
    const dst = new QemuMonitor(await destination.connect({ onTraffic: recorder.side('destination') }));
    await dst.migrateSetCapabilities({ events: true });
    await dst.migrateIncoming('tcp:127.0.0.1:0');
    const port = incomingPort(await dst.queryMigrate());
    await src.migrateSetCapabilities({ events: true, 'pause-before-switchover': true });
    // 8 MiB/s: the 128 MiB of random RAM needs about 16 s, far more than the test waits.
    await src.migrateSetParameters({ 'max-bandwidth': 8 << 20 });
    const sourceEvents = src.client.listen({ names: ['MIGRATION', 'STOP', 'RESUME'] });
    const active = src.client.waitFor('MIGRATION', (e) => e.data?.status === 'active', 30_000);
    await src.migrate(`tcp:127.0.0.1:${port}`);
    await active;
    return { source, destination, src, dst, sourceEvents };
  }

  const statuses = (events: QmpEvent[]) => events.map((e) => (e.event === 'MIGRATION' ? `MIGRATION:${String(e.data?.status)}` : e.event));

  it('migrate_cancel while active: source cancelled and still running, destination QEMU exits', async () => {
    const recorder = new TranscriptRecorder('migration-cancel-active', 'migrate_cancel on the source while the migration is active', 'tcg');
    const { destination, src, sourceEvents } = await startSlowMigration(recorder);
    const cancelled = src.client.waitFor('MIGRATION', (e) => e.data?.status === 'cancelled', 30_000);
    await src.migrateCancel();
    await cancelled;
    expect(statuses(sourceEvents.drain())).toEqual(['MIGRATION:setup', 'MIGRATION:active', 'MIGRATION:cancelling', 'MIGRATION:cancelled']);
    expect(await src.queryMigrate()).toMatchObject({ status: 'cancelled' });
    expect(await src.queryStatus()).toMatchObject({ status: 'running', running: true });
    // An incoming migration that fails ends the destination process (exit code 1).
    expect((await destination.exited).code).toBe(1);
    recorder.save();
  });

  it('destination killed mid-stream: source migration fails with error-desc, source keeps running', async () => {
    const recorder = new TranscriptRecorder('migration-destination-killed', 'destination QEMU SIGKILLed while the migration is active', 'tcg');
    const { destination, src, sourceEvents } = await startSlowMigration(recorder);
    const failed = src.client.waitFor('MIGRATION', (e) => e.data?.status === 'failed', 30_000);
    destination.child.kill('SIGKILL');
    await failed;
    expect(statuses(sourceEvents.drain())).toEqual(['MIGRATION:setup', 'MIGRATION:active', 'MIGRATION:failed']);
    const info = await src.queryMigrate();
    expect(info.status).toBe('failed');
    expect(info['error-desc']).toEqual(expect.any(String));
    expect(await src.queryStatus()).toMatchObject({ status: 'running', running: true });
    recorder.save();
  });

  it('cont on a source in postmigrate resumes it (the rollback path after switchover)', async () => {
    const recorder = new TranscriptRecorder('migration-rollback-cont', 'migration completed, destination discarded, source resumed with cont from postmigrate', 'tcg');
    const source = harness.start({ name: 'source', memoryMiB: 64, accel: 'tcg' });
    const destination = harness.start({ name: 'destination', memoryMiB: 64, accel: 'tcg', paused: true, incoming: true });
    const src = new QemuMonitor(await source.connect({ onTraffic: recorder.side('source') }));
    const dst = new QemuMonitor(await destination.connect({ onTraffic: recorder.side('destination') }));
    await dst.migrateSetCapabilities({ events: true });
    await dst.migrateIncoming('tcp:127.0.0.1:0');
    const port = incomingPort(await dst.queryMigrate());
    await src.migrateSetCapabilities({ events: true });
    const completed = src.client.waitFor('MIGRATION', (e) => e.data?.status === 'completed', 60_000);
    await src.migrate(`tcp:127.0.0.1:${port}`);
    await completed;
    // MIGRATION completed can arrive while the source still says finish-migrate; postmigrate
    // follows when QEMU's migration thread has cleaned up.
    const status = await waitUntil('the source to leave finish-migrate after MIGRATION completed', () => src.queryStatus(), (s) => s.status !== 'finish-migrate', { intervalMs: 10 });
    expect(status).toMatchObject({ status: 'postmigrate', running: false });
    destination.child.kill('SIGKILL');
    await destination.exited;
    const resumed = src.client.waitFor('RESUME', undefined, 10_000);
    await src.cont();
    await resumed;
    expect(await src.queryStatus()).toMatchObject({ status: 'running', running: true });
    recorder.save();
  });

  it('refuses migrate-continue outside pre-switchover and a malformed migrate URI with GenericError', async () => {
    const recorder = new TranscriptRecorder('migration-bad-arguments', 'bad migration arguments and commands in the wrong state', 'tcg');
    const source = harness.start({ name: 'source', memoryMiB: 64, accel: 'tcg' });
    const src = new QemuMonitor(await source.connect({ onTraffic: recorder.side('source') }));
    await expect(src.migrateContinue('pre-switchover')).rejects.toMatchObject({ errorClass: 'GenericError' });
    expect(await src.queryMigrate()).toEqual({});
    await expect(src.migrate('bogus:uri')).rejects.toMatchObject({ errorClass: 'GenericError' });
    await expect(src.migrateSetParameters({ 'downtime-limit': -1 })).rejects.toMatchObject({ errorClass: 'GenericError' });
    await expect(src.client.execute('migrate-set-capabilities', { capabilities: [{ capability: 'no-such-capability', state: true }] })).rejects.toMatchObject({
      errorClass: 'GenericError',
    });
    // A migrate that cannot start leaves the migration state at failed on 7.2; 10.0 checks
    // the URI before it starts one, and query-migrate stays empty.
    if (qemu.version === '7.2') expect(await src.queryMigrate()).toMatchObject({ status: 'failed' });
    else expect(await src.queryMigrate()).toEqual({});
    expect(await src.queryStatus()).toMatchObject({ status: 'running' });
    recorder.save();
  });
});
