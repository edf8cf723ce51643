import path from 'node:path';
import { Args } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { UsageError } from '../errors.js';
import { hostsFromInventory } from '../hosts/hosts.js';
import { loadInventory } from '../inventory/inventory.js';
import { processAlive, readMarker } from '../migration/active.js';
import { listJournals } from '../migration/journal.js';

interface VmStatus {
  vm: string;
  /** Hosts where a QEMU of this VM answers, with its run state and migration status. */
  placements: { host: string; status: string; migration: string | null }[];
  /** Where the guest runs (running or paused, not a migration leftover), or null. */
  runsOn: string | null;
  migrationInFlight: { pid: number; to: string; since: string } | null;
  needsRecover: string | null;
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
      const placements: VmStatus['placements'] = [];
      for (const host of hosts.values()) {
        const monitor = await host.connectVm(vm).catch(() => undefined);
        if (!monitor) continue;
        try {
          const [status, migration] = await Promise.all([monitor.queryStatus(), monitor.queryMigrate()]);
          placements.push({ host: host.name, status: status.status, migration: migration.status ?? null });
        } finally {
          monitor.disconnect();
        }
      }
      const live = placements.filter((p) => p.status === 'running' || p.status === 'paused' || p.status === 'finish-migrate');
      const marker = readMarker(inventory.stateDir, vm);
      const journal = unfinished.find((j) => j.vm === vm);
      vms.push({
        vm,
        placements,
        runsOn: live.length === 1 ? (live[0]?.host ?? null) : null,
        migrationInFlight: marker && processAlive(marker.pid) ? { pid: marker.pid, to: marker.to, since: marker.startedAt } : null,
        needsRecover: journal && !(marker && processAlive(marker.pid)) ? journal.file : null,
      });
    }
    if (!this.jsonEnabled()) this.out(renderStatus(vms));
    return { vms };
  }
}

function renderStatus(vms: VmStatus[]): string {
  const rows = [['VM', 'HOST', 'STATE', 'MIGRATION', 'NOTE']];
  for (const vm of vms) {
    const note = vm.migrationInFlight
      ? `migrating to ${vm.migrationInFlight.to} (nicmig pid ${vm.migrationInFlight.pid})`
      : vm.needsRecover
        ? 'interrupted migration: run `nicmig recover`'
        : vm.placements.length === 0
          ? 'not running on any host'
          : '';
    if (vm.placements.length === 0) rows.push([vm.vm, '-', '-', '-', note]);
    vm.placements.forEach((p, i) => rows.push([i === 0 ? vm.vm : '', p.host, p.status, p.migration ?? '-', i === 0 ? note : '']));
  }
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()).join('\n');
}
