import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { UsageError } from '../../errors.js';
import { hostsFromInventory, whereVmRuns } from '../../hosts/hosts.js';
import { loadInventory } from '../../inventory/inventory.js';
import { PreflightError } from '../../migration/errors.js';
import { networkReasons } from '../../migration/preflight.js';

export default class VmStart extends BaseCommand<typeof VmStart> {
  static override summary = 'Start a VM from its inventory entry on a host, as a supervised process with nicmig\'s monitor.';

  static override description = `Starts VM on HOST from the inventory's VM spec: a QEMU process (or a simulated one on a sim host) with its QMP monitor at <runDir>/<vm>.qmp and, for QEMU, its stderr in <runDir>/<vm>.log. Refused (exit 10, nothing started) when the VM already runs on any host of the inventory, or when the host lacks a bridge its NICs need (or, for a bridge NIC, the bridge helper or its permission). The taps of its tap NICs are made and attached to their bridges before QEMU starts. Once started it can be migrated with \`nicmig migrate\` and stopped with \`nicmig vm stop\`.`;

  static override examples = ['<%= config.bin %> vm start vm1 --on hostA', '<%= config.bin %> vm start vm1 --on hostA --paused --json'];

  static override args = {
    vm: Args.string({ description: 'VM name, as in the inventory', required: true }),
  };

  static override flags = {
    on: Flags.string({ description: 'The host to start it on (needed when the inventory has more than one).' }),
    paused: Flags.boolean({ description: 'Start it paused (-S): its vCPUs wait for `cont`.', default: false }),
  };

  public async run(): Promise<{ vm: string; host: string; status: string; pid: number | null; endpoint: string; log: string | null }> {
    const { vm } = this.args;
    const inventory = loadInventory(this.flags.config);
    if (!inventory.vms.has(vm)) throw new UsageError('UNKNOWN_VM', `no VM named '${vm}' in ${inventory.file}`, { hint: `known VMs: ${[...inventory.vms.keys()].join(', ') || 'none'}` });
    const hosts = hostsFromInventory(inventory);
    const names = [...hosts.keys()];
    const hostName = this.flags.on ?? (names.length === 1 ? names[0] : undefined);
    if (!hostName) throw new UsageError('MISSING_HOST', `say which host to start '${vm}' on: --on ${names.join('|')}`);
    const host = hosts.get(hostName);
    if (!host) throw new UsageError('UNKNOWN_HOST', `no host named '${hostName}' in the inventory`, { hint: `known hosts: ${names.join(', ') || 'none'}` });
    // One copy of a guest at a time, anywhere in the inventory.
    const running = await whereVmRuns(hosts, vm);
    if (running.length > 0) throw new PreflightError(running.map((r) => `VM '${vm}' already ${r.status === 'running' ? 'runs' : `is ${r.status}`} on ${r.host}`));
    // Its NICs' bridges and the bridge helper, as a migration's preflight checks them on a destination.
    const spec = inventory.vms.get(vm);
    const reasons = spec ? networkReasons(spec, hostName, await host.facts()) : [];
    if (reasons.length > 0) throw new PreflightError(reasons);
    const started = await host.startVm(vm, { paused: this.flags.paused, incoming: false });
    const status = (await started.monitor.queryStatus()).status;
    started.monitor.disconnect();
    const result = { vm, host: hostName, status, pid: started.pid ?? null, endpoint: started.endpoint, log: started.log ?? null };
    if (!this.jsonEnabled()) this.out(`${vm} ${status === 'running' ? 'runs' : `is ${status}`} on ${hostName}: ${result.pid === null ? '' : `pid ${result.pid}, `}monitor ${result.endpoint}${result.log ? `, log ${result.log}` : ''}`);
    return result;
  }
}
