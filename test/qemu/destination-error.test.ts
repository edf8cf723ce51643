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
  afterEach(async () => {
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
