import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import type { HostFacts, HostHandle, IncomingOptions, IncomingPlan, StartedVm, VmProbe } from '../migration/ports.js';
import type { QemuMonitor } from '../qmp/monitor.js';
import type { HostManifest } from '../sim/control-protocol.js';
import { SimError } from '../sim/errors.js';
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

  /** A simulated VM has no taps: nothing to release. */
  async releaseVm(): Promise<string[]> {
    return [];
  }

  /**
   * The host process's memory, PFs and the machine types its QEMU version offers; a host
   * process presenting another QEMU version than the inventory says is a problem, named.
   */
  async facts(): Promise<HostFacts> {
    const control = await SimHostClient.connect(this.config.runDir);
    try {
      const facts = await control.hostFacts();
      const wanted = this.config.qemuVersion;
      const problems =
        wanted !== undefined && facts.qemuVersion !== undefined && facts.qemuVersion !== wanted
          ? [`the inventory says ${this.name} is QEMU ${wanted} (hosts.${this.name}.qemuVersion) but its simulated host process (${this.config.runDir}) presents QEMU ${facts.qemuVersion}`]
          : [];
      return { memoryAvailableMiB: facts.memoryAvailableMiB, machines: facts.machines ?? null, pfs: facts.pfs, ...(problems.length > 0 ? { problems } : {}) };
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
        destroy: () => this.destroyVm(vm, monitor).then(() => undefined),
      };
    } finally {
      control.close();
    }
  }

  /**
   * Ends a VM this handle started, each step bounded: `quit` (2 s); if the monitor left a
   * command unanswered (so the quit waits behind it), `quit` over a new connection (2 s); if
   * the host process is stopped (SIGSTOP), SIGCONT so that it reads the quit already sent
   * (2 s); if the host process still does not let go and holds no other VM, it is the VM's
   * process: SIGTERM (2 s), then SIGKILL (3 s). A hung host that runs other VMs is left
   * alone, and said so.
   */
  private async destroyVm(vm: string, monitor: QemuMonitor): Promise<'quit' | 'killed'> {
    const quitOver = (held: QemuMonitor) =>
      held.quitAndWait({ quitTimeoutMs: QUIT_TIMEOUT_MS }).then(
        () => undefined,
        (error: unknown) => error as Error,
      );
    let quit = monitor.unresponsive ? new Error(`${monitor.peerName} left a command unanswered`) : await quitOver(monitor);
    if (!quit) return this.waitUntilUnlisted(vm).then(() => 'quit');
    let manifest: HostManifest;
    try {
      manifest = readHostManifest(this.config.runDir);
    } catch {
      monitor.disconnect();
      throw new SimError('SIM_HOST_FAILED', `${vm} on ${this.name} did not quit (${quit.message}) and the host's manifest cannot be read`, { cause: quit });
    }
    const pid = manifest.pid;
    if (processState(pid) !== 'stopped' && (monitor.unresponsive || !monitor.isOpen)) {
      // The connection is stuck (or gone), not the host: a new one is served.
      monitor.disconnect();
      const fresh = await this.connectVm(vm).catch((error: unknown) => error as Error);
      if (fresh === undefined) return this.waitUntilUnlisted(vm).then(() => 'quit');
      if (!(fresh instanceof Error)) {
        const again = await quitOver(fresh);
        if (!again) return this.waitUntilUnlisted(vm).then(() => 'quit');
        fresh.disconnect();
        quit = again;
      }
    }
    if (pid === process.pid) {
      // A host in this very process (the demo, tests): nothing to signal.
      monitor.disconnect();
      throw new SimError('SIM_HOST_FAILED', `${vm} on ${this.name} did not quit: ${quit.message}`, { cause: quit });
    }
    if (processState(pid) === 'stopped') {
      signal(pid, 'SIGCONT');
      if (await settlesWithin(monitor.closed, QUIT_TIMEOUT_MS)) return this.waitUntilUnlisted(vm).then(() => 'quit');
    }
    monitor.disconnect();
    const others = manifest.vms.filter((entry) => entry.name !== vm).map((entry) => entry.name);
    if (others.length > 0) {
      throw new SimError('SIM_HOST_FAILED', `${vm} on ${this.name} did not quit (${quit.message}); the simulated host process ${pid} also runs ${others.join(', ')}, so it was not killed: stop it by hand`, { cause: quit });
    }
    for (const [name, graceMs] of [['SIGTERM', 2000], ['SIGKILL', 3000]] as const) {
      if (!pidAlive(pid)) return 'killed';
      signal(pid, name);
      const deadline = Date.now() + graceMs;
      while (pidAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    if (pidAlive(pid)) throw new SimError('SIM_HOST_FAILED', `the simulated host process ${pid} of ${this.name} survived SIGKILL`);
    return 'killed';
  }

  /** The monitor closes before the host has let the VM go: wait (2 s) until its manifest no longer lists it. */
  private async waitUntilUnlisted(vm: string): Promise<void> {
    const deadline = Date.now() + QUIT_TIMEOUT_MS;
    for (;;) {
      let listed: boolean;
      try {
        listed = readHostManifest(this.config.runDir).vms.some((entry) => entry.name === vm);
      } catch {
        return;
      }
      if (!listed) return;
      if (Date.now() >= deadline) throw new SimError('SIM_HOST_FAILED', `${vm} on ${this.name} quit, but the host still lists it ${QUIT_TIMEOUT_MS} ms later`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Soft, then hard, as a VM this handle started (destroyVm): quit, a new connection's quit, SIGCONT, signals. */
  async stopVm(vm: string): Promise<'quit' | 'killed' | 'not-running'> {
    const monitor = await this.connectVm(vm);
    if (!monitor) return 'not-running';
    return this.destroyVm(vm, monitor);
  }

  startIncoming(vm: string, options: IncomingOptions = {}): Promise<StartedVm> {
    return this.startVm(vm, { paused: true, incoming: true }, options.machineType);
  }

  /** A simulated VM has no command line: the destination is always built from the spec. */
  readCommandLine(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  planIncoming(vm: string): Promise<IncomingPlan> {
    if (!this.specs.has(vm)) return Promise.reject(new ConfigError('UNKNOWN_VM', `no VM named '${vm}' in the inventory`, { details: { vm } }));
    return Promise.resolve({ builtFrom: 'spec', rewrites: [] });
  }
}

const QUIT_TIMEOUT_MS = 2000;

/** running, stopped (SIGSTOP or a tracer's stop), gone, from /proc. */
function processState(pid: number): 'running' | 'stopped' | 'gone' {
  if (!pidAlive(pid)) return 'gone';
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'T' || state === 't' ? 'stopped' : 'running';
  } catch {
    return 'running';
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** Whether `promise` settles within `ms`. */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    promise.then(
      () => (clearTimeout(timer), resolve(true)),
      () => (clearTimeout(timer), resolve(true)),
    );
  });
}
