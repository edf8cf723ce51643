import { Flags } from '@oclif/core';
import { ConfigError } from '../../errors.js';
import { loadInventory } from '../../inventory/inventory.js';
import { DEFAULT_SIM_QEMU_VERSION, SIM_QEMU_VERSIONS, type SimQemuVersion } from '../../inventory/sim-qemu-version.js';
import { BaseCommand } from '../../base-command.js';
import { KERNEL_GENERATIONS, startPfHost, type KernelGeneration } from '../../lab/pf-host.js';
import { waitForStopSignal } from '../../lab/signals.js';
import { DEFAULT_EXTENSION_PREFIX, validateExtensionPrefix } from '../../qmp/monitor.js';

export default class SimHostCommand extends BaseCommand<typeof SimHostCommand> {
  static override summary = 'Run a simulated patched-QEMU host with an i40e PF until SIGTERM or Ctrl-C.';

  static override description = `Starts simulated QEMU VMs (QEMU 7.2 unless --qemu-version, or the inventory's qemuVersion of the host named --name, says 10.0), each with a QMP socket DIR/VM.qmp, and a control socket DIR/host.sock (JSON lines: start-vm, stop-vm, list-vms) through which another process (the orchestrator) starts destination VMs. DIR/host.json lists the VMs and their sockets; it appears once the host is ready. Logs go to stderr.

The host has one i40e PF (--pf) with --vfs VFs; a VM's vfio-i40evf device takes one of them. With --switch the PF's uplink is a port of that switch (nicmig sim switch), so VMs on several host processes share one network; without it the PF is on no network. --limits is the PF kernel's filter limits for untrusted VFs (current: 18 MACs / 16 VLANs, older: 12 / 8, oldest: 8 / 8), so that two hosts can disagree. On SIGTERM or SIGINT every VM stops, its VF is released, the PF leaves the switch and the sockets are removed.`;

  static override examples = [
    '<%= config.bin %> sim host --name hostA --dir /tmp/hostA --vm vm1 --memory 256 --dirty-rate 2000',
    '<%= config.bin %> sim host --name hostB --dir /tmp/lab/hostB --switch /tmp/lab/switch.sock --limits older',
    '<%= config.bin %> sim host --name hostC --dir /tmp/hostC --qemu-version 10.0',
    '<%= config.bin %> qmp unix:/tmp/hostA/vm1.qmp query-status',
  ];

  static override flags = {
    name: Flags.string({ description: 'Host name (in logs, host.json and the switch port name HOST/PF).', required: true }),
    dir: Flags.string({ description: 'Directory for the sockets and host.json.', required: true }),
    vm: Flags.string({
      description: 'Start a running VM of this name (repeatable): its spec from --config when the inventory has it (devices, VFs included), else one without devices.',
      multiple: true,
      default: [],
    }),
    memory: Flags.integer({ description: 'Guest RAM of the VMs started with --vm, MiB.', default: 64, min: 16 }),
    'dirty-rate': Flags.integer({ description: 'Pages per second each running guest dirties.', default: 0, min: 0 }),
    pf: Flags.string({ description: 'Interface name of the i40e PF (a VM spec device\'s pf).', default: 'enp1s0f0' }),
    vfs: Flags.integer({ description: 'Number of VFs on the PF.', default: 8, min: 1, max: 128 }),
    'vsi-base': Flags.integer({ description: 'VF n gets VSI id BASE+n. Default: derived from --name, so two hosts differ.', min: 1, max: 1024 }),
    limits: Flags.string({ description: 'The PF kernel\'s filter limits for untrusted VFs.', options: KERNEL_GENERATIONS, default: 'current' }),
    switch: Flags.string({ description: 'Unix socket of the switch to plug the PF\'s uplink into (nicmig sim switch).' }),
    'extension-prefix': Flags.string({ description: 'Prefix of the vfio-i40evf QMP extension commands and event.', default: DEFAULT_EXTENSION_PREFIX }),
    'qemu-version': Flags.string({
      description: `The QEMU version the VMs present (greeting, QMP schema, migration capabilities and parameters, machine types; docs/simulator.md). Default: the inventory's hosts.NAME.qemuVersion, else ${DEFAULT_SIM_QEMU_VERSION}.`,
      options: [...SIM_QEMU_VERSIONS],
    }),
  };

  public async run(): Promise<void> {
    const { name, dir, vm: vmNames, memory } = this.flags;
    // Refused before anything starts: a bad prefix would name every extension command wrongly.
    const extensionPrefix = validateExtensionPrefix(this.flags['extension-prefix']);
    // The same VM spec the orchestrator starts a destination from, when there is an inventory.
    const inventory = this.flags.config ? loadInventory(this.flags.config) : undefined;
    const qemuVersion = simulatedVersion(this.flags['qemu-version'] as SimQemuVersion | undefined, name, inventory);
    const log = (message: string): void => {
      process.stderr.write(`[${new Date().toISOString()}] ${message}\n`);
    };
    const { host, stop } = await startPfHost({
      name,
      dir,
      dirtyPagesPerSecond: this.flags['dirty-rate'],
      extensionPrefix,
      pf: this.flags.pf,
      vfs: this.flags.vfs,
      ...(this.flags['vsi-base'] === undefined ? {} : { vsiBase: this.flags['vsi-base'] }),
      limits: this.flags.limits as KernelGeneration,
      ...(this.flags.switch ? { switchSocket: this.flags.switch } : {}),
      qemuVersion,
      log,
    });
    try {
      for (const vmName of vmNames) await host.startVm(inventory?.vms.get(vmName) ?? { name: vmName, memoryMiB: memory });
    } catch (error) {
      await stop();
      throw error;
    }
    log(`host ${name} ready: ${host.manifestPath}`);
    const signal = await waitForStopSignal();
    log(`host ${name}: ${signal}, stopping`);
    await stop();
    log(`host ${name} stopped`);
  }
}

/**
 * The version to present: the flag, else the inventory's entry for this host, else the
 * default. A flag that contradicts the inventory is refused: the orchestrator reads the
 * inventory and would expect the other version.
 */
function simulatedVersion(flag: SimQemuVersion | undefined, host: string, inventory: ReturnType<typeof loadInventory> | undefined): SimQemuVersion {
  const entry = inventory?.hosts.get(host);
  const configured = entry?.kind === 'sim' ? entry.qemuVersion : undefined;
  if (flag !== undefined && configured !== undefined && flag !== configured) {
    throw new ConfigError('CONFIG_INVALID', `--qemu-version ${flag} contradicts the inventory ${inventory?.file}: hosts.${host}.qemuVersion is ${configured}`, {
      details: { file: inventory?.file, host, flag, inventory: configured },
      hint: `drop --qemu-version, or set hosts.${host}.qemuVersion: '${flag}'`,
    });
  }
  return flag ?? configured ?? DEFAULT_SIM_QEMU_VERSION;
}
