import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it, jest } from '@jest/globals';
import { MigrationError, PreflightError } from '../../src/migration/errors.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration } from '../../src/migration/orchestrator.js';
import { PlainStrategy } from '../../src/migration/strategy.js';
import { QemuLab } from '../helpers/qemu-lab.js';
import { describeWithQemu, qemuBinaries } from '../helpers/qemu.js';

/**
 * What QEMU itself says reaches the operator: the reasons a source QEMU blocks migration
 * (query-migrate blocked-reasons), and, where QEMU can keep a failed destination alive
 * (migrate-incoming exit-on-error, 9.1+), the destination's own error instead of only the
 * source's "broken pipe".
 */

jest.setTimeout(120_000);

describeWithQemu('QEMU explains a migration that cannot be or that failed', () => {
  let lab: QemuLab | undefined;
  const scratch: string[] = [];
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await lab?.cleanup();
    lab = undefined;
    for (const dir of scratch.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  function migrate(current: QemuLab) {
    return new Migration(
      { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 100 }, spec: current.specs.get('vm1') },
      { hosts: current.hosts, strategy: new PlainStrategy(), journalDir: path.join(current.dir, 'journal'), onEvent: () => undefined },
    );
  }

  for (const { version, binary } of qemuBinaries()) {
    it(`QEMU ${version}: a device that blocks migration is refused in preflight with QEMU's own reason`, async () => {
      lab = new QemuLab(
        [{ name: 'vm1', memoryMiB: 64, machine: 'pc-q35-7.2', qemuArgs: ['-object', 'memory-backend-ram,id=shm,size=1M,share=on', '-device', 'ivshmem-plain,memdev=shm'] }],
        'tcg',
        undefined,
        { a: binary, b: binary },
      );
      (await lab.startRunning('vm1', 'hostA')).monitor.disconnect();
      const error = await migrate(lab)
        .run()
        .catch((e: unknown) => e);
      if (!(error instanceof PreflightError)) throw error;
      expect(error.message).toMatch(/the source QEMU blocks migration: Migration is disabled when using feature 'peer mode' in device 'ivshmem'/);
      expect(lab.livePids()).toHaveLength(1);
    });

    it(`QEMU ${version}: a VM started by hand with QEMU's default RAM block (pc.ram) migrates: the destination is built from its own command line`, async () => {
      lab = new QemuLab([{ name: 'vm1', memoryMiB: 64, machine: 'pc-q35-7.2' }], 'tcg', undefined, { a: binary, b: binary });
      const runDir = path.join(lab.dir, 'hostA');
      fs.mkdirSync(runDir, { recursive: true });
      // An operator's own command line: QEMU's default RAM block (pc.ram), not a memory backend named mem.
      const child = spawn(binary, ['-machine', 'q35', '-m', '64M', '-nodefaults', '-no-user-config', '-display', 'none', '-accel', 'tcg', '-qmp', `unix:${path.join(runDir, 'vm1.qmp')},server=on,wait=off`], {
        stdio: 'ignore',
      });
      children.push(child);
      const deadline = Date.now() + 30_000;
      while (!(await lab.host('hostA').connectVm('vm1').then((m) => (m?.disconnect(), m !== undefined)).catch(() => false))) {
        if (Date.now() > deadline) throw new Error('the hand-started QEMU did not open its monitor within 30 s');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const summary = await migrate(lab).run();
      expect(summary).toMatchObject({ status: 'migrated', destination: { builtFrom: 'source-command-line' } });
      // The alias the operator wrote became the type the source runs.
      expect(summary.destination.rewrites).toContain(`-machine q35: type q35 -> ${version === '7.2' ? 'pc-q35-7.2' : 'pc-q35-10.0'} (the source's resolved type)`);
      const destination = await lab.host('hostB').connectVm('vm1');
      expect((await destination?.queryStatus())?.status).toBe('running');
      destination?.disconnect();
    });

    it(`QEMU ${version}: a device hot-plugged on the source is not on its command line: preflight's comparison refuses it, naming the device, before the source stops`, async () => {
      // i440fx: its root bus takes a hot-plugged PCI device (q35's does not).
      lab = new QemuLab([{ name: 'vm1', memoryMiB: 64, machine: 'pc-i440fx-7.2' }], 'tcg', undefined, { a: binary, b: binary });
      const source = await lab.startRunning('vm1', 'hostA');
      await source.monitor.client.execute('device_add', { driver: 'virtio-rng-pci', id: 'rng0' });
      source.monitor.disconnect();
      const error = await migrate(lab)
        .run()
        .catch((e: unknown) => e);
      if (!(error instanceof PreflightError)) throw error;
      expect(error.exitCode).toBe(10);
      expect(error.message).toContain("PCI 00:02.0: virtio-rng-pci 'rng0' (1af4:1005) on the source, nothing on hostB");
      const back = await lab.host('hostA').connectVm('vm1');
      expect((await back?.queryStatus())?.status).toBe('running');
      back?.disconnect();
      expect(await lab.host('hostB').connectVm('vm1')).toBeUndefined();
    });

    it(`QEMU ${version}: a destination that fails to load the stream is told in its own words, from its log`, async () => {
      // hostB's QEMU takes one vCPU whatever it is given (an operator's wrapper): preflight does
      // not compare vCPUs, and the destination finds the source's second one only in the stream.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-destination-error-'));
      scratch.push(dir);
      const wrapper = path.join(dir, 'qemu-one-cpu.sh');
      fs.writeFileSync(wrapper, `#!/bin/sh\nexec ${binary} "$@" -smp 1\n`, { mode: 0o755 });
      lab = new QemuLab([{ name: 'vm1', memoryMiB: 64, machine: 'pc-q35-7.2', vcpus: 2 }], 'tcg', undefined, { a: binary, b: wrapper });
      (await lab.startRunning('vm1', 'hostA')).monitor.disconnect();
      const error = await migrate(lab)
        .run()
        .catch((e: unknown) => e);
      if (!(error instanceof MigrationError)) throw error;
      expect(error.exitCode).toBe(11);
      // 10.0 keeps the failed destination (exit-on-error false) and nicmig reads its error;
      // 7.2 cannot, and the message says the destination exited.
      if (version === '10.0') expect(error.message).toMatch(/the destination says: load of migration failed/);
      else expect(error.message).toMatch(/the destination QEMU exited/);
      // Either way, QEMU's own words from the destination's log on its host.
      expect(error.message).toMatch(/its log: .*Unknown savevm section or instance 'cpu_common' 1/);
      const source = await lab.host('hostA').connectVm('vm1');
      expect((await source?.queryStatus())?.status).toBe('running');
      source?.disconnect();
      expect(await lab.host('hostB').connectVm('vm1')).toBeUndefined();
    });
  }
});
