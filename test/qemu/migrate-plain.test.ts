import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, expect, it, jest } from '@jest/globals';
import { MigrationError } from '../../src/migration/errors.js';
import type { MigrationEvent, Phase } from '../../src/migration/events.js';
import { readJournal } from '../../src/migration/journal.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration, type MigrationOptions } from '../../src/migration/orchestrator.js';
import { PlainStrategy } from '../../src/migration/strategy.js';
import { QemuLab } from '../helpers/qemu-lab.js';
import { describeEachQemu } from '../helpers/qemu.js';
import { waitUntil } from '../helpers/wait.js';

jest.setTimeout(120_000);

const MIB = 64;

describeEachQemu('nicmig migration, plain strategy, between real QEMU processes of one version', (qemu) => {
  let lab: QemuLab;
  beforeEach(() => {
    // TCG: byte-for-byte RAM comparison (REFERENCE-qmp.md, point 7).
    lab = new QemuLab([{ name: 'vm1', memoryMiB: MIB, memoryBackend: { type: 'file', path: '{host}/{vm}.ram' } }], 'tcg', undefined, { a: qemu.binary, b: qemu.binary });
  });
  afterEach(async () => {
    await lab.cleanup();
  });

  function migration(options: Partial<MigrationOptions> = {}, atPhase?: (phase: Phase) => Promise<void> | void, signal?: AbortSignal) {
    const events: MigrationEvent[] = [];
    const run = new Migration(
      { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 100, ...options } },
      {
        hosts: lab.hosts,
        strategy: new PlainStrategy(),
        journalDir: path.join(lab.dir, 'journal'),
        onEvent: (event) => events.push(event),
        atPhase,
        signal,
      },
    );
    return { run, events };
  }

  async function statusOn(host: string): Promise<string | undefined> {
    const monitor = await lab.host(host).connectVm('vm1');
    if (!monitor) return undefined;
    try {
      return (await monitor.queryStatus()).status;
    } finally {
      monitor.client.destroy();
    }
  }

  it('moves a running VM: destination runs, source quit, RAM identical at switchover, journal finished', async () => {
    const source = await lab.startRunning('vm1', 'hostA', MIB);
    source.monitor.client.destroy();
    let ramCompared = false;
    const { run, events } = migration({}, (phase) => {
      if (phase !== 'resume') return;
      // Both sides stopped: the source in postmigrate, the destination paused before cont.
      expect(fs.readFileSync(lab.ramFile('hostA', 'vm1')).equals(fs.readFileSync(lab.ramFile('hostB', 'vm1')))).toBe(true);
      ramCompared = true;
    });
    const summary = await run.run();
    expect(ramCompared).toBe(true);
    expect(summary).toMatchObject({ status: 'migrated', vm: 'vm1', from: 'hostA', to: 'hostB', strategy: 'plain', rolledBack: false, cleanupWarnings: [] });
    expect(summary.downtimeMs).toBeGreaterThanOrEqual(0);
    // TCG runs this guest: QEMU before 9.0 loses writes then (its bug), and preflight says so.
    const tcgWarnings = summary.preflightWarnings.filter((w) => w.includes('runs the guest under TCG'));
    expect(tcgWarnings).toHaveLength(qemu.version === '7.2' ? 1 : 0);
    if (qemu.version === '7.2') expect(events).toContainEqual({ type: 'warning', message: tcgWarnings[0] });
    expect(summary.measuredDowntimeMs).toBeGreaterThan(0);
    expect(summary.orchestratorDowntimeMs).toBeGreaterThan(0);
    expect(summary.bytes).toBeGreaterThan((MIB << 20) * 0.9);
    expect(await statusOn('hostB')).toBe('running');
    expect(await statusOn('hostA')).toBeUndefined();
    expect(lab.livePids()).toHaveLength(1);
    const phases = events.filter((e) => e.type === 'phase' && e.state === 'done').map((e) => (e as { phase: string }).phase);
    expect(phases).toEqual(['resolve', 'preflight', 'prepare', 'precopy', 'switchover', 'resume', 'cleanup']);
    expect(events).toContainEqual(expect.objectContaining({ type: 'phase', phase: 'replay', state: 'skipped' }));
    const journal = readJournal(summary.journal as string).records.map((r) => r.event);
    expect(journal[0]).toBe('begin');
    expect(journal.indexOf('destination-resuming')).toBeLessThan(journal.indexOf('destination-resumed'));
    expect(journal.indexOf('migration-completed')).toBeLessThan(journal.indexOf('destination-resuming'));
    // The pre-cont record goes with the switchover, synced while the stream finishes.
    expect(journal.indexOf('switchover')).toBe(journal.indexOf('cont-may-follow') - 1);
    expect(journal.indexOf('cont-may-follow')).toBeLessThan(journal.indexOf('migration-completed'));
    expect(journal[journal.length - 1]).toBe('finished');
  });

  it.each<Phase>(['prepare', 'precopy', 'switchover', 'resume'])('a failure at %s rolls back: source running, destination gone, exit 11', async (failAt) => {
    await lab.startRunning('vm1', 'hostA').then((vm) => vm.monitor.client.destroy());
    const { run, events } = migration({}, (phase) => {
      if (phase === failAt) throw new Error(`injected failure at ${phase}`);
    });
    const error = await run.run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect(error).toMatchObject({ exitCode: 11, code: 'MIGRATION_FAILED' });
    expect(await statusOn('hostA')).toBe('running');
    expect(await statusOn('hostB')).toBeUndefined();
    expect(lab.livePids()).toHaveLength(1);
    expect(events.filter((e) => e.type === 'rollback').every((e) => (e as { ok: boolean }).ok)).toBe(true);
  });

  it('the destination QEMU killed during pre-copy: rolled back, source running', async () => {
    await lab.startRunning('vm1', 'hostA', MIB).then((vm) => vm.monitor.client.destroy());
    const { run, events } = migration({ bandwidth: 4 << 20 });
    const running = run.run().catch((e: unknown) => e);
    // Wait until the destination exists and the stream runs (pre-copy reports progress), then kill the destination.
    await waitUntil('pre-copy to report progress', () => events.filter((e) => e.type === 'progress' || e.type === 'phase'), (seen) => seen.some((e) => e.type === 'progress'), { deadlineMs: 60_000 });
    expect(lab.livePids()).toHaveLength(2);
    const destinationPid = Number(fs.readFileSync(path.join(lab.dir, 'hostB', 'vm1.pid'), 'utf8'));
    process.kill(destinationPid, 'SIGKILL');
    const error = await running;
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', exitCode: 11 });
    expect(await statusOn('hostA')).toBe('running');
    expect(lab.livePids()).toHaveLength(1);
  });

  it('pre-copy past --timeout with --on-timeout abort: rolled back with exit 12', async () => {
    await lab.startRunning('vm1', 'hostA', MIB).then((vm) => vm.monitor.client.destroy());
    const { run } = migration({ bandwidth: 2 << 20, timeoutMs: 1000 });
    const error = await run.run().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'MIGRATION_TIMED_OUT', exitCode: 12 });
    expect((error as Error).message).toMatch(/did not converge within 1 s/);
    expect(await statusOn('hostA')).toBe('running');
    expect(lab.livePids()).toHaveLength(1);
  });

  it('pre-copy past --timeout with --on-timeout force: switches over at once and completes', async () => {
    await lab.startRunning('vm1', 'hostA', MIB).then((vm) => vm.monitor.client.destroy());
    const { run, events } = migration({ bandwidth: 16 << 20, timeoutMs: 500, onTimeout: 'force', stepTimeoutMs: 60_000 });
    const summary = await run.run();
    expect(summary.status).toBe('migrated');
    expect(events.some((e) => e.type === 'warning' && /forcing stop-and-copy/.test(e.message))).toBe(true);
    expect(await statusOn('hostB')).toBe('running');
  });

  it('interrupted (abort signal) during pre-copy: rolled back with exit 13', async () => {
    await lab.startRunning('vm1', 'hostA', MIB).then((vm) => vm.monitor.client.destroy());
    const controller = new AbortController();
    const { run, events } = migration({ bandwidth: 2 << 20 }, undefined, controller.signal);
    const running = run.run().catch((e: unknown) => e);
    await waitUntil('pre-copy to report progress', () => events.filter((e) => e.type === 'progress' || e.type === 'phase'), (seen) => seen.some((e) => e.type === 'progress'), { deadlineMs: 60_000 });
    controller.abort();
    const error = await running;
    expect(error).toMatchObject({ code: 'MIGRATION_INTERRUPTED', exitCode: 13 });
    expect(await statusOn('hostA')).toBe('running');
    expect(lab.livePids()).toHaveLength(1);
  });

  it('a VM paused on the source arrives paused on the destination', async () => {
    const source = await lab.startRunning('vm1', 'hostA');
    await source.monitor.stop();
    source.monitor.client.destroy();
    const { run } = migration();
    const summary = await run.run();
    expect(summary.status).toBe('migrated');
    expect(await statusOn('hostB')).toBe('paused');
    expect(await statusOn('hostA')).toBeUndefined();
  });

  it('refuses in preflight when the VM is already on the destination or nowhere, changing nothing', async () => {
    const { run } = migration();
    await expect(run.run()).rejects.toMatchObject({ code: 'PREFLIGHT_REFUSED', exitCode: 10 });
    await lab.startRunning('vm1', 'hostB').then((vm) => vm.monitor.client.destroy());
    const again = migration();
    const error = await again.run.run().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PREFLIGHT_REFUSED' });
    expect((error as Error).message).toMatch(/already runs on hostB/);
    expect(fs.existsSync(path.join(lab.dir, 'journal'))).toBe(false);
  });
});
