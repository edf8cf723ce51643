import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { UsageError } from '../../errors.js';
import { hostsFromInventory, whereVmRuns } from '../../hosts/hosts.js';
import { loadInventory } from '../../inventory/inventory.js';
import { readMarker } from '../../migration/active.js';
import { PreflightError } from '../../migration/errors.js';

export default class VmStop extends BaseCommand<typeof VmStop> {
  static override summary = 'Stop a VM: quit softly, then SIGTERM and SIGKILL, each bounded.';

  static override description = `Stops VM wherever it runs (or on --on HOST): QMP quit with a 2 s deadline, then SIGTERM, then SIGKILL, and waits until the process is gone, then deletes the taps nicmig made for its tap NICs on that host. A VM that is not running is not an error (exit 0, "not running"), so the command can be repeated. Refused (exit 10) while a \`nicmig migrate\` of the VM is under way: cancel it first.`;

  static override examples = ['<%= config.bin %> vm stop vm1', '<%= config.bin %> vm stop vm1 --on hostB --json'];

  static override args = {
    vm: Args.string({ description: 'VM name, as in the inventory', required: true }),
  };

  static override flags = {
    on: Flags.string({ description: 'Only on this host (default: wherever it runs).' }),
  };

  public async run(): Promise<{ vm: string; stopped: { host: string; how: string }[] }> {
    const { vm } = this.args;
    const inventory = loadInventory(this.flags.config);
    if (!inventory.vms.has(vm)) throw new UsageError('UNKNOWN_VM', `no VM named '${vm}' in ${inventory.file}`, { hint: `known VMs: ${[...inventory.vms.keys()].join(', ') || 'none'}` });
    const marker = readMarker(inventory.stateDir, vm);
    if (marker) throw new PreflightError([`nicmig (pid ${marker.pid}) is migrating '${vm}' to ${marker.to}: \`nicmig cancel ${vm}\` first`]);
    const hosts = hostsFromInventory(inventory);
    if (this.flags.on && !hosts.has(this.flags.on)) throw new UsageError('UNKNOWN_HOST', `no host named '${this.flags.on}' in the inventory`, { hint: `known hosts: ${[...hosts.keys()].join(', ')}` });
    const targets = this.flags.on ? [this.flags.on] : (await whereVmRuns(hosts, vm, { includeMigrating: true })).map((r) => r.host);
    const stopped: { host: string; how: string }[] = [];
    for (const name of targets) {
      const how = await hosts.get(name)?.stopVm(vm);
      if (how && how !== 'not-running') stopped.push({ host: name, how });
    }
    if (!this.jsonEnabled()) {
      this.out(stopped.length === 0 ? `${vm} is not running${this.flags.on ? ` on ${this.flags.on}` : ''}` : stopped.map((s) => `${vm} stopped on ${s.host} (${s.how === 'quit' ? 'quit' : 'killed after the quit deadline'})`).join('\n'));
    }
    return { vm, stopped };
  }
}
