import path from 'node:path';
import { afterEach, expect, it, jest } from '@jest/globals';
import { PreflightError } from '../../src/migration/errors.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration } from '../../src/migration/orchestrator.js';
import { PlainStrategy } from '../../src/migration/strategy.js';
import { QemuLab } from '../helpers/qemu-lab.js';
import { describeWithQemu, qemuBinaries } from '../helpers/qemu.js';

/**
 * The rolling QEMU upgrade: a VM started as `-machine q35` runs `pc-q35-7.2` on QEMU 7.2 and
 * `pc-q35-10.0` on 10.0. nicmig starts the destination with the source's resolved type, and
 * refuses in preflight, with the names, when the destination's QEMU does not offer it.
 */

jest.setTimeout(120_000);

describeWithQemu('the machine type across QEMU versions (7.2 and 10.0)', () => {
  const versions = new Map(qemuBinaries().map((q) => [q.version, q.binary]));
  const q72 = versions.get('7.2');
  const q100 = versions.get('10.0');
  if (!q72 || !q100) {
    it.skip('needs QEMU 7.2 and 10.0 (scripts/install-qemu10.sh); qemuBinaries() said which is missing', () => undefined);
    return;
  }
  let lab: QemuLab | undefined;
  afterEach(async () => {
    await lab?.cleanup();
    lab = undefined;
  });

  function migrate(current: QemuLab) {
    return new Migration(
      { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 100 }, spec: current.specs.get('vm1') },
      { hosts: current.hosts, strategy: new PlainStrategy(), journalDir: path.join(current.dir, 'journal'), onEvent: () => undefined },
    );
  }

  async function machineOn(current: QemuLab, host: string): Promise<{ type: string | undefined; status: string } | undefined> {
    const monitor = await current.host(host).connectVm('vm1');
    if (!monitor) return undefined;
    try {
      return { type: await monitor.queryMachineType(), status: (await monitor.queryStatus()).status };
    } finally {
      monitor.disconnect();
    }
  }

  it('7.2 -> 10.0 with the alias q35 on both: the destination runs pc-q35-7.2 and the VM moves', async () => {
    lab = new QemuLab([{ name: 'vm1', memoryMiB: 64, machine: 'q35' }], 'tcg', undefined, { a: q72, b: q100 });
    (await lab.startRunning('vm1', 'hostA')).monitor.disconnect();
    expect(await machineOn(lab, 'hostA')).toEqual({ type: 'pc-q35-7.2', status: 'running' });
    const summary = await migrate(lab).run();
    expect(summary.status).toBe('migrated');
    expect(await machineOn(lab, 'hostB')).toEqual({ type: 'pc-q35-7.2', status: 'running' });
    expect(await machineOn(lab, 'hostA')).toBeUndefined();
  });

  it('10.0 -> 7.2 with the alias q35: refused in preflight naming pc-q35-10.0, nothing started on 7.2', async () => {
    lab = new QemuLab([{ name: 'vm1', memoryMiB: 64, machine: 'q35' }], 'tcg', undefined, { a: q100, b: q72 });
    (await lab.startRunning('vm1', 'hostA')).monitor.disconnect();
    const error = await migrate(lab)
      .run()
      .catch((e: unknown) => e);
    if (!(error instanceof PreflightError)) throw error;
    expect(error.exitCode).toBe(10);
    expect(error.message).toMatch(/the source runs machine type 'pc-q35-10\.0' \(inventory: 'q35'\); the QEMU on hostB does not offer it \(it offers pc-q35-7\.2, /);
    expect(await machineOn(lab, 'hostA')).toEqual({ type: 'pc-q35-10.0', status: 'running' });
    expect(await machineOn(lab, 'hostB')).toBeUndefined();
    expect(lab.livePids()).toHaveLength(1);
  });

  it('10.0 -> 7.2 with the type pinned to pc-q35-7.2: the VM moves back', async () => {
    lab = new QemuLab([{ name: 'vm1', memoryMiB: 64, machine: 'pc-q35-7.2' }], 'tcg', undefined, { a: q100, b: q72 });
    (await lab.startRunning('vm1', 'hostA')).monitor.disconnect();
    const summary = await migrate(lab).run();
    expect(summary.status).toBe('migrated');
    expect(await machineOn(lab, 'hostB')).toEqual({ type: 'pc-q35-7.2', status: 'running' });
  });
});
