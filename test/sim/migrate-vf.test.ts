import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { DEMO_MAC, DemoLab, type DemoLabOptions } from '../../src/lab/demo-lab.js';
import { MigrationError, PreflightError } from '../../src/migration/errors.js';
import type { MigrationEvent, Phase } from '../../src/migration/events.js';
import { readJournal } from '../../src/migration/journal.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration, type MigrationOptions } from '../../src/migration/orchestrator.js';
import { VfReplayStrategy } from '../../src/migration/vf-replay.js';
import { SimulatedHost } from '../../src/hosts/sim-host.js';
import type { HostConfig } from '../../src/inventory/inventory.js';
import type { VmSpec } from '../../src/inventory/vm-spec.js';

jest.setTimeout(60_000);

let lab: DemoLab | undefined;
afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

async function startLab(options: DemoLabOptions = {}): Promise<DemoLab> {
  lab = await DemoLab.start({ memoryMiB: 32, dirtyPagesPerSecond: 2000, ...options });
  return lab;
}

function migration(current: DemoLab, options: Partial<MigrationOptions> = {}, atPhase?: (phase: Phase) => void | Promise<void>) {
  const events: MigrationEvent[] = [];
  const run = new Migration(
    { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 100, ...options }, spec: current.inventory.vms.get('vm1') },
    {
      hosts: current.hosts,
      strategy: new VfReplayStrategy(),
      journalDir: path.join(current.inventory.stateDir, 'journal'),
      onEvent: (event) => events.push(event),
      atPhase,
    },
  );
  return { run, events };
}

/** Index of the first 4 KiB page that differs between two simulated VMs' RAM, or -1. */
function firstDifferentPage(a: DemoLab, from: string, to: string): number {
  const left = a.vm(from)?.ram;
  const right = a.vm(to)?.ram;
  if (!left || !right) throw new Error('VM missing');
  const l = Buffer.from(left.bytes.buffer, left.bytes.byteOffset, left.bytes.byteLength);
  const r = Buffer.from(right.bytes.buffer, right.bytes.byteOffset, right.bytes.byteLength);
  for (let offset = 0; offset < l.length; offset += 4096) {
    if (l.compare(r, offset, offset + 4096, offset, offset + 4096) !== 0) return offset / 4096;
  }
  return -1;
}

describe('VF replay migration on the simulator', () => {
  it('moves vm1 with its VF and live traffic: RAM and VF state equal, frames lost only while stopped', async () => {
    const current = await startLab();
    current.startTraffic(2000);
    await current.trafficFlowing(200);
    // Where each lost probe went, counted at the two moments that bound the switchover (in this
    // process, as they happen): the source guest stops; the announce moves its MAC to hostB.
    const ownedVf = (host: string) => current.pfs.get(host)?.vfs.find((vf) => vf.owner !== null);
    const sourceVf = ownedVf('hostA');
    const atStop = { sent: -1, noBuffer: -1 };
    const atMove = { sent: -1, noBuffer: -1 };
    let destinationVf: ReturnType<typeof ownedVf>;
    current.vm('hostA')?.onEvent((event) => {
      if (event.event === 'STOP' && atStop.sent < 0) Object.assign(atStop, { sent: current.traffic.sent, noBuffer: sourceVf?.counters.rxNoBuffer ?? 0 });
    });
    current.fabric.onMove = (entry) => {
      if (entry.mac !== DEMO_MAC || atMove.sent >= 0) return;
      destinationVf = ownedVf('hostB');
      Object.assign(atMove, { sent: current.traffic.sent, noBuffer: destinationVf?.counters.rxNoBuffer ?? 0 });
    };
    let ramDifference = -2;
    const { run, events } = migration(current, {}, (phase) => {
      // Both stopped: the source in postmigrate, the destination loaded, before replay.
      if (phase === 'replay') ramDifference = firstDifferentPage(current, 'hostA', 'hostB');
    });
    const summary = await run.run();
    // Preflight compared the two sides (the VF at the same slot on both) before migrate.
    expect(events).toContainEqual({ type: 'log', message: 'the destination on hostB matches the source: machine pc-q35-7.2, 6 RAM blocks, 5 PCI functions, 1 device' });
    await current.trafficFlowing(200);
    const frames = current.stopTraffic();

    expect(ramDifference).toBe(-1); // DMA-written RX buffers included (device dirty tracking)
    // A simulated VM has no command line: its destination is built from the spec.
    expect(summary).toMatchObject({ status: 'migrated', strategy: 'vf-replay', replay: { verified: true }, destination: { builtFrom: 'spec', rewrites: [] } });
    expect(summary.replay?.replayed).toBeGreaterThan(0);
    expect(summary.replay?.replayed).toBeLessThan(summary.replay?.captured ?? 0);
    // The source VM is gone and its VF released; the destination's VF holds the state.
    expect(current.vm('hostA')).toBeUndefined();
    expect(current.pfs.get('hostA')?.inventory().every((vf) => vf.owner === null)).toBe(true);
    expect(current.device('hostB')?.status()).toBe('active');
    // The switch learned the MAC on hostB's port (the announce), and probes flow there.
    expect(current.fabric.lookup(DEMO_MAC)).toBe('hostB/enp1s0f0');
    expect(frames.duplicated).toBe(0);
    expect(frames.reordered).toBe(0);
    // Frames lost only while the guest was stopped: every lost probe was sent between the
    // source's STOP and the announce, or found a running guest's RX ring full (a guest slowed
    // by a loaded machine drops so on real hardware too), give or take the two 32-buffer rings
    // (probes in a ring at STOP, and echoes still pending when the traffic stops). Counted,
    // not timed, so that a loaded machine changes the numbers but not the verdict.
    expect(atStop.sent).toBeGreaterThanOrEqual(0);
    expect(atMove.sent).toBeGreaterThanOrEqual(atStop.sent);
    const sentWhileStopped = atMove.sent - atStop.sent;
    const droppedByRunningGuests = atStop.noBuffer + ((destinationVf?.counters.rxNoBuffer ?? 0) - atMove.noBuffer);
    expect(frames.lost - droppedByRunningGuests).toBeLessThanOrEqual(sentWhileStopped + 2 * 32);
    const journal = readJournal(summary.journal as string).records.map((r) => r.event);
    expect(journal).toEqual(expect.arrayContaining(['migration-completed', 'replayed', 'destination-resuming', 'source-vf-reset', 'finished']));
  });

  it('a destination PF that cannot hold the state (older kernel, too many MAC filters) is refused with exit 10, nothing left', async () => {
    const current = await startLab({ limits: { hostB: { maxMacFilters: 4 } } });
    // The guest joins multicast groups: 1 + 5 MAC filters, fine on hostA (current i40e: 18).
    current.device('hostA')?.guest?.addMacs(['01:00:5e:00:00:01', '01:00:5e:00:00:02', '01:00:5e:00:00:03', '01:00:5e:00:00:04', '01:00:5e:00:00:05']);
    current.startTraffic(1000);
    await current.trafficFlowing(100);
    const { run } = migration(current);
    const error = await run.run().catch((e: unknown) => e);
    if (!(error instanceof PreflightError)) throw error;
    expect((error as PreflightError).exitCode).toBe(10);
    expect((error as Error).message).toMatch(/MAC/);
    expect(current.vm('hostB')).toBeUndefined();
    expect(current.vm('hostA')?.runState).toBe('running');
    expect(current.device('hostA')?.vf.quiesced).toBe(false);
    // Found from the destination host's PF limits, before anything started there.
    expect(fs.existsSync(path.join(current.inventory.stateDir, 'journal'))).toBe(false);
    await current.trafficFlowing(100); // still answering on hostA
  });

  it('a destination that is not the source machine (an extra NIC on hostB) is refused before migrate, the differences named; no VF left configured on either side', async () => {
    const current = await startLab();
    current.startTraffic(1000);
    await current.trafficFlowing(100);
    // hostB starts vm1 from an entry with one more NIC: an operator's differently configured host.
    const spec = current.inventory.vms.get('vm1') as VmSpec;
    const other = new Map([['vm1', { ...spec, devices: [...spec.devices, { type: 'virtio-net' as const, id: 'net9', mac: '52:54:00:00:00:09', netdev: { type: 'user' as const } }] }]]);
    const hosts = new Map(current.hosts).set('hostB', new SimulatedHost(current.inventory.hosts.get('hostB') as HostConfig, other));
    const events: MigrationEvent[] = [];
    const run = new Migration(
      { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 100 }, spec },
      { hosts, strategy: new VfReplayStrategy(), journalDir: path.join(current.inventory.stateDir, 'journal'), onEvent: (event) => events.push(event) },
    );
    const error = await run.run().catch((e: unknown) => e);
    if (!(error instanceof PreflightError)) throw error;
    expect(error.exitCode).toBe(10);
    expect(error.reasons).toEqual([
      "RAM block '0000:00:02.0/virtio-net-pci.rom' (256 KiB) on hostB has no counterpart on the source",
      "PCI 00:02.0: nothing on the source, virtio-net-pci 'net9' (1af4:1000) on hostB",
    ]);
    // The destination ran (its VF taken) and is gone, its VF free again; the source's VF was never quiesced.
    expect(events.filter((e) => e.type === 'rollback').every((e) => (e as { ok: boolean }).ok)).toBe(true);
    expect(current.vm('hostB')).toBeUndefined();
    expect(current.pfs.get('hostB')?.inventory().every((vf) => vf.owner === null)).toBe(true);
    expect(current.vm('hostA')?.runState).toBe('running');
    expect(current.device('hostA')?.vf.quiesced).toBe(false);
    expect(current.device('hostA')?.vf.dirtyTracking).toBe(false);
    const journal = readJournal(run.failedResult(error).journal as string).records.map((r) => r.event);
    expect(journal).toContain('destination-started');
    expect(journal).not.toContain('precopy-starting');
    expect(journal.at(-1)).toBe('rolled-back');
    await current.trafficFlowing(100);
    expect(current.fabric.lookup(DEMO_MAC)).toBe('hostA/enp1s0f0');
  });

  it.each<Phase>(['precopy', 'switchover', 'replay', 'resume'])('a failure at %s rolls back: source VF un-quiesced and answering, destination gone', async (failAt) => {
    const current = await startLab();
    current.startTraffic(1000);
    await current.trafficFlowing(100);
    const { run, events } = migration(current, {}, (phase) => {
      if (phase === failAt) throw new Error(`injected at ${phase}`);
    });
    const error = await run.run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).exitCode).toBe(11);
    expect(events.filter((e) => e.type === 'rollback').every((e) => (e as { ok: boolean }).ok)).toBe(true);
    expect(current.vm('hostB')).toBeUndefined();
    expect(current.pfs.get('hostB')?.inventory().every((vf) => vf.owner === null)).toBe(true);
    expect(current.vm('hostA')?.runState).toBe('running');
    expect(current.device('hostA')?.vf.quiesced).toBe(false);
    expect(current.device('hostA')?.vf.dirtyTracking).toBe(false);
    await current.trafficFlowing(100);
    expect(current.fabric.lookup(DEMO_MAC)).toBe('hostA/enp1s0f0');
  });

  it('a replayed message the destination PF rejects fails verification and rolls back', async () => {
    const current = await startLab();
    current.startTraffic(1000);
    await current.trafficFlowing(100);
    const { run } = migration(current, {}, (phase) => {
      // After the compatibility check passed: the destination PF now refuses MAC filters.
      if (phase === 'switchover') {
        const pf = current.pfs.get('hostB');
        if (pf) pf.limits.maxMacFilters = 0;
      }
    });
    const error = await run.run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toMatch(/refused|does not match/);
    expect(current.vm('hostA')?.runState).toBe('running');
    expect(current.vm('hostB')).toBeUndefined();
    await current.trafficFlowing(100);
  });
});

describe('migrate --dry-run with a VF', () => {
  it('says what would be replayed and changes nothing', async () => {
    const current = await startLab();
    const { run } = migration(current, { dryRun: true });
    const summary = await run.run();
    expect(summary.status).toBe('dry-run');
    expect(summary.plan?.phases).toContain('replay');
    expect(summary.plan?.vfs).toEqual([expect.objectContaining({ id: 'vf0', replayMessages: expect.any(Number), captured: expect.any(Number) })]);
    const [vf] = summary.plan?.vfs ?? [];
    expect(vf?.replayMessages).toBeGreaterThan(0);
    expect(vf?.replayMessages).toBeLessThan(vf?.captured ?? 0);
    expect(vf?.rxBufferBytes).toBeGreaterThan(0);
    // The simulator has no calc-dirty-rate: an upper bound, said as such.
    expect(summary.plan?.dirtyBytesPerSecond).toBeNull();
    expect(summary.plan?.predictedDowntimeMs).toBeGreaterThanOrEqual(300);
    expect(current.vm('hostB')).toBeUndefined();
    expect(current.device('hostA')?.vf.dirtyTracking).toBe(false);
    expect(summary.journal).toBeNull();
  });
});

describe('a VM with several VFs', () => {
  it('migrates both VFs, each replayed and verified, each MAC learned on hostB', async () => {
    const current = await startLab({ vfs: 2 });
    // Both guest drivers brought their VFs up (each in its own guest memory).
    for (const id of ['vf0', 'vf1']) expect(current.device('hostA', id)?.status()).toBe('active');
    const { run } = migration(current);
    const summary = await run.run();
    expect(summary).toMatchObject({ status: 'migrated', replay: { verified: true } });
    for (const id of ['vf0', 'vf1']) expect(current.device('hostB', id)?.status()).toBe('active');
    expect(current.fabric.lookup('02:00:00:00:00:01')).toBe('hostB/enp1s0f0');
    expect(current.fabric.lookup('02:00:00:00:00:02')).toBe('hostB/enp1s0f0');
    expect(current.pfs.get('hostA')?.inventory().every((vf) => vf.owner === null)).toBe(true);
  });
});
