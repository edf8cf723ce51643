import path from 'node:path';
import { Args } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { UsageError } from '../errors.js';
import { hostsFromInventory } from '../hosts/hosts.js';
import { loadInventory } from '../inventory/inventory.js';
import { tapInterfaceName, virtioNics, type VmSpec } from '../inventory/vm-spec.js';
import { processAlive, readMarker } from '../migration/active.js';
import { listJournals } from '../migration/journal.js';

interface VmStatus {
  vm: string;
  /**
   * Hosts where a QEMU of this VM is: those that answer with their run state and migration
   * status; those that do not answer with `status` busy (another client holds the monitor,
   * or no greeting came) or unknown, and the reason. Hosts where it is gone are left out.
   */
  placements: { host: string; status: string; migration: string | null; reason?: string }[];
  /** Where the guest runs (running or paused, not a migration leftover), or null. */
  runsOn: string | null;
  migrationInFlight: { pid: number; to: string; since: string } | null;
  needsRecover: string | null;
  /**
   * The inventory's virtio-net NICs: id, MAC (what preflight checks on the source and the
   * announce moves), backend, and for a tap the interface on the host where the VM runs.
   */
  nics: { id: string; mac: string; netdev: string; tap: string | null }[];
}

export default class Status extends BaseCommand<typeof Status> {
  static override summary = 'Where each VM runs, and any migration in flight.';

  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status vm1 --json'];

  static override args = {
    vm: Args.string({ description: 'only this VM' }),
  };

  public async run(): Promise<{ vms: VmStatus[] }> {
    const inventory = loadInventory(this.flags.config);
    const names = this.args.vm ? [this.args.vm] : [...inventory.vms.keys()];
    if (this.args.vm && !inventory.vms.has(this.args.vm)) throw new UsageError('UNKNOWN_VM', `no VM named '${this.args.vm}' in ${inventory.file}`);
    const hosts = hostsFromInventory(inventory);
    const unfinished = listJournals(path.join(inventory.stateDir, 'journal')).filter((j) => !j.ended);
    const vms: VmStatus[] = [];
    for (const vm of names) {
      const probes = await Promise.all(
        [...hosts.values()].map(async (host) => {
          const probe = await host.probeVm(vm);
          probe.monitor?.disconnect();
          return { host: host.name, presence: probe.presence };
        }),
      );
      const placements: VmStatus['placements'] = probes.flatMap(({ host, presence }) => {
        if (presence.state === 'gone') return [];
        if (presence.state === 'unknown') return [{ host, status: presence.busy ? 'busy' : 'unknown', migration: null, reason: presence.reason }];
        return [{ host, status: presence.status, migration: presence.migration ?? null }];
      });
      const unanswered = placements.filter((p) => p.status === 'busy' || p.status === 'unknown');
      const live = placements.filter((p) => p.status === 'running' || p.status === 'paused' || p.status === 'finish-migrate');
      const marker = readMarker(inventory.stateDir, vm);
      const journal = unfinished.find((j) => j.vm === vm);
      vms.push({
        vm,
        placements,
        // A host that does not answer may hold the guest too: then nobody can say where it runs.
        runsOn: live.length === 1 && unanswered.length === 0 ? (live[0]?.host ?? null) : null,
        migrationInFlight: marker && processAlive(marker.pid) ? { pid: marker.pid, to: marker.to, since: marker.startedAt } : null,
        needsRecover: journal && !(marker && processAlive(marker.pid)) ? journal.file : null,
        nics: nicsOf(inventory.vms.get(vm), live.length === 1 ? live[0]?.host : undefined),
      });
    }
    if (!this.jsonEnabled()) this.out(renderStatus(vms));
    return { vms };
  }
}

/** The VM's NICs as status shows them; a tap's interface named for `host`. */
function nicsOf(spec: VmSpec | undefined, host: string | undefined): VmStatus['nics'] {
  if (!spec) return [];
  return virtioNics(spec).map((nic) => {
    const netdev = nic.netdev;
    const tap = netdev.type === 'tap' && host !== undefined ? tapInterfaceName(spec.name, nic, host) : null;
    const backend = netdev.type === 'tap' ? `tap on ${netdev.bridge}` : netdev.type === 'bridge' ? `bridge ${netdev.br}` : netdev.type;
    return { id: nic.id, mac: nic.mac, netdev: backend, tap };
  });
}

function renderStatus(vms: VmStatus[]): string {
  const rows = [['VM', 'HOST', 'STATE', 'MIGRATION', 'NICS', 'NOTE']];
  for (const vm of vms) {
    const busy = vm.placements.filter((p) => p.status === 'busy').map((p) => p.host);
    const unknown = vm.placements.filter((p) => p.status === 'unknown').map((p) => `${p.host}: ${p.reason}`);
    const notes = [
      vm.migrationInFlight ? `migrating to ${vm.migrationInFlight.to} (nicmig pid ${vm.migrationInFlight.pid})` : vm.needsRecover ? 'interrupted migration: run `nicmig recover`' : '',
      busy.length > 0 ? `monitor busy on ${busy.join(', ')} (another client holds it, or QEMU is hung)` : '',
      unknown.length > 0 ? `no answer from ${unknown.join('; ')}` : '',
      vm.placements.length === 0 && !vm.migrationInFlight ? 'not running on any host' : '',
    ];
    const note = notes.filter(Boolean).join('; ');
    const nics = vm.nics.map((nic) => `${nic.id} ${nic.mac}${nic.tap ? ` (tap ${nic.tap})` : ''}`).join(', ') || '-';
    if (vm.placements.length === 0) rows.push([vm.vm, '-', '-', '-', nics, note]);
    vm.placements.forEach((p, i) => rows.push([i === 0 ? vm.vm : '', p.host, p.status, p.migration ?? '-', i === 0 ? nics : '', i === 0 ? note : '']));
  }
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()).join('\n');
}
