import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { SimulatedHost } from '../../src/hosts/sim-host.js';
import { VmSpecSchema } from '../../src/inventory/vm-spec.js';
import { NICMIG_BIN } from '../helpers/cli.js';

jest.setTimeout(60_000);

/** A `nicmig sim host` process (the built CLI), ready when it says so on stderr. */
async function startHostProcess(dir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [NICMIG_BIN, 'sim', 'host', '--name', 'hostB', '--dir', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sim host did not say ready within 30 s: ${log}`)), 30_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (!log.includes('ready')) return;
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sim host exited ${code}: ${log}`));
    });
  });
  return child;
}

describe('a VM on a stopped (SIGSTOP) simulated host is removed, each step bounded', () => {
  let dir: string | undefined;
  let child: ChildProcess | undefined;

  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('quit, then SIGCONT to the host: the VM is gone within seconds and the host runs on', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-destroy-${process.pid}-`));
    child = await startHostProcess(dir);
    const specs = new Map([['vm1', VmSpecSchema.parse({ name: 'vm1', memoryMiB: 16 })]]);
    const host = new SimulatedHost({ name: 'hostB', kind: 'sim', runDir: dir, migrationAddress: '127.0.0.1' } as never, specs);
    const started = await host.startIncoming('vm1');
    process.kill(child.pid as number, 'SIGSTOP');
    const begun = performance.now();
    await started.destroy();
    const tookMs = performance.now() - begun;
    expect(tookMs).toBeLessThan(6000);
    // The host was only stopped: it runs again, without the VM.
    const probe = await host.probeVm('vm1');
    expect(probe.presence).toMatchObject({ state: 'gone' });
    expect(child.exitCode).toBeNull();
    const again = await host.startIncoming('vm1');
    await again.destroy();
  });
});
