import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseInventory, type Inventory } from '../inventory/inventory.js';
import type { SimQemuVersion } from '../inventory/sim-qemu-version.js';
import { hostsFromInventory } from '../hosts/hosts.js';
import type { HostHandle } from '../migration/ports.js';
import { SimHost } from '../sim/host.js';
import { createI40evfDevice, I40evfDevice, pfFacts, SimPf, type PfLimits } from '../sim/i40e/index.js';
import { MigrationLink } from '../sim/network/migration-link.js';
import { LearningSwitch } from '../sim/network/switch.js';
import { TrafficGenerator, type TrafficReport } from '../sim/network/traffic.js';
import type { GuestDriverOptions } from '../sim/i40e/guest-driver.js';
import type { MigrationTarget } from '../sim/stream/uri.js';
import type { SimVm } from '../sim/vm.js';

export interface DemoLabOptions {
  /** Where the lab keeps its sockets, journal and inventory; a temporary directory by default. */
  dir?: string;
  memoryMiB?: number;
  dirtyPagesPerSecond?: number;
  /** Give vm1 an i40e VF (vfio-i40evf) whose guest driver brings it up. Default true. */
  withVf?: boolean;
  /** How many VFs vm1 has (vf0, vf1, ...; MACs 02:00:00:00:00:01, :02, ...). Default 1. */
  vfs?: number;
  /** PF limits per host (e.g. an older kernel on hostB). */
  limits?: Partial<Record<'hostA' | 'hostB', Partial<PfLimits>>>;
  /** Route the migration streams through a MigrationLink (`lab.link`) that tests can take down. Default false. */
  migrationLink?: boolean;
  /** The simulated guest's iavf driver (ring length, queue pairs); the driver's defaults when absent. */
  guest?: GuestDriverOptions;
  /** The QEMU version each host presents (its inventory entry's qemuVersion); 7.2 by default. */
  qemuVersions?: Partial<Record<'hostA' | 'hostB', SimQemuVersion>>;
  /** vm1's `machine` in the inventory; default q35. */
  machine?: string;
  log?: (message: string) => void;
}

export const DEMO_PF = 'enp1s0f0';
export const DEMO_MAC = '02:00:00:00:00:01';
const HOSTS = ['hostA', 'hostB'] as const;

/**
 * The demo's downtime limit. The simulated guest (5,000 pages/s against the in-process
 * stream's few hundred MiB/s) converges to it within a few passes; measured in
 * docs/lab.md's "What the demo shows".
 */
export const DEMO_DOWNTIME_LIMIT_MS = 30;

/**
 * The demo guest's iavf driver: one queue pair with a 128-descriptor ring (Linux iavf's
 * default is 512). The simulator's default (32 descriptors) overflows whenever this
 * single process, which runs both hosts and the traffic, falls behind on a busy CPU, and the
 * probes it drops then would be counted with those lost to the pause.
 */
export const DEMO_GUEST_DRIVER: GuestDriverOptions = { maxQueuePairs: 1, ringLength: 128, bufferSize: 1024 };

/** What to try after the demo: [command, what it shows]. Paths resolve from where nicmig is installed. */
export function nextSteps(packageRoot: string, cwd: string): [string, string][] {
  const capture = path.join(packageRoot, 'fixtures', 'captures', 'iavf-runtime.cap');
  const relative = path.relative(cwd, capture);
  const shown = relative.startsWith('..') || path.isAbsolute(relative) ? capture : relative;
  return [
    ['nicmig migrate --help', 'the real command, and its exit codes'],
    ['nicmig sim host --help', 'run simulated hosts as processes, then migrate between them'],
    [`nicmig vf plan ${shellQuote(shown)}`, 'a VF admin log reduced to its replay plan'],
  ];
}

export function renderNextSteps(steps: [string, string][]): string {
  const width = Math.max(...steps.map(([command]) => command.length));
  return ['Next:', ...steps.map(([command, what]) => `  ${command.padEnd(width)}   ${what}`)].join('\n');
}

function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * Two simulated hosts in this process on one learning switch, hostA running vm1 (with an
 * i40e VF whose guest driver configured it), a traffic source/sink on the switch, and an
 * inventory naming it all: what `nicmig demo` migrates. `close()` removes everything.
 */
export class DemoLab {
  readonly dir: string;
  readonly inventory: Inventory;
  readonly hosts: Map<string, HostHandle>;
  readonly simHosts = new Map<string, SimHost>();
  readonly pfs = new Map<string, SimPf>();
  readonly fabric = new LearningSwitch();
  /** With `migrationLink`: the path the migration streams between the hosts take (tests take it down). */
  readonly link: MigrationLink | undefined;
  readonly traffic = new TrafficGenerator();
  private readonly ownsDir: boolean;

  private constructor(dir: string, ownsDir: boolean, inventory: Inventory, link: MigrationLink | undefined) {
    this.dir = dir;
    this.link = link;
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
      ...HOSTS.map((name) => {
        const version = options.qemuVersions?.[name];
        return `  ${name}: {kind: sim, runDir: ${JSON.stringify(path.join(dir, name))}, migrationAddress: 127.0.0.1${version ? `, qemuVersion: '${version}'` : ''}}`;
      }),
      'vms:',
      `  - name: vm1`,
      ...(options.machine ? [`    machine: ${JSON.stringify(options.machine)}`] : []),
      `    memoryMiB: ${memoryMiB}`,
      `    vcpus: 2`,
      ...(options.withVf === false
        ? []
        : [
            `    devices:`,
            ...Array.from({ length: options.vfs ?? 1 }, (_, i) => `      - {type: vfio-i40evf, id: vf${i}, pf: ${DEMO_PF}, vf: auto, mac: "02:00:00:00:00:${(i + 1).toString(16).padStart(2, '0')}"}`),
          ]),
      '',
    ].join('\n');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(configFile, text);
    const lab = new DemoLab(dir, ownsDir, parseInventory(text, configFile), options.migrationLink ? new MigrationLink() : undefined);
    const link = lab.link;
    try {
      for (const [index, name] of HOSTS.entries()) {
        // VSI ids differ per host, as on real PFs.
        const pf = new SimPf({ host: name, name: DEMO_PF, numVfs: 8, vsiBase: 17 + index * 23, limits: options.limits?.[name] });
        await pf.connect(lab.fabric);
        lab.pfs.set(name, pf);
        const version = lab.inventory.hosts.get(name)?.qemuVersion;
        const host = new SimHost({
          name,
          ...(version ? { qemuVersion: version } : {}),
          dir: path.join(dir, name),
          dirtyPagesPerSecond: options.dirtyPagesPerSecond ?? 5000,
          log: options.log,
          deviceFactory: (device, vm) => (device.type === 'vfio-i40evf' ? createI40evfDevice(device, new Map([[pf.name, pf]]), { vm, ...(options.guest ? { guest: options.guest } : {}) }) : undefined),
          pfFacts: () => [pfFacts(pf)],
          ...(link ? { connectMigration: (target: MigrationTarget) => link.connect(target) } : {}),
        });
        await host.start();
        lab.simHosts.set(name, host);
      }
      await lab.traffic.connect(lab.fabric);
      await lab.simHosts.get('hostA')?.startVm(lab.inventory.vms.get('vm1') as never, { fillRandom: true });
    } catch (error) {
      await lab.close();
      throw error;
    }
    return lab;
  }

  get configFile(): string {
    return path.join(this.dir, 'config.yaml');
  }

  /** The simulated VM on a host, if it runs there. */
  vm(host: string, name = 'vm1'): SimVm | undefined {
    return this.simHosts.get(host)?.vms.get(name)?.vm;
  }

  /** The VM's i40evf device on a host (the first, or the one with this id). */
  device(host: string, id?: string, name = 'vm1'): I40evfDevice | undefined {
    return this.vm(host, name)?.devices.find((d): d is I40evfDevice => d instanceof I40evfDevice && (id === undefined || d.id === id));
  }

  /** Starts probes to the VM's MAC (the guest echoes them back: traffic both ways). */
  startTraffic(rate = 2000): void {
    this.traffic.start({ target: DEMO_MAC, rate });
  }

  /** Resolves once `count` more probes have come back, or rejects after `timeoutMs`. */
  async trafficFlowing(count = 100, timeoutMs = 10_000): Promise<void> {
    const target = this.traffic.report().received + count;
    const deadline = Date.now() + timeoutMs;
    while (this.traffic.report().received < target) {
      if (Date.now() > deadline) throw new Error(`traffic did not flow: ${JSON.stringify(this.traffic.report())}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  stopTraffic(): TrafficReport {
    this.traffic.stop();
    return this.traffic.report();
  }

  async close(): Promise<void> {
    this.traffic.stop();
    this.traffic.close();
    this.link?.close();
    for (const host of [...this.simHosts.values()]) await host.stop().catch(() => undefined);
    this.simHosts.clear();
    for (const pf of this.pfs.values()) await Promise.resolve(pf.disconnect?.()).catch(() => undefined);
    if (this.ownsDir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
