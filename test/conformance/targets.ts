import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QmpClient, type QmpClientOptions } from '../../src/qmp/client.js';
import { DEFAULT_SIM_QEMU_VERSION, type SimQemuVersion } from '../../src/inventory/sim-qemu-version.js';
import { SimVm } from '../../src/sim/vm.js';
import { QEMU_BINARY, QemuHarness, type QemuBinary } from '../helpers/qemu.js';

export interface TargetVmOptions {
  name: string;
  /** -S */
  paused?: boolean;
  /** -incoming defer */
  incoming?: boolean;
  /** Random RAM: a migration at a low bandwidth then takes long enough to interfere with. */
  randomRam?: boolean;
  memoryMiB?: number;
  /** `-machine` (default q35). */
  machine?: string;
  /** NICs as nicmig's command line gives them (src/hosts/qemu-args.ts), in this order. */
  nics?: { id: string; mac: string; netdev: 'user' | 'none' }[];
}

/** The -netdev/-device arguments of src/hosts/qemu-args.ts for virtio-net NICs. */
function nicArguments(nics: TargetVmOptions['nics'] = []): string[] {
  return nics.flatMap((nic) =>
    nic.netdev === 'user'
      ? ['-netdev', `user,id=${nic.id}-backend`, '-device', `virtio-net-pci,id=${nic.id},netdev=${nic.id}-backend,mac=${nic.mac}`]
      : ['-device', `virtio-net-pci,id=${nic.id},mac=${nic.mac}`],
  );
}

/** One VM of a conformance scenario, real QEMU or simulated. */
export interface TargetVm {
  connect(options?: QmpClientOptions): Promise<QmpClient>;
  /** The QMP unix socket, for clients that speak the protocol byte by byte (raw-qmp.ts). */
  readonly qmpPath: string;
  /** SIGKILL (QEMU) or an abrupt end of the simulated process. */
  kill(): Promise<void>;
  /** The exit code once the process has ended. */
  exitCode(): Promise<number | null>;
}

/** Where a scenario runs: real QEMU processes (7.2 or 10.0), or simulated ones of that version. */
export interface ConformanceTarget {
  readonly kind: 'qemu' | 'sim';
  /** Major.minor of the QEMU it is or presents. */
  readonly version: string;
  start(options: TargetVmOptions): Promise<TargetVm>;
  cleanup(): Promise<void>;
}

export class QemuTarget implements ConformanceTarget {
  readonly kind = 'qemu';
  readonly version: string;
  private readonly harness: QemuHarness;

  /** The system's QEMU 7.2 unless told which (qemuBinaries()). */
  constructor(qemu: QemuBinary = { version: '7.2', binary: QEMU_BINARY }) {
    this.version = qemu.version;
    this.harness = new QemuHarness(`conformance-${qemu.version}`, qemu.binary);
  }

  async start(options: TargetVmOptions): Promise<TargetVm> {
    const memoryMiB = options.memoryMiB ?? 64;
    let memoryFile: string | undefined;
    if (options.randomRam) {
      memoryFile = path.join(this.harness.dir, `${options.name}.ram`);
      fs.writeFileSync(memoryFile, crypto.randomBytes(memoryMiB << 20));
    }
    // TCG: migrations behave as in the recorded transcripts (REFERENCE-qmp.md point 7).
    const process = this.harness.start({
      name: options.name,
      memoryMiB,
      accel: 'tcg',
      ...(memoryFile ? { memoryFile } : {}),
      ...(options.paused ? { paused: true } : {}),
      ...(options.incoming ? { incoming: true } : {}),
      ...(options.machine ? { machine: options.machine } : {}),
      ...(options.nics ? { extraArgs: nicArguments(options.nics) } : {}),
    });
    return {
      qmpPath: process.qmpPath,
      connect: async (clientOptions) => {
        // QEMU 7.2 race: a client that connects while QEMU is still starting can get the
        // RESUME of vm_start() before the greeting (the monitor has no command table yet, so
        // monitor_qapi_event_emit() does not hold the event back). Reconnect then.
        for (let attempt = 0; ; attempt++) {
          try {
            return await process.connect(clientOptions);
          } catch (error) {
            if ((error as { code?: string }).code !== 'QMP_BAD_GREETING' || attempt >= 5) throw error;
          }
        }
      },
      kill: async () => {
        process.child.kill('SIGKILL');
        await process.exited;
      },
      exitCode: async () => (await process.exited).code,
    };
  }

  cleanup(): Promise<void> {
    return this.harness.cleanup();
  }
}

export class SimTarget implements ConformanceTarget {
  readonly kind = 'sim';
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-sim-conformance-'));
  readonly vms: SimVm[] = [];
  private readonly clients: QmpClient[] = [];

  /** Simulated QEMUs presenting `version` (7.2 by default). */
  constructor(readonly version: SimQemuVersion = DEFAULT_SIM_QEMU_VERSION) {}

  async start(options: TargetVmOptions): Promise<TargetVm> {
    const vm = new SimVm({
      name: options.name,
      qemuVersion: this.version,
      memoryBytes: (options.memoryMiB ?? 16) << 20,
      paused: Boolean(options.paused),
      incoming: Boolean(options.incoming),
      fillRandom: Boolean(options.randomRam),
      ...(options.machine ? { machine: options.machine } : {}),
      nics: (options.nics ?? []).map((nic) => ({ id: nic.id, model: 'virtio-net-pci' as const, mac: nic.mac })),
    });
    this.vms.push(vm);
    const socketPath = path.join(this.dir, `${options.name}.qmp`);
    await vm.listen(socketPath);
    return {
      qmpPath: socketPath,
      connect: async (clientOptions = {}) => {
        const client = await QmpClient.connect(`unix:${socketPath}`, { peerName: options.name, ...clientOptions });
        this.clients.push(client);
        return client;
      },
      kill: () => vm.exit(137, 'killed'),
      exitCode: async () => (await vm.exited).code,
    };
  }

  async cleanup(): Promise<void> {
    for (const client of this.clients) client.destroy();
    await Promise.all(this.vms.map((vm) => vm.exit(0, 'test cleanup')));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
