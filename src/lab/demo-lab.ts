import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseInventory, type Inventory } from '../hosts/inventory.js';
import { hostsFromInventory } from '../hosts/hosts.js';
import type { HostHandle } from '../migration/ports.js';
import { SimHost } from '../sim/host.js';
import { createI40evfDevice, SimPf } from '../sim/i40e/index.js';

export interface DemoLabOptions {
  /** Where the lab keeps its sockets, journal and inventory; a temporary directory by default. */
  dir?: string;
  memoryMiB?: number;
  dirtyPagesPerSecond?: number;
  /** Give vm1 an i40e VF (vfio-i40evf) whose guest driver brings it up. Default true. */
  withVf?: boolean;
  log?: (message: string) => void;
}

export const DEMO_PF = 'enp1s0f0';

/**
 * Two simulated hosts in this process, hostA running vm1, and an inventory naming them:
 * what `nicmig demo` migrates. Everything it made goes away with `close()`.
 */
export class DemoLab {
  readonly dir: string;
  readonly inventory: Inventory;
  readonly hosts: Map<string, HostHandle>;
  private readonly simHosts: SimHost[] = [];
  private readonly ownsDir: boolean;

  private constructor(dir: string, ownsDir: boolean, inventory: Inventory) {
    this.dir = dir;
    this.ownsDir = ownsDir;
    this.inventory = inventory;
    this.hosts = hostsFromInventory(inventory);
  }

  static async start(options: DemoLabOptions = {}): Promise<DemoLab> {
    const ownsDir = options.dir === undefined;
    const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-demo-'));
    const configFile = path.join(dir, 'config.yaml');
    const memoryMiB = options.memoryMiB ?? 256;
    const text = [
      `# nicmig demo lab: two simulated hosts`,
      `stateDir: ${JSON.stringify(path.join(dir, 'state'))}`,
      'hosts:',
      `  hostA: {kind: sim, runDir: ${JSON.stringify(path.join(dir, 'hostA'))}, migrationAddress: 127.0.0.1}`,
      `  hostB: {kind: sim, runDir: ${JSON.stringify(path.join(dir, 'hostB'))}, migrationAddress: 127.0.0.1}`,
      'vms:',
      `  - name: vm1`,
      `    memoryMiB: ${memoryMiB}`,
      `    vcpus: 2`,
      ...(options.withVf === false ? [] : [`    devices:`, `      - {type: vfio-i40evf, id: vf0, pf: ${DEMO_PF}, vf: auto, mac: "02:00:00:00:00:01"}`]),
      '',
    ].join('\n');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(configFile, text);
    const lab = new DemoLab(dir, ownsDir, parseInventory(text, configFile));
    try {
      for (const [index, name] of ['hostA', 'hostB'].entries()) {
        // VSI ids differ per host, as on real PFs.
        const pf = new SimPf({ host: name, name: DEMO_PF, numVfs: 8, vsiBase: 17 + index * 23 });
        const host = new SimHost({
          name,
          dir: path.join(dir, name),
          dirtyPagesPerSecond: options.dirtyPagesPerSecond ?? 5000,
          log: options.log,
          deviceFactory: (device) => (device.type === 'vfio-i40evf' ? createI40evfDevice(device, new Map([[pf.name, pf]])) : undefined),
        });
        await host.start();
        lab.simHosts.push(host);
      }
      const spec = lab.inventory.vms.get('vm1');
      await lab.simHosts[0]?.startVm(spec as never, { fillRandom: true });
    } catch (error) {
      await lab.close();
      throw error;
    }
    return lab;
  }

  get configFile(): string {
    return path.join(this.dir, 'config.yaml');
  }

  async close(): Promise<void> {
    for (const host of this.simHosts.splice(0)) await host.stop().catch(() => undefined);
    if (this.ownsDir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
