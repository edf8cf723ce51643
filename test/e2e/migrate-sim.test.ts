import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { NICMIG_BIN, runCli } from '../helpers/cli.js';

jest.setTimeout(60_000);

/** Two `nicmig sim host` processes and an inventory naming them. */
describe('nicmig migrate between two simulated hosts (separate processes)', () => {
  let dir: string;
  let config: string;
  const hosts: ChildProcess[] = [];

  async function startHost(name: string, vms: string[]): Promise<void> {
    const hostDir = path.join(dir, name);
    const child = spawn(process.execPath, [NICMIG_BIN, 'sim', 'host', '--name', name, '--dir', hostDir, '--dirty-rate', '2000', ...vms.flatMap((vm) => ['--vm', vm])], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    hosts.push(child);
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sim host ${name} did not come up: ${log}`)), 30_000);
      child.stderr?.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`sim host ${name} exited ${code}: ${log}`)));
    });
  }

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-e2e-sim-'));
    config = path.join(dir, 'config.yaml');
    fs.writeFileSync(
      config,
      [
        `stateDir: ${path.join(dir, 'state')}`,
        'hosts:',
        `  hostA: {kind: sim, runDir: ${path.join(dir, 'hostA')}}`,
        `  hostB: {kind: sim, runDir: ${path.join(dir, 'hostB')}}`,
        'vms:',
        '  - {name: vm1, memoryMiB: 64}',
        '',
      ].join('\n'),
    );
    await startHost('hostA', ['vm1']);
    await startHost('hostB', []);
  });

  afterEach(async () => {
    await Promise.all(
      hosts.splice(0).map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('moves a running VM with a dirtying guest there and back, the same path as real QEMU', async () => {
    const there = await runCli(['migrate', 'vm1', 'hostB', '--json', '--config', config]);
    expect(there.code).toBe(0);
    expect(JSON.parse(there.stdout)).toMatchObject({ status: 'migrated', from: 'hostA', to: 'hostB', strategy: 'plain' });
    const status = JSON.parse((await runCli(['status', 'vm1', '--json', '--config', config])).stdout);
    expect(status.vms[0]).toMatchObject({ runsOn: 'hostB', placements: [{ host: 'hostB', status: 'running' }] });
    const back = await runCli(['migrate', 'vm1', 'hostA', '--json', '--config', config]);
    expect(back.code).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ status: 'migrated', from: 'hostB', to: 'hostA' });
  });
});
