import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HostConfig } from '../../src/inventory/inventory.js';
import { isAlive, QemuHost } from '../../src/hosts/qemu-host.js';
import { VmSpecSchema, type VmSpec } from '../../src/inventory/vm-spec.js';
import type { StartedVm } from '../../src/migration/ports.js';
import { QEMU_BINARY } from './qemu.js';
import { waitUntil } from './wait.js';

/**
 * Two QEMU hosts (hostA, hostB) on this machine, each with its own run directory, for
 * orchestrator tests. `cleanup()` kills every QEMU a test started, whatever happened.
 */
export class QemuLab {
  readonly dir: string;
  readonly hosts: Map<string, QemuHost>;
  readonly specs: Map<string, VmSpec>;
  readonly configs: HostConfig[];

  /**
   * With `netns`, hostA and hostB run their QEMU in those namespaces, at those addresses; with
   * `binaries`, each host its own QEMU (a rolling upgrade: 7.2 on one, 10.0 on the other).
   */
  constructor(specs: Partial<VmSpec>[], accel: 'kvm' | 'tcg' = 'tcg', netns?: { a: string; b: string; addressA: string; addressB: string }, binaries?: { a: string; b: string }) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-lab-'));
    this.specs = new Map(
      specs.map((s) => {
        const spec = VmSpecSchema.parse(s);
        // A relative memory file path is relative to the lab directory.
        if (spec.memoryBackend.type === 'file' && !path.isAbsolute(spec.memoryBackend.path)) spec.memoryBackend.path = path.join(this.dir, spec.memoryBackend.path);
        return [spec.name, spec];
      }),
    );
    this.configs = ['hostA', 'hostB'].map((name) => ({
      name,
      kind: 'qemu' as const,
      migrationAddress: netns ? (name === 'hostA' ? netns.addressA : netns.addressB) : '127.0.0.1',
      runDir: path.join(this.dir, name),
      qemuBinary: binaries ? (name === 'hostA' ? binaries.a : binaries.b) : QEMU_BINARY,
      accel,
      ...(netns ? { netns: name === 'hostA' ? netns.a : netns.b } : {}),
    }));
    this.hosts = new Map(this.configs.map((config) => [config.name, new QemuHost(config, this.specs)]));
    labs.add(this);
  }

  host(name: string): QemuHost {
    return this.hosts.get(name) as QemuHost;
  }

  ramFile(host: string, vm: string): string {
    return path.join(this.dir, host, `${vm}.ram`);
  }

  /** Starts a VM running on a host, its file-backed RAM first filled with random bytes. */
  async startRunning(vm: string, host: string, randomMiB = 0): Promise<StartedVm> {
    fs.mkdirSync(path.join(this.dir, host), { recursive: true });
    if (randomMiB > 0) {
      const fd = fs.openSync(this.ramFile(host, vm), 'w');
      const chunk = Buffer.alloc(1 << 20);
      for (let i = 0; i < randomMiB; i++) fs.writeSync(fd, crypto.randomFillSync(chunk));
      fs.closeSync(fd);
    }
    return this.host(host).startVm(vm, { paused: false, incoming: false });
  }

  /** PIDs of the QEMU processes whose pid files are in the lab. */
  livePids(): number[] {
    const pids: number[] = [];
    for (const config of this.configs) {
      if (!fs.existsSync(config.runDir)) continue;
      for (const file of fs.readdirSync(config.runDir).filter((f) => f.endsWith('.pid'))) {
        const pid = Number(fs.readFileSync(path.join(config.runDir, file), 'utf8').trim());
        if (isAlive(pid)) pids.push(pid);
      }
    }
    return pids;
  }

  async cleanup(): Promise<void> {
    for (const pid of this.livePids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    try {
      await waitUntil('the lab\'s QEMU processes to end after SIGKILL', () => this.livePids(), (pids) => pids.length === 0);
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
      labs.delete(this);
    }
  }
}

const labs = new Set<QemuLab>();
process.on('exit', () => {
  for (const lab of labs) {
    for (const pid of lab.livePids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

/** Writes an inventory file for the lab's hosts and VMs, so the CLI can be run against it. */
export function writeLabConfig(lab: QemuLab): string {
  const file = path.join(lab.dir, 'config.yaml');
  const hosts = Object.fromEntries(lab.configs.map((c) => [c.name, { kind: 'qemu', migrationAddress: c.migrationAddress, runDir: c.runDir, qemuBinary: c.qemuBinary, accel: c.accel }]));
  const document = { stateDir: path.join(lab.dir, 'state'), hosts, vms: [...lab.specs.values()] };
  // JSON is YAML.
  fs.writeFileSync(file, JSON.stringify(document, null, 2));
  return file;
}
