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
