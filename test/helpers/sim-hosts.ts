import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NICMIG_BIN } from './cli.js';

/**
 * Two `nicmig sim host` processes (hostA running vm1, hostB empty) and an inventory naming
 * them, for e2e tests of the CLI between real processes. `stop()` ends them whatever happened.
 */
export class SimHostProcesses {
  readonly dir: string;
  readonly config: string;
  private readonly children: ChildProcess[] = [];
  /** The process of each started host, by name (e.g. to SIGSTOP one in a test). */
  readonly processes = new Map<string, ChildProcess>();

  /** `hostFields` adds YAML flow-map fields to a host's entry, e.g. `{hostB: "migrationAddress: '::1'"}`. */
  constructor(label: string, hostFields: Partial<Record<'hostA' | 'hostB', string>> = {}) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-${label}-`));
    this.config = path.join(this.dir, 'config.yaml');
    fs.writeFileSync(
      this.config,
      [
        `stateDir: ${path.join(this.dir, 'state')}`,
        'hosts:',
        `  hostA: {kind: sim, runDir: ${path.join(this.dir, 'hostA')}${hostFields.hostA ? `, ${hostFields.hostA}` : ''}}`,
        `  hostB: {kind: sim, runDir: ${path.join(this.dir, 'hostB')}${hostFields.hostB ? `, ${hostFields.hostB}` : ''}}`,
        'vms:',
        '  - {name: vm1, memoryMiB: 64}',
        '',
      ].join('\n'),
    );
  }

  async start(): Promise<void> {
    await this.startHost('hostA', ['vm1']);
    await this.startHost('hostB', []);
  }

  private async startHost(name: string, vms: string[]): Promise<void> {
    // With the inventory: the host takes its entry's qemuVersion, and vm1's spec from there.
    const args = [NICMIG_BIN, 'sim', 'host', '--name', name, '--dir', path.join(this.dir, name), '--config', this.config, '--dirty-rate', '2000', ...vms.flatMap((vm) => ['--vm', vm])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.children.push(child);
    this.processes.set(name, child);
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

  async stop(): Promise<void> {
    await Promise.all(
      this.children.splice(0).map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            // A host a test stopped (SIGSTOP) must run again to take the SIGTERM.
            child.kill('SIGCONT');
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
