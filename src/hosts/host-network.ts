import fs from 'node:fs';
import { execa } from 'execa';
import type { HostConfig } from '../inventory/inventory.js';
import { tapPlan, virtioNics, type VmSpec } from '../inventory/vm-spec.js';
import type { BridgeHelperFacts, HostFacts } from '../migration/ports.js';
import { bridgeHelperFacts } from './bridge-helper.js';
import { TapRunner, type TapSpec } from './taps.js';

/**
 * What a QEMU host does for its VMs' NICs: the taps of `netdev: {type: tap}` (made before QEMU
 * starts, deleted once it is gone) and the facts preflight checks (bridges, the bridge helper
 * and its ACL), all in the host's network namespace when it has one.
 */
export class HostNetwork {
  private readonly runner: TapRunner;

  constructor(
    private readonly config: HostConfig,
    private readonly specs: ReadonlyMap<string, VmSpec>,
  ) {
    this.runner = new TapRunner(config.netns, config.name);
  }

  /** The taps of a VM on this host. */
  taps(vm: string): TapSpec[] {
    const spec = this.specs.get(vm);
    return spec ? tapPlan(spec, this.config.name) : [];
  }

  /** Makes and attaches the VM's taps; all or nothing. Resolves with their names. */
  createTaps(vm: string): Promise<string[]> {
    const taps = this.taps(vm);
    return taps.length === 0 ? Promise.resolve([]) : this.runner.create(taps);
  }

  /** Deletes the VM's taps that exist; resolves with those deleted. */
  removeTaps(vm: string): Promise<string[]> {
    const taps = this.taps(vm);
    return taps.length === 0 ? Promise.resolve([]) : this.runner.remove(taps.map((tap) => tap.ifname));
  }

  /** The facts of this host's network, asked only when a VM of the inventory has a NIC that needs them. */
  async facts(): Promise<Pick<HostFacts, 'bridges' | 'bridgeHelper'>> {
    const nics = [...this.specs.values()].flatMap(virtioNics);
    const needsBridges = nics.some((nic) => nic.netdev.type === 'tap' || nic.netdev.type === 'bridge');
    const needsHelper = nics.some((nic) => nic.netdev.type === 'bridge');
    const [bridges, bridgeHelper] = await Promise.all([
      needsBridges ? this.runner.bridges().catch(() => null) : Promise.resolve(null),
      needsHelper ? this.bridgeHelper() : Promise.resolve(null),
    ]);
    return { bridges, bridgeHelper };
  }

  private helper: Promise<BridgeHelperFacts> | undefined;

  /** The bridge helper and its ACL, read once per host object. */
  bridgeHelper(): Promise<BridgeHelperFacts> {
    this.helper ??= bridgeHelperFacts(this.config.bridgeHelper, this.config.qemuBinary, (file) => this.readFile(file));
    return this.helper;
  }

  /** Whether a VM of this host needs the bridge helper (its path goes on QEMU's command line). */
  needsBridgeHelper(vm: string): boolean {
    const spec = this.specs.get(vm);
    return spec !== undefined && virtioNics(spec).some((nic) => nic.netdev.type === 'bridge');
  }

  /**
   * A file as this host's QEMU sees it: `ip netns exec` gives a namespace its own files from
   * /etc/netns/<name>/ in place of /etc's, and the helper QEMU runs reads them so.
   */
  private async readFile(file: string): Promise<string> {
    if (this.config.netns === undefined) return fs.readFileSync(file, 'utf8');
    const result = await execa('ip', ['netns', 'exec', this.config.netns, 'cat', '--', file], { reject: false, timeout: 10_000, stdin: 'ignore' });
    if (result.exitCode !== 0) throw new Error(String(result.stderr).trim().replace(/^cat: /, '') || `exit ${result.exitCode}`);
    return String(result.stdout);
  }
}
