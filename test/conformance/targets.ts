import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QmpClient, type QmpClientOptions } from '../../src/qmp/client.js';
import { SimVm } from '../../src/sim/vm.js';
import { QemuHarness } from '../helpers/qemu.js';

export interface TargetVmOptions {
  name: string;
  /** -S */
  paused?: boolean;
  /** -incoming defer */
  incoming?: boolean;
  /** Random RAM: a migration at a low bandwidth then takes long enough to interfere with. */
  randomRam?: boolean;
  memoryMiB?: number;
  /** virtio-net NICs without a backend (`-device virtio-net-pci,id=ID,mac=MAC`). */
  nics?: { id: string; mac: string }[];
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

/** Where a scenario runs: real QEMU 7.2 processes, or simulated ones. */
export interface ConformanceTarget {
  readonly kind: 'qemu' | 'sim';
  start(options: TargetVmOptions): Promise<TargetVm>;
  cleanup(): Promise<void>;
}

export class QemuTarget implements ConformanceTarget {
  readonly kind = 'qemu';
  private readonly harness = new QemuHarness('conformance');

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
      ...(options.nics ? { extraArgs: options.nics.flatMap((nic) => ['-device', `virtio-net-pci,id=${nic.id},mac=${nic.mac}`]) } : {}),
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

  async start(options: TargetVmOptions): Promise<TargetVm> {
    const vm = new SimVm({
      name: options.name,
      memoryBytes: (options.memoryMiB ?? 16) << 20,
      paused: Boolean(options.paused),
      incoming: Boolean(options.incoming),
      fillRandom: Boolean(options.randomRam),
      ...(options.nics ? { nics: options.nics } : {}),
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
