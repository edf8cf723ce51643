import path from 'node:path';
import { ConfigError } from '../errors.js';
import type { HostFacts, HostHandle, StartedVm, VmProbe } from '../migration/ports.js';
import type { QemuMonitor } from '../qmp/monitor.js';
import { readHostManifest, SimHostClient } from '../sim/host-client.js';
import type { HostConfig } from '../inventory/inventory.js';
import { pidAlive, probeVmSocket, type ProcessFact } from './probe.js';
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
    private readonly options: { extensionPrefix?: string; probeTimeoutMs?: number } = {},
  ) {
    this.name = config.name;
    this.migrationAddress = config.migrationAddress;
  }

  connectVm(vm: string): Promise<QemuMonitor | undefined> {
    return connectVmSocket(path.join(this.config.runDir, `${vm}.qmp`), `${vm} on ${this.name}`, this.options.extensionPrefix);
  }

  /** Running, paused, gone or unknown: the socket, then the host process's manifest (its VM list) when the socket does not answer. */
  probeVm(vm: string): Promise<VmProbe> {
    return probeVmSocket(path.join(this.config.runDir, `${vm}.qmp`), {
      peerName: `${vm} on ${this.name}`,
      extensionPrefix: this.options.extensionPrefix,
      timeoutMs: this.options.probeTimeoutMs,
      process: () => this.processFact(vm),
    });
  }

  /** The simulated host process is the VM's process table: its pid, and the VMs its manifest lists. */
  private processFact(vm: string): ProcessFact {
    let manifest;
    try {
      manifest = readHostManifest(this.config.runDir);
    } catch {
      return undefined;
    }
    if (!pidAlive(manifest.pid)) return { alive: false, what: `the simulated host process ${manifest.pid}` };
    const listed = manifest.vms.some((entry) => entry.name === vm);
    return { alive: listed, what: `${vm} in the VM list of simulated host process ${manifest.pid}` };
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

  async startVm(vm: string, mode: { paused: boolean; incoming: boolean }): Promise<StartedVm> {
    const spec = this.specs.get(vm);
    if (!spec) throw new ConfigError('UNKNOWN_VM', `no VM named '${vm}' in the inventory`, { details: { vm } });
    const control = await SimHostClient.connect(this.config.runDir);
    try {
      const info = await control.startVm(spec, mode);
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

  startIncoming(vm: string): Promise<StartedVm> {
    return this.startVm(vm, { paused: true, incoming: true });
  }
}
