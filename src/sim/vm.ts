import type net from 'node:net';
import type { MigrationStatus, RunState } from '../qmp/schemas.js';
import { DEFAULT_EXTENSION_PREFIX } from '../qmp/monitor.js';
import type { SimDevice, SimDeviceContext } from './device.js';
import { SimHardware, type SimNic } from './hardware.js';
import type { SimQemuVersion } from '../inventory/sim-qemu-version.js';
import { SimError } from './errors.js';
import type { MigrationParameters } from './migration-config.js';
import { resolveMachine, similarMachines, simQemuProfile, type SimQemuProfile } from './qemu-profile.js';
import { QmpCommandRegistry } from './qmp-registry.js';
import { QmpServer } from './qmp-server.js';
import { eventTimestamp, type SimEvent } from './qmp-session.js';
import { GuestRam } from './ram.js';
import type { IncomingMigration } from './stream/destination.js';
import type { OutgoingMigration } from './stream/source.js';
import type { MigrationTarget } from './stream/uri.js';
import { registerStockCommands } from './vm-commands.js';
import { CpuWorkload } from './workload.js';

export interface SimVmOptions {
  name: string;
  /** The QEMU version this process presents (qemu-profile.ts); 7.2 by default. */
  qemuVersion?: SimQemuVersion;
  memoryBytes: number;
  /** `-S`: start in prelaunch (or stay paused after an incoming migration). */
  paused?: boolean;
  /** `-incoming defer`: start in inmigrate and wait for migrate-incoming. */
  incoming?: boolean;
  /** Guest stores per second while running (pages). Default 0. */
  dirtyPagesPerSecond?: number;
  /** Bytes the workload writes over (from 1 MiB up). Default: all RAM above 1 MiB. */
  workingSetBytes?: number;
  /** Fill RAM with random bytes at start (a realistic, slow stream). Default false (zero RAM). */
  fillRandom?: boolean;
  extensionPrefix?: string;
  devices?: SimDevice[];
  log?: (message: string) => void;
  /** `-machine`: an alias (`q35`, `pc`) resolves to this QEMU version's type, as QEMU does. */
  machine?: string;
  /** The NICs' `-device`s in command-line order (PCI slots, ROMs, QOM): none by default. */
  nics?: readonly SimNic[];
  /** Guest RAM from a shared file backend (`memoryBackend: file`). */
  memoryShared?: boolean;
  /** How an outgoing migration stream reaches its target (a MigrationLink); a direct connect by default. */
  connectMigration?: (target: MigrationTarget) => Promise<net.Socket>;
}

export interface SimVmExit {
  code: number;
  reason: string;
}

/**
 * One simulated QEMU process: run state, migration state on both sides, guest RAM with a
 * CPU workload, devices, and (once `listen` is called) its QMP monitor.
 */
export class SimVm {
  readonly name: string;
  /** The QEMU version it presents and what follows from it. */
  readonly profile: SimQemuProfile;
  /** The resolved machine type (`qom-get /machine type` answers it with `-machine` appended). */
  readonly machineType: string;
  /** RAM blocks, PCI functions, devices: what query-memdev, x-query-ramblock, query-pci and qom-list report. */
  readonly hardware: SimHardware;
  readonly ram: GuestRam;
  readonly registry: QmpCommandRegistry;
  readonly devices: SimDevice[];
  readonly capabilities: Map<string, boolean>;
  parameters: MigrationParameters;
  /** QEMU's `autostart`: false under -S; `cont`/`stop` during inmigrate flip it. */
  autostart: boolean;
  /** `-incoming defer` given and migrate-incoming not yet run. */
  incomingDeferred: boolean;
  outgoing: OutgoingMigration | undefined;
  incoming: IncomingMigration | undefined;
  readonly exited: Promise<SimVmExit>;
  readonly workload: CpuWorkload;
  private state: RunState;
  private server: QmpServer | undefined;
  private readonly listeners = new Set<(event: SimEvent) => void>();
  private resolveExited!: (exit: SimVmExit) => void;
  private exitValue: SimVmExit | undefined;
  readonly log: (message: string) => void;
  readonly connectMigration: ((target: MigrationTarget) => Promise<net.Socket>) | undefined;

  constructor(options: SimVmOptions) {
    this.connectMigration = options.connectMigration;
    this.name = options.name;
    this.profile = simQemuProfile(options.qemuVersion);
    const machine = options.machine ?? 'q35';
    const machineType = resolveMachine(this.profile.machines, machine);
    // QEMU: "unsupported machine type", and the process ends before its monitor is up.
    if (machineType === undefined) {
      throw new SimError('SIM_BAD_VM_SPEC', `QEMU ${this.profile.version} has no machine type '${machine}' (VM ${options.name})`, {
        details: { vm: options.name, machine, qemuVersion: this.profile.version },
        hint: `it has ${similarMachines(this.profile.machines, machine).join(', ')}`,
      });
    }
    this.machineType = machineType;
    this.capabilities = new Map(this.profile.migration.capabilities.map((name) => [name, false]));
    this.parameters = this.profile.migration.defaultParameters();
    this.hardware = new SimHardware({ machineType: this.machineType, memoryBytes: options.memoryBytes, memoryShared: options.memoryShared ?? false, nics: options.nics ?? [] });
    this.log = options.log ?? (() => undefined);
    this.ram = new GuestRam(options.memoryBytes);
    if (options.fillRandom) this.ram.fillRandom();
    this.registry = new QmpCommandRegistry(options.extensionPrefix ?? DEFAULT_EXTENSION_PREFIX);
    this.autostart = !options.paused;
    this.incomingDeferred = Boolean(options.incoming);
    this.state = options.incoming ? 'inmigrate' : options.paused ? 'prelaunch' : 'running';
    this.workload = new CpuWorkload(this.ram, {
      dirtyPagesPerSecond: options.dirtyPagesPerSecond ?? 0,
      ...(options.workingSetBytes === undefined ? {} : { workingSetBytes: options.workingSetBytes }),
    });
    this.exited = new Promise((resolve) => {
      this.resolveExited = resolve;
    });
    registerStockCommands(this);
    this.devices = options.devices ?? [];
    const context = this.deviceContext();
    for (const device of this.devices) device.attach?.(context);
    if (this.state === 'running') this.workload.start();
  }

  /** Opens the QMP monitor on a unix socket. */
  async listen(path: string): Promise<void> {
    this.server = await QmpServer.listen(path, this.registry, this.profile);
    this.listeners.add((event) => this.server?.event(event));
  }

  get qmpPath(): string | undefined {
    return this.server?.path;
  }

  get runState(): RunState {
    return this.state;
  }

  get isRunning(): boolean {
    return this.state === 'running';
  }

  get hasExited(): boolean {
    return this.exitValue !== undefined;
  }

  capability(name: string): boolean {
    return this.capabilities.get(name) ?? false;
  }

  /** The migration status a device or `migrate-continue` sees on this VM. */
  migrationStatus(): MigrationStatus {
    return this.outgoing?.status ?? this.incoming?.status ?? 'none';
  }

  onEvent(listener: (event: SimEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emitEvent(name: string, data?: Record<string, unknown>): void {
    const event: SimEvent = data === undefined ? { event: name, timestamp: eventTimestamp() } : { event: name, data, timestamp: eventTimestamp() };
    for (const listener of this.listeners) listener(event);
  }

  /** A MIGRATION event, sent only with the `events` capability (migrate_set_state). */
  migrationEvent(status: MigrationStatus, side: 'source' | 'destination'): void {
    for (const device of this.devices) device.onMigrationStatus?.(status, side);
    if (this.capability('events')) this.emitEvent('MIGRATION', { status });
  }

  /** vm_start(): RESUME; nothing on a VM that already runs. */
  vmStart(): void {
    if (this.state === 'running') return;
    this.setRunState('running');
    this.emitEvent('RESUME');
  }

  /** vm_stop(): STOP and the new state if the vCPUs run; nothing otherwise. */
  vmStop(state: RunState): void {
    if (this.state !== 'running') return;
    this.setRunState(state);
    this.emitEvent('STOP');
  }

  /** vm_stop_force_state(): like vm_stop, but a stopped VM takes the state too (no event). */
  vmStopForce(state: RunState): void {
    if (this.state === 'running') this.vmStop(state);
    else this.setRunState(state);
  }

  /** runstate_set(): no event. */
  setRunState(state: RunState): void {
    if (state === this.state) return;
    this.state = state;
    if (state === 'running') this.workload.start();
    else this.workload.stop();
    for (const device of this.devices) device.onRunStateChange?.(state, state === 'running');
  }

  /**
   * `quit`: SHUTDOWN before the reply (QEMU 7.2 emits it from inside the command, 6 of 6
   * runs), then the monitor closes and the process ends (0).
   */
  quit(): void {
    this.workload.stop();
    this.emitEvent('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' });
    setImmediate(() => {
      this.server?.endActiveConnection();
      void this.exit(0, 'quit');
    });
  }

  /** The process ends: migrations abort, sockets close, devices detach. Idempotent. */
  async exit(code: number, reason: string): Promise<void> {
    if (this.exitValue) return;
    this.exitValue = { code, reason };
    this.log(`vm ${this.name} exits with ${code}: ${reason}`);
    this.workload.stop();
    this.outgoing?.abort();
    this.incoming?.abort();
    for (const device of this.devices) device.detach?.();
    await this.server?.close();
    this.resolveExited(this.exitValue);
  }

  private deviceContext(): SimDeviceContext {
    return {
      vmName: this.name,
      ram: this.ram,
      runState: () => this.state,
      migrationStatus: () => this.migrationStatus(),
      registerCommand: (definition) => {
        this.registry.registerExtension(definition);
      },
      emitEvent: (name, data) => this.emitEvent(name, data),
      log: this.log,
    };
  }
}
