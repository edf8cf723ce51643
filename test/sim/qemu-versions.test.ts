import path from 'node:path';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { SimulatedHost } from '../../src/hosts/sim-host.js';
import type { HostConfig } from '../../src/inventory/inventory.js';
import { DemoLab, type DemoLabOptions } from '../../src/lab/demo-lab.js';
import { PreflightError } from '../../src/migration/errors.js';
import type { MigrationEvent } from '../../src/migration/events.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration } from '../../src/migration/orchestrator.js';
import { VfReplayStrategy } from '../../src/migration/vf-replay.js';

jest.setTimeout(60_000);

/**
 * The rolling QEMU upgrade between simulated hosts of QEMU 7.2 and 10.0, as
 * test/qemu/machine-type.test.ts shows it on real QEMU: a VM started as `-machine q35` runs
 * `pc-q35-7.2` on 7.2 and `pc-q35-10.0` on 10.0; nicmig starts the destination with the
 * source's resolved type, so 7.2 -> 10.0 moves, and refuses 10.0 -> 7.2 in preflight, with the
 * names, when the destination's QEMU does not offer that type. The VM has an i40e VF: the
 * replay runs across the versions too.
 */
let lab: DemoLab | undefined;
afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

async function startLab(options: DemoLabOptions): Promise<DemoLab> {
  lab = await DemoLab.start({ memoryMiB: 32, dirtyPagesPerSecond: 2000, ...options });
  return lab;
}

function migrate(current: DemoLab, hosts = current.hosts) {
  const events: MigrationEvent[] = [];
  const run = new Migration(
    { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 100 }, spec: current.inventory.vms.get('vm1') },
    { hosts, strategy: new VfReplayStrategy(), journalDir: path.join(current.inventory.stateDir, 'journal'), onEvent: (event) => events.push(event) },
  );
  return { run, events };
}

/** What the VM's QEMU on `host` says it is and runs, over its QMP socket as nicmig sees it. */
async function machineOn(current: DemoLab, host: string): Promise<{ qemu: string; type: string | undefined; status: string } | undefined> {
  const monitor = await current.hosts.get(host)?.connectVm('vm1');
  if (!monitor) return undefined;
  try {
    const version = await monitor.queryVersion();
    return { qemu: `${version.qemu.major}.${version.qemu.minor}`, type: await monitor.queryMachineType(), status: (await monitor.queryStatus()).status };
  } finally {
    monitor.disconnect();
  }
}

describe('migration between simulated QEMU 7.2 and 10.0 hosts', () => {
  it('7.2 -> 10.0 with the alias q35: the destination runs pc-q35-7.2 on QEMU 10.0, the VF replayed', async () => {
    const current = await startLab({ qemuVersions: { hostA: '7.2', hostB: '10.0' } });
    expect(await machineOn(current, 'hostA')).toEqual({ qemu: '7.2', type: 'pc-q35-7.2', status: 'running' });
    const { run, events } = migrate(current);
    const summary = await run.run();
    expect(summary).toMatchObject({ status: 'migrated', strategy: 'vf-replay', replay: { verified: true } });
    expect(events).toContainEqual({ type: 'log', message: expect.stringMatching(/^the destination on hostB matches the source: machine pc-q35-7\.2, /) });
    expect(await machineOn(current, 'hostB')).toEqual({ qemu: '10.0', type: 'pc-q35-7.2', status: 'running' });
    expect(await machineOn(current, 'hostA')).toBeUndefined();
    expect(current.device('hostB')?.status()).toBe('active');
    expect(current.pfs.get('hostA')?.inventory().every((vf) => vf.owner === null)).toBe(true);
  });

  it('10.0 -> 7.2 with the alias q35: refused in preflight naming pc-q35-10.0 and what 7.2 offers; nothing started on hostB', async () => {
    const current = await startLab({ qemuVersions: { hostA: '10.0', hostB: '7.2' } });
    expect(await machineOn(current, 'hostA')).toEqual({ qemu: '10.0', type: 'pc-q35-10.0', status: 'running' });
    const error = await migrate(current)
      .run.run()
      .catch((e: unknown) => e);
    if (!(error instanceof PreflightError)) throw error;
    expect(error.exitCode).toBe(10);
    expect(error.message).toMatch(/the source runs machine type 'pc-q35-10\.0' \(inventory: 'q35'\); the QEMU on hostB does not offer it \(it offers pc-q35-7\.2, pc-q35-7\.1, pc-q35-7\.0, pc-q35-6\.2\)/);
    expect(await machineOn(current, 'hostA')).toEqual({ qemu: '10.0', type: 'pc-q35-10.0', status: 'running' });
    expect(current.vm('hostB')).toBeUndefined();
    expect(current.pfs.get('hostB')?.inventory().every((vf) => vf.owner === null)).toBe(true);
    expect(current.device('hostA')?.vf.quiesced).toBe(false);
  });

  it('10.0 -> 7.2 with the type pinned to pc-q35-7.2: the VM moves back', async () => {
    const current = await startLab({ qemuVersions: { hostA: '10.0', hostB: '7.2' }, machine: 'pc-q35-7.2' });
    expect(await machineOn(current, 'hostA')).toEqual({ qemu: '10.0', type: 'pc-q35-7.2', status: 'running' });
    const summary = await migrate(current).run.run();
    expect(summary).toMatchObject({ status: 'migrated', replay: { verified: true } });
    expect(await machineOn(current, 'hostB')).toEqual({ qemu: '7.2', type: 'pc-q35-7.2', status: 'running' });
  });

  it('an inventory that says QEMU 10.0 for a host process presenting 7.2 is refused in preflight, both named', async () => {
    const current = await startLab({ qemuVersions: { hostA: '7.2', hostB: '7.2' } });
    const config = { ...(current.inventory.hosts.get('hostB') as HostConfig), qemuVersion: '10.0' as const };
    const hosts = new Map(current.hosts).set('hostB', new SimulatedHost(config, current.inventory.vms));
    const error = await migrate(current, hosts)
      .run.run()
      .catch((e: unknown) => e);
    if (!(error instanceof PreflightError)) throw error;
    expect(error.message).toContain(`the inventory says hostB is QEMU 10.0 (hosts.hostB.qemuVersion) but its simulated host process (${config.runDir}) presents QEMU 7.2`);
    expect(current.vm('hostB')).toBeUndefined();
  });
});
