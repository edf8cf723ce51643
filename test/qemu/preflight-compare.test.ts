import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it, jest } from '@jest/globals';
import { isAlive } from '../../src/hosts/qemu-host.js';
import { PreflightError } from '../../src/migration/errors.js';
import { readJournal } from '../../src/migration/journal.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration } from '../../src/migration/orchestrator.js';
import { PlainStrategy } from '../../src/migration/strategy.js';
import { QmpClient } from '../../src/qmp/client.js';
import { QemuLab } from '../helpers/qemu-lab.js';
import { describeWithQemu, qemuBinaries } from '../helpers/qemu.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Preflight compares the destination QEMU, started -S -incoming defer, with the source before
 * anything stops, and refuses with the differences named: the destination removed, the source
 * never paused, the journal ended. The destinations here differ the way an operator's
 * differently configured host does, whatever nicmig passes them: hostB's `qemuBinary` is a
 * wrapper that adds to QEMU's command line.
 */

jest.setTimeout(120_000);

describeWithQemu('preflight refuses a destination that is not the source machine', () => {
  let lab: QemuLab | undefined;
  let scratch: string | undefined;
  const clients: QmpClient[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await lab?.cleanup();
    lab = undefined;
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
    scratch = undefined;
  });

  /** A QEMU binary that runs `binary` with `extra` after nicmig's arguments. */
  function wrapper(binary: string, extra: string[]): string {
    scratch ??= fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-preflight-'));
    const file = path.join(scratch, 'qemu-wrapper.sh');
    fs.writeFileSync(file, `#!/bin/sh\nexec ${binary} "$@" ${extra.join(' ')}\n`, { mode: 0o755 });
    return file;
  }

  function migrate(current: QemuLab) {
    return new Migration(
      { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 100 }, spec: current.specs.get('vm1') },
      { hosts: current.hosts, strategy: new PlainStrategy(), journalDir: path.join(current.dir, 'journal'), onEvent: () => undefined },
    );
  }

  /** Runs the migration, expects the refusal; returns it with the journal's events and the destination's pid. */
  async function refused(current: QemuLab) {
    const run = migrate(current);
    const error = await run.run().catch((e: unknown) => e);
    if (!(error instanceof PreflightError)) throw error;
    const journal = run.failedResult(error).journal;
    expect(journal).not.toBeNull();
    const records = readJournal(journal as string).records;
    const started = records.find((r) => r.event === 'destination-started');
    return { error, events: records.map((r) => r.event), destinationPid: Number((started?.data as { pid?: number } | undefined)?.pid) };
  }

  for (const { version, binary } of qemuBinaries()) {
    it(`QEMU ${version}: a destination with an extra device is refused naming it; the source never paused, the destination gone`, async () => {
      scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-preflight-'));
      // A second monitor on each host's QEMU ({host} expands per host): the test watches the
      // source's events while nicmig holds its own monitor.
      const watch = path.join(scratch, '{host}-watch.qmp');
      lab = new QemuLab(
        [{ name: 'vm1', memoryMiB: 64, machine: 'pc-q35-7.2', devices: [{ type: 'virtio-net', id: 'net0', mac: '52:54:00:12:34:56', netdev: { type: 'user' } }], qemuArgs: ['-qmp', `unix:${watch},server=on,wait=off`] }],
        'tcg',
        undefined,
        { a: binary, b: wrapper(binary, ['-device', 'virtio-rng-pci']) },
      );
      const source = await lab.startRunning('vm1', 'hostA');
      source.monitor.disconnect();
      const watcher = await QmpClient.connect(`unix:${watch.replace('{host}', 'hostA')}`, { peerName: 'watcher' });
      clients.push(watcher);
      const stops = watcher.listen({ names: ['STOP', 'RESUME'] });

      const { error, events, destinationPid } = await refused(lab);
      expect(error.exitCode).toBe(10);
      // The one difference, as an operator reads it: the slot, the model, the vendor:device.
      expect(error.reasons).toEqual(['PCI 00:02.0: nothing on the source, virtio-rng-pci (1af4:1005) on hostB']);
      // The destination QEMU did run (-S -incoming defer) and is gone.
      expect(destinationPid).toBeGreaterThan(0);
      await waitUntil('the refused destination QEMU to be gone', () => isAlive(destinationPid), (alive) => !alive);
      expect(await lab.host('hostB').connectVm('vm1')).toBeUndefined();
      expect(lab.livePids()).toEqual([source.pid]);
      // The journal ends: nothing was migrated, the rollback is recorded as done.
      expect(events).toContain('destination-started');
      expect(events).not.toContain('precopy-starting');
      expect(events.at(-1)).toBe('rolled-back');
      // The source ran throughout: it runs now, and its monitor saw not one STOP (QEMU sends
      // an event before the reply of any later command).
      expect(((await watcher.execute('query-status')) as { status: string }).status).toBe('running');
      expect(stops.drain().map((e) => e.event)).toEqual([]);
      expect(((await watcher.execute('query-migrate')) as { status?: string }).status).toBeUndefined();
    });

    it(`QEMU ${version}: a destination whose NIC has no option ROM is refused naming the RAM block and the BAR it lacks`, async () => {
      // hostB's QEMU drops virtio-net's option ROM (-global ... romfile=): one RAM block fewer
      // than the stream will name, and no ROM BAR on the NIC.
      lab = new QemuLab(
        [{ name: 'vm1', memoryMiB: 64, machine: 'pc-q35-7.2', devices: [{ type: 'virtio-net', id: 'net0', mac: '52:54:00:12:34:56', netdev: { type: 'user' } }] }],
        'tcg',
        undefined,
        { a: binary, b: wrapper(binary, ['-global', 'virtio-net-pci.romfile=']) },
      );
      const source = await lab.startRunning('vm1', 'hostA');
      source.monitor.disconnect();

      const { error, events, destinationPid } = await refused(lab);
      expect(error.exitCode).toBe(10);
      expect(error.reasons).toEqual([
        "RAM block '0000:00:01.0/virtio-net-pci.rom' (256 KiB) on the source has no counterpart on hostB",
        "PCI 00:01.0 virtio-net-pci 'net0' (1af4:1000): ROM BAR memory 256 KiB on the source, none on hostB",
      ]);
      await waitUntil('the refused destination QEMU to be gone', () => isAlive(destinationPid), (alive) => !alive);
      expect(events.at(-1)).toBe('rolled-back');
      expect(lab.livePids()).toEqual([source.pid]);
      const monitor = await lab.host('hostA').connectVm('vm1');
      expect((await monitor?.queryStatus())?.status).toBe('running');
      monitor?.disconnect();
      expect(await lab.host('hostB').connectVm('vm1')).toBeUndefined();
    });
  }
});
