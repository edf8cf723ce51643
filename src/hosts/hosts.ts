import { ConfigError } from '../errors.js';
import type { HostHandle } from '../migration/ports.js';
import type { Inventory } from './inventory.js';
import { QemuHost } from './qemu-host.js';

/** The hosts of an inventory as the orchestrator talks to them. */
export function hostsFromInventory(inventory: Inventory): Map<string, HostHandle> {
  const hosts = new Map<string, HostHandle>();
  for (const config of inventory.hosts.values()) {
    if (config.kind === 'qemu') {
      hosts.set(config.name, new QemuHost(config, inventory.vms, { extensionPrefix: inventory.qmpExtensionPrefix }));
    } else {
      throw new ConfigError('HOST_KIND_UNSUPPORTED', `host '${config.name}': kind '${config.kind}' is not supported by this build`, {
        details: { file: inventory.file, host: config.name },
      });
    }
  }
  return hosts;
}
