import { BaseCommand } from '../base-command.js';
import { hostsFromInventory } from '../hosts/hosts.js';
import { loadInventory } from '../inventory/inventory.js';

interface VmEntry {
  vm: string;
  memoryMiB: number;
  vcpus: number;
  vfs: string[];
  strategy: 'vf-replay' | 'plain';
  runsOn: string | null;
  status: string | null;
}

export default class Vms extends BaseCommand<typeof Vms> {
  static override summary = 'The VMs of the inventory, where each runs, and how it would migrate.';

  static override examples = ['<%= config.bin %> vms', '<%= config.bin %> vms --json'];

  public async run(): Promise<{ vms: VmEntry[] }> {
    const inventory = loadInventory(this.flags.config);
    const hosts = [...hostsFromInventory(inventory).values()];
    const vms: VmEntry[] = [];
    for (const spec of inventory.vms.values()) {
      let runsOn: string | null = null;
      let status: string | null = null;
      const probes = await Promise.all(hosts.map(async (host) => ({ host, probe: await host.probeVm(spec.name) })));
      for (const { host, probe } of probes) {
        probe.monitor?.disconnect();
        const { presence } = probe;
        // A monitor that does not answer is not "not running": say so (nicmig status has the reason).
        if (presence.state === 'unknown') {
          if (runsOn === null) status = `${presence.busy ? 'busy' : 'unknown'} on ${host.name}`;
          continue;
        }
        if (presence.state === 'gone') continue;
        // A destination waiting for a stream, or a source left after one, is not where it runs.
        if (presence.status === 'inmigrate' || presence.status === 'postmigrate') continue;
        runsOn = host.name;
        status = presence.status;
      }
      const vfs = spec.devices.filter((d) => d.type === 'vfio-i40evf').map((d) => `${d.id}@${d.type === 'vfio-i40evf' ? d.pf : ''}`);
      vms.push({ vm: spec.name, memoryMiB: spec.memoryMiB, vcpus: spec.vcpus, vfs, strategy: vfs.length > 0 ? 'vf-replay' : 'plain', runsOn, status });
    }
    if (!this.jsonEnabled()) {
      const rows = [['VM', 'HOST', 'STATE', 'MEMORY', 'VCPUS', 'VFS', 'MIGRATES BY'], ...vms.map((v) => [v.vm, v.runsOn ?? '-', v.status ?? 'not running', `${v.memoryMiB} MiB`, String(v.vcpus), v.vfs.join(' ') || '-', v.strategy])];
      const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
      this.out(rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd()).join('\n'));
    }
    return { vms };
  }
}
