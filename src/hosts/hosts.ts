import type { HostHandle } from '../migration/ports.js';
import type { Inventory } from '../inventory/inventory.js';
import { QemuHost } from './qemu-host.js';
import { SimulatedHost } from './sim-host.js';

/** The hosts of an inventory as the orchestrator talks to them. */
export function hostsFromInventory(inventory: Inventory): Map<string, HostHandle> {
  const hosts = new Map<string, HostHandle>();
  for (const config of inventory.hosts.values()) {
    const options = { extensionPrefix: inventory.qmpExtensionPrefix };
    hosts.set(config.name, config.kind === 'qemu' ? new QemuHost(config, inventory.vms, options) : new SimulatedHost(config, inventory.vms, options));
  }
  return hosts;
}

/**
 * The hosts where a VM's QEMU answers, with its run state. A destination waiting for a stream
 * (inmigrate) or a source left after one (postmigrate) is not where it runs, unless asked.
 */
export async function whereVmRuns(hosts: ReadonlyMap<string, HostHandle>, vm: string, options: { includeMigrating?: boolean } = {}): Promise<{ host: string; status: string }[]> {
  const found: { host: string; status: string }[] = [];
  for (const host of hosts.values()) {
    const monitor = await host.connectVm(vm).catch(() => undefined);
    if (!monitor) continue;
    try {
      const { status } = await monitor.queryStatus();
      if (options.includeMigrating || (status !== 'inmigrate' && status !== 'postmigrate')) found.push({ host: host.name, status });
    } finally {
      monitor.disconnect();
    }
  }
  return found;
}
