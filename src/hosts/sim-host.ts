import path from 'node:path';
import { ConfigError } from '../errors.js';
import type { HostFacts, HostHandle, IncomingOptions, StartedVm } from '../migration/ports.js';
import type { QemuMonitor } from '../qmp/monitor.js';
import { SimHostClient } from '../sim/host-client.js';
import type { HostConfig } from '../inventory/inventory.js';
import { connectVmSocket } from './qemu-host.js';
import type { VmSpec } from '../inventory/vm-spec.js';

/**
 * A simulated host (`nicmig sim host --dir runDir`): VMs are found by their QMP sockets like
 * QEMU's, and started through the host's control socket, as the host agent will start QEMU.
 */
export class SimulatedHost implements HostHandle {
  readonly name: string;
  readonly migrationAddress: string;

  constructor(
    private readonly config: HostConfig,
    private readonly specs: ReadonlyMap<string, VmSpec>,
    private readonly options: { extensionPrefix?: string } = {},
  ) {
    this.name = config.name;
    this.migrationAddress = config.migrationAddress;
  }

  connectVm(vm: string): Promise<QemuMonitor | undefined> {
    return connectVmSocket(path.join(this.config.runDir, `${vm}.qmp`), `${vm} on ${this.name}`, this.options.extensionPrefix);
  }

  async facts(): Promise<HostFacts> {
    const control = await SimHostClient.connect(this.config.runDir);
    try {
      const facts = await control.hostFacts();
      return { memoryAvailableMiB: facts.memoryAvailableMiB, machines: null, pfs: facts.pfs };
    } finally {
      control.close();
    }
  }

  async startVm(vm: string, mode: { paused: boolean; incoming: boolean }, machineType?: string): Promise<StartedVm> {
    const spec = this.specs.get(vm);
    if (!spec) throw new ConfigError('UNKNOWN_VM', `no VM named '${vm}' in the inventory`, { details: { vm } });
    const control = await SimHostClient.connect(this.config.runDir);
    try {
      const info = await control.startVm(machineType ? { ...spec, machine: machineType } : spec, mode);
      const monitor = await connectVmSocket(info.qmp, `${vm} on ${this.name}`, this.options.extensionPrefix);
      if (!monitor) throw new ConfigError('SIM_VM_UNREACHABLE', `simulated VM '${vm}' on ${this.name} started but ${info.qmp} does not answer`);
      return {
        monitor,
        endpoint: `unix:${info.qmp}`,
        destroy: () => monitor.quitAndWait({ quitTimeoutMs: 2000 }),
      };
    } finally {
      control.close();
    }
  }

  async stopVm(vm: string): Promise<'quit' | 'killed' | 'not-running'> {
    const monitor = await this.connectVm(vm);
    if (!monitor) return 'not-running';
    await monitor.quitAndWait({ quitTimeoutMs: 2000 });
    return 'quit';
  }

  startIncoming(vm: string, options: IncomingOptions = {}): Promise<StartedVm> {
    return this.startVm(vm, { paused: true, incoming: true }, options.machineType);
  }
}
