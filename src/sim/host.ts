import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_SIM_QEMU_VERSION, type SimQemuVersion } from '../inventory/sim-qemu-version.js';
import { VmSpecSchema, type DeviceSpec, type VmSpec } from '../inventory/vm-spec.js';
import { ControlRequestSchema, StartVmOptionsSchema, type ControlReply, type HostManifest, type PfFacts, type VmInfo } from './control-protocol.js';
import type { SimDevice } from './device.js';
import { SimError } from './errors.js';
import { machineNames, simQemuProfile, type SimQemuProfile } from './qemu-profile.js';
import type { MigrationTarget } from './stream/uri.js';
import { SimVm } from './vm.js';

export type StartVmOptions = z.input<typeof StartVmOptionsSchema>;

export interface SimHostOptions {
  name: string;
  /** The QEMU version every VM of the host presents (qemu-profile.ts); 7.2 by default. */
  qemuVersion?: SimQemuVersion;
  /** Sockets (`VM.qmp`, `host.sock`) and `host.json` go here. */
  dir: string;
  /** Default guest dirty rate for VMs started without one. */
  dirtyPagesPerSecond?: number;
  extensionPrefix?: string;
  /** Builds the device model for a spec entry (the i40evf model plugs in here); none by default. */
  deviceFactory?: (device: DeviceSpec, vm: VmSpec) => SimDevice | undefined;
  /** The host's PFs as a preflight sees them (none by default). */
  pfFacts?: () => PfFacts[];
  log?: (message: string) => void;
  /** How the host's outgoing migration streams leave it (a MigrationLink); a direct connect by default. */
  connectMigration?: (target: MigrationTarget) => Promise<net.Socket>;
}

/**
 * A simulated host: several simulated QEMUs, each with its QMP socket under `dir`, a control
 * socket to start and stop them from another process, and `host.json` describing them.
 */
export class SimHost {
  readonly vms = new Map<string, { vm: SimVm; spec: VmSpec }>();
  readonly controlPath: string;
  readonly manifestPath: string;
  /** The QEMU its VMs are. */
  readonly profile: SimQemuProfile;
  private control: net.Server | undefined;
  private readonly controlSockets = new Set<net.Socket>();
  private stopping = false;
  private readonly log: (message: string) => void;
  /** Commands to hang in VMs not started yet (hangNext). */
  private readonly pendingHangs = new Map<string, string[]>();

  constructor(readonly options: SimHostOptions) {
    this.controlPath = path.join(options.dir, 'host.sock');
    this.manifestPath = path.join(options.dir, 'host.json');
    this.log = options.log ?? (() => undefined);
    // Before anything starts: a version without a recording cannot be simulated.
    this.profile = simQemuProfile(options.qemuVersion ?? DEFAULT_SIM_QEMU_VERSION);
  }

  /** Opens the control socket and writes the manifest. */
  async start(): Promise<void> {
    try {
      fs.mkdirSync(this.options.dir, { recursive: true });
      fs.rmSync(this.controlPath, { force: true });
      const server = net.createServer((socket) => this.serveControl(socket));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.controlPath, () => resolve());
      });
      this.control = server;
    } catch (error) {
      throw new SimError('SIM_HOST_FAILED', `cannot start simulated host ${this.options.name} in ${this.options.dir}: ${(error as Error).message}`, { cause: error });
    }
    this.writeManifest();
    this.log(`host ${this.options.name}: control socket ${this.controlPath}`);
  }

  async startVm(specInput: z.input<typeof VmSpecSchema>, optionsInput: StartVmOptions = {}): Promise<VmInfo> {
    const parsed = VmSpecSchema.safeParse(specInput);
    if (!parsed.success) {
      throw new SimError('SIM_BAD_VM_SPEC', `bad VM spec: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    const spec = parsed.data;
    const options = StartVmOptionsSchema.parse(optionsInput);
    if (this.vms.has(spec.name)) throw new SimError('SIM_VM_EXISTS', `a VM named ${spec.name} already runs on ${this.options.name}`);
    const devices = spec.devices.flatMap((device) => this.options.deviceFactory?.(device, spec) ?? []);
    const vm = new SimVm({
      name: spec.name,
      qemuVersion: this.profile.version,
      machine: spec.machine,
      memoryBytes: spec.memoryMiB * 1024 * 1024,
      memoryShared: spec.memoryBackend.type === 'file',
      // The guest's PCI functions, in the spec's order, as nicmig's QEMU command line makes them.
      nics: spec.devices.map((device) => (device.type === 'virtio-net' ? { id: device.id, model: 'virtio-net-pci', mac: device.mac } : { id: device.id, model: 'vfio-i40evf' })),
      paused: options.paused,
      incoming: options.incoming,
      dirtyPagesPerSecond: options.dirtyPagesPerSecond ?? this.options.dirtyPagesPerSecond ?? 0,
      fillRandom: options.fillRandom ?? false,
      devices,
      log: this.log,
      ...(this.options.connectMigration ? { connectMigration: this.options.connectMigration } : {}),
      ...(this.options.extensionPrefix === undefined ? {} : { extensionPrefix: this.options.extensionPrefix }),
    });
    this.vms.set(spec.name, { vm, spec });
    for (const command of this.pendingHangs.get(spec.name) ?? []) vm.registry.hangNext(command);
    this.pendingHangs.delete(spec.name);
    await vm.listen(path.join(this.options.dir, `${spec.name}.qmp`));
    // Like a QEMU process ending: the VM leaves the host (quit, failed incoming migration).
    void vm.exited.then(() => {
      if (this.vms.get(spec.name)?.vm === vm) this.vms.delete(spec.name);
      if (!this.stopping) this.writeManifest();
    });
    this.writeManifest();
    this.log(`host ${this.options.name}: started ${spec.name} (QEMU ${this.profile.version}, ${vm.machineType}, ${spec.memoryMiB} MiB, ${vm.runState})`);
    return this.info(vm, spec);
  }

  /**
   * A fault for tests: the next call of `command` in VM `vm` is never answered
   * (QmpCommandRegistry.hangNext), in the VM running here now or, if none, the next one
   * started here under that name (a migration's destination).
   */
  hangNext(vm: string, command: string): void {
    const running = this.vms.get(vm)?.vm;
    if (running) running.registry.hangNext(command);
    else this.pendingHangs.set(vm, [...(this.pendingHangs.get(vm) ?? []), command]);
  }

  async stopVm(name: string): Promise<void> {
    const entry = this.vms.get(name);
    if (!entry) throw new SimError('SIM_VM_NOT_FOUND', `no VM named ${name} on ${this.options.name}`);
    await entry.vm.exit(0, 'stopped by the host');
  }

  list(): VmInfo[] {
    return [...this.vms.values()].map(({ vm, spec }) => this.info(vm, spec));
  }

  /** Stops every VM, closes the control socket, removes sockets and the manifest. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await Promise.all([...this.vms.values()].map(({ vm }) => vm.exit(0, 'host shutdown')));
    for (const socket of this.controlSockets) socket.destroy();
    if (this.control) await new Promise<void>((resolve) => this.control?.close(() => resolve()));
    fs.rmSync(this.controlPath, { force: true });
    fs.rmSync(this.manifestPath, { force: true });
  }

  private info(vm: SimVm, spec: VmSpec): VmInfo {
    return { name: vm.name, qmp: vm.qmpPath ?? '', memoryMiB: spec.memoryMiB, runState: vm.runState };
  }

  private writeManifest(): void {
    const manifest: HostManifest = { name: this.options.name, pid: process.pid, qemuVersion: this.profile.version, control: this.controlPath, vms: this.list() };
    const temporary = `${this.manifestPath}.tmp`;
    fs.writeFileSync(temporary, `${JSON.stringify(manifest, null, 2)}\n`);
    fs.renameSync(temporary, this.manifestPath);
  }

  private serveControl(socket: net.Socket): void {
    this.controlSockets.add(socket);
    socket.once('close', () => this.controlSockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = '';
    let queue = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let index: number;
      while ((index = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, index);
        buffered = buffered.slice(index + 1);
        if (line.trim() === '') continue;
        queue = queue.then(async () => {
          const reply = await this.handleControl(line);
          if (!socket.destroyed) socket.write(`${JSON.stringify(reply)}\n`);
        });
      }
    });
  }

  private async handleControl(line: string): Promise<ControlReply> {
    let id: unknown;
    try {
      const raw: unknown = JSON.parse(line);
      id = (raw as { id?: unknown } | null)?.id;
      const parsed = ControlRequestSchema.safeParse(raw);
      if (!parsed.success) {
        throw new SimError('SIM_CONTROL_FAILED', `bad control request: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ')}`);
      }
      const request = parsed.data;
      switch (request.op) {
        case 'start-vm':
          return { id, ok: true, vm: await this.startVm(request.spec, request.options) };
        case 'stop-vm':
          await this.stopVm(request.name);
          return { id, ok: true };
        case 'list-vms':
          return { id, ok: true, vms: this.list() };
        case 'host-facts':
          return {
            id,
            ok: true,
            facts: {
              memoryAvailableMiB: Math.floor(os.freemem() / (1024 * 1024)),
              pfs: this.options.pfFacts?.() ?? [],
              qemuVersion: this.profile.version,
              machines: machineNames(this.profile.machines),
            },
          };
      }
    } catch (error) {
      const code = error instanceof SimError ? error.code : error instanceof SyntaxError ? 'SIM_CONTROL_FAILED' : 'INTERNAL';
      return { id, ok: false, error: { code, message: (error as Error).message } };
    }
  }
}
