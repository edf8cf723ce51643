import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import { ConfigError, NicmigError, ExitCode } from '../errors.js';
import { QmpClient } from '../qmp/client.js';
import { QmpConnectError } from '../qmp/errors.js';
import { QemuMonitor } from '../qmp/monitor.js';
import type { HostFacts, HostHandle, IncomingOptions, IncomingPlan, PfFacts, SourceCommandLine, StartedVm, VmProbe } from '../migration/ports.js';
import type { HostConfig } from '../inventory/inventory.js';
import { missingExecutableReason } from './executable.js';
import { HostNetwork } from './host-network.js';
import { probeVmSocket, pidAlive, type ProcessFact } from './probe.js';
import { findMonitorProcess, readPid } from './monitor-process.js';
import { qemuArguments } from './qemu-args.js';
import { CommandLineError, destinationCommandLine, type DestinationCommandLine } from './source-command-line.js';
import type { VmSpec } from '../inventory/vm-spec.js';

export class VmStartError extends NicmigError {
  constructor(message: string, details: Record<string, unknown>, cause?: unknown) {
    super('VM_START_FAILED', message, ExitCode.FAILED_ROLLED_BACK, { details, cause });
  }
}

export interface QemuHostOptions {
  extensionPrefix?: string;
  /** Deadline for QEMU to start and answer on QMP. */
  startTimeoutMs?: number;
  /** Deadline of each wait of probeVm (greeting, queries). */
  probeTimeoutMs?: number;
}

/** A host whose VMs are QEMU processes on this machine, found by their QMP sockets. */
export class QemuHost implements HostHandle {
  readonly name: string;
  readonly migrationAddress: string;
  /** The VMs' taps, bridges and the bridge helper on this host. */
  readonly network: HostNetwork;

  constructor(
    private readonly config: HostConfig,
    private readonly specs: ReadonlyMap<string, VmSpec>,
    private readonly options: QemuHostOptions = {},
  ) {
    this.name = config.name;
    this.migrationAddress = config.migrationAddress;
    this.network = new HostNetwork(config, specs);
  }

  qmpPath(vm: string): string {
    return path.join(this.config.runDir, `${vm}.qmp`);
  }

  /** QEMU's stderr for this VM on this host, appended to at every start. */
  logFile(vm: string): string {
    return path.join(this.config.runDir, `${vm}.log`);
  }

  pidFile(vm: string): string {
    return path.join(this.config.runDir, `${vm}.pid`);
  }

  connectVm(vm: string): Promise<QemuMonitor | undefined> {
    return connectVmSocket(this.qmpPath(vm), `${vm} on ${this.name}`, this.options.extensionPrefix);
  }

  /** Running, paused, gone or unknown: the socket, then the pid file's process when the socket does not answer. */
  probeVm(vm: string): Promise<VmProbe> {
    return probeVmSocket(this.qmpPath(vm), {
      peerName: `${vm} on ${this.name}`,
      extensionPrefix: this.options.extensionPrefix,
      timeoutMs: this.options.probeTimeoutMs,
      process: () => this.processFact(vm),
    });
  }

  /** The QEMU process of the pid file, if the file names one that runs with this VM's socket. */
  private processFact(vm: string): ProcessFact {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(this.pidFile(vm), 'utf8').trim());
    } catch {
      return undefined;
    }
    const what = `QEMU process ${pid} (${this.pidFile(vm)})`;
    if (!pidAlive(pid)) return { alive: false, what };
    try {
      // A pid reused by another program is not our QEMU.
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmdline.includes(this.qmpPath(vm))) return { alive: false, what: `${what}, now another program,` };
    } catch {
      // Gone between the two reads, or /proc is not ours to read: the kill(0) stands.
    }
    return { alive: true, what };
  }

  /** This machine's available memory, the QEMU binary's machine types, SR-IOV PFs from sysfs, and the NICs' bridges and helper. */
  async facts(): Promise<HostFacts> {
    const missing = this.missingQemuBinary();
    return {
      memoryAvailableMiB: memoryAvailableMiB(),
      machines: missing ? null : await this.machines(),
      pfs: sriovPfs(),
      ...(missing ? { problems: [missing] } : {}),
      ...(await this.network.facts()),
    };
  }

  /** Why this host's QEMU binary cannot be run (inventory `qemuBinary`), or undefined. */
  private missingQemuBinary(): string | undefined {
    const reason = missingExecutableReason(this.config.qemuBinary);
    return reason ? `the QEMU binary of ${this.name}: ${reason} (inventory hosts.${this.name}.qemuBinary)` : undefined;
  }

  private machineList: Promise<string[] | null> | undefined;

  private machines(): Promise<string[] | null> {
    this.machineList ??= execa(this.config.qemuBinary, ['-machine', 'help'], { reject: false, timeout: 10_000, stdin: 'ignore' }).then((result) => {
      if (result.exitCode !== 0) return null;
      // "q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)"
      return String(result.stdout)
        .split('\n')
        .slice(1)
        .map((line) => line.trim().split(/\s+/)[0] ?? '')
        .filter((name) => name.length > 0);
    });
    return this.machineList;
  }

  /** The QEMU process behind the VM's monitor (the pid file's, else the one /proc shows holding the socket) and its argv. */
  async readCommandLine(vm: string): Promise<SourceCommandLine> {
    const socket = this.qmpPath(vm);
    const found = findMonitorProcess(socket, this.pidFile(vm));
    if ('problem' in found) {
      throw new CommandLineError('COMMAND_LINE_UNREADABLE', `cannot read the command line of '${vm}' on ${this.name}: ${found.problem}`, { vm, host: this.name, socket }, `nicmig builds the destination from the source's own command line: give the VM its monitor as -qmp unix:${socket},server=on,wait=off`);
    }
    return { host: this.name, pid: found.pid, argv: found.argv };
  }

  async planIncoming(vm: string, options: IncomingOptions = {}): Promise<IncomingPlan> {
    const spec = this.spec(vm);
    if (!options.sourceCommandLine) return { builtFrom: 'spec', rewrites: [] };
    return { builtFrom: 'source-command-line', rewrites: this.destinationCommandLine(spec, options.sourceCommandLine, options.machineType).rewrites };
  }

  /** The destination's arguments from the source's command line (docs/destination-command-line.md). */
  private destinationCommandLine(spec: VmSpec, source: SourceCommandLine, machineType: string | undefined): DestinationCommandLine {
    return destinationCommandLine({
      sourceArgv: source.argv,
      sourceHost: source.host,
      destinationHost: this.name,
      qmpPath: this.qmpPath(spec.name),
      pidFile: this.pidFile(spec.name),
      machineType,
      spec,
      vfHostAddresses: vfPciAddresses(spec),
    });
  }

  private spec(vm: string): VmSpec {
    const spec = this.specs.get(vm);
    if (!spec) throw new ConfigError('UNKNOWN_VM', `no VM named '${vm}' in the inventory`, { details: { vm } });
    return spec;
  }

  /**
   * Starts a VM from its spec: running, paused (-S), or as a migration destination, from the
   * source's own command line when given one.
   */
  async startVm(vm: string, mode: { paused: boolean; incoming: boolean } & IncomingOptions): Promise<StartedVm> {
    const spec = this.spec(vm);
    const missing = this.missingQemuBinary();
    if (missing) throw new VmStartError(`cannot start '${vm}': ${missing}`, { vm, host: this.name, qemuBinary: this.config.qemuBinary });
    fs.mkdirSync(this.config.runDir, { recursive: true });
    const qmpPath = this.qmpPath(vm);
    const pidFile = this.pidFile(vm);
    if (await this.connectVm(vm).then((m) => (m?.disconnect(), m !== undefined))) {
      throw new VmStartError(`VM '${vm}' already runs on ${this.name} (${qmpPath})`, { vm, host: this.name });
    }
    fs.rmSync(qmpPath, { force: true });
    fs.rmSync(pidFile, { force: true });
    // A supervised process, not -daemonize: its stderr (QEMU's own error messages, such as a
    // destination refusing the stream) goes to a per-VM log on this host, which failures quote.
    const logFile = this.logFile(vm);
    const { sourceCommandLine, ...launch } = mode;
    const bridgeHelper = this.network.needsBridgeHelper(vm) ? ((await this.network.bridgeHelper()).path ?? undefined) : undefined;
    const args =
      mode.incoming && sourceCommandLine
        ? this.destinationCommandLine(spec, sourceCommandLine, mode.machineType).args
        : qemuArguments(spec, { host: this.name, qmpPath, pidFile, accel: this.config.accel, daemonize: false, ...launch, ...(bridgeHelper ? { bridgeHelper } : {}) });
    const [command, commandArgs] = this.config.netns ? ['ip', ['netns', 'exec', this.config.netns, this.config.qemuBinary, ...args]] : [this.config.qemuBinary, args];
    const from = sourceCommandLine ? `, from the command line of process ${sourceCommandLine.pid} on ${sourceCommandLine.host}` : '';
    const logStart = appendLog(logFile, `--- ${new Date().toISOString()} nicmig starts ${vm}${mode.incoming ? ` (incoming${from})` : ''}: ${[command, ...commandArgs].join(' ')}\n`);
    const logTail = () => readLogTail(logFile, logStart);
    // The taps of its tap NICs, made and attached before QEMU opens them; deleted again when it does not start.
    await this.network.createTaps(vm).catch((error: unknown) => {
      throw new VmStartError(`cannot start '${vm}' on ${this.name}: ${(error as Error).message}`, { vm, host: this.name, taps: this.network.taps(vm) }, error);
    });
    const removeTaps = () => this.network.removeTaps(vm).catch(() => []);
    const log = fs.openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, commandArgs, { detached: true, stdio: ['ignore', log, log] });
    } finally {
      fs.closeSync(log);
    }
    let ended: string | undefined;
    child.once('error', (error) => (ended = error.message));
    child.once('exit', (code, signal) => (ended = signal ? `killed by ${signal}` : `exit ${code}`));
    child.unref();
    const details = { vm, host: this.name, log: logFile, command: [command, ...commandArgs].join(' ') };
    const startTimeoutMs = this.options.startTimeoutMs ?? 30_000;
    const deadline = Date.now() + startTimeoutMs;
    let monitor: QemuMonitor | undefined;
    while (!monitor) {
      if (ended !== undefined) {
        await removeTaps();
        throw new VmStartError(`QEMU for '${vm}' on ${this.name} failed to start (${ended}): ${logTail() ?? 'it printed nothing'}`, details);
      }
      if (Date.now() > deadline) {
        if (child.pid) await stopProcess(child.pid).catch(() => undefined);
        await removeTaps();
        throw new VmStartError(`QEMU for '${vm}' on ${this.name} did not open its QMP socket within ${startTimeoutMs} ms: ${logTail() ?? 'it printed nothing'}`, details);
      }
      monitor = fs.existsSync(qmpPath) ? await this.connectVm(vm).catch(() => undefined) : undefined;
      if (!monitor) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const started = monitor;
    const pid = readPid(pidFile) ?? child.pid ?? 0;
    return {
      monitor: started,
      endpoint: `unix:${qmpPath}`,
      pid,
      // Its taps stay for releaseVm, which reports what it could not delete (a rollback goes on).
      destroy: () => destroyProcess(started, pid, [qmpPath, pidFile]),
      log: logFile,
      logTail,
    };
  }

  async stopVm(vm: string): Promise<'quit' | 'killed' | 'not-running'> {
    // A QEMU that does not greet (stopped, hung) is stopped by its pid.
    const monitor = await this.connectVm(vm).catch(() => undefined);
    const pid = readPid(this.pidFile(vm));
    // A QEMU that was killed, or had to be, leaves its socket and pid file: they go too.
    const removeFiles = () => {
      for (const file of [this.qmpPath(vm), this.pidFile(vm)]) fs.rmSync(file, { force: true });
    };
    if (!monitor) {
      const running = pid !== undefined && isAlive(pid);
      if (running) await stopProcess(pid);
      removeFiles();
      // Its taps go once it is gone, also those a QEMU that died left behind.
      await this.network.removeTaps(vm);
      return running ? 'killed' : 'not-running';
    }
    let killed = false;
    await monitor
      .quitAndWait({ quitTimeoutMs: 2000, kill: async () => ((killed = true), pid === undefined ? undefined : await stopProcess(pid)) })
      .catch(() => monitor.disconnect());
    // QEMU closes its monitor before its process has exited (a loaded host shows the gap):
    // a QEMU that quit gets up to 3 s to be gone before it counts as one that had to be killed.
    if (pid !== undefined && !killed) await waitForExit(pid, 3000);
    if (pid !== undefined && isAlive(pid)) {
      killed = true;
      await stopProcess(pid);
    }
    removeFiles();
    await this.network.removeTaps(vm);
    return killed ? 'killed' : 'quit';
  }

  /** Deletes the VM's taps on this host once its QEMU here is gone (up to 5 s for it to exit). */
  async releaseVm(vm: string): Promise<string[]> {
    if (this.network.taps(vm).length === 0) return [];
    const deadline = Date.now() + 5000;
    for (;;) {
      const fact = this.processFact(vm);
      const answers = await this.connectVm(vm).then((m) => (m?.disconnect(), m !== undefined)).catch(() => true);
      if (!answers && !fact?.alive) break;
      if (Date.now() > deadline) throw new Error(`the QEMU of '${vm}' still runs on ${this.name}: its taps are kept`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return this.network.removeTaps(vm);
  }

  startIncoming(vm: string, options: IncomingOptions = {}): Promise<StartedVm> {
    return this.startVm(vm, { paused: true, incoming: true, ...options });
  }
}

function memoryAvailableMiB(): number | null {
  try {
    const match = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    return match ? Math.floor(Number(match[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/** The PCI address of each VF device of the spec whose VF is numbered, from sysfs (`<pf>/device/virtfn<N>`). */
function vfPciAddresses(spec: VmSpec): Map<string, string> {
  const addresses = new Map<string, string>();
  for (const device of spec.devices) {
    if (device.type !== 'vfio-i40evf' || device.vf === 'auto') continue;
    try {
      addresses.set(device.id, path.basename(fs.readlinkSync(path.join('/sys/class/net', device.pf, 'device', `virtfn${device.vf}`))));
    } catch {
      // no such PF or VF here: a vfio-pci host= for it is refused
    }
  }
  return addresses;
}

/** SR-IOV capable network interfaces (PFs) of this machine, from sysfs; empty without any. */
function sriovPfs(): PfFacts[] {
  const base = '/sys/class/net';
  const pfs: PfFacts[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(base);
  } catch {
    return pfs;
  }
  for (const name of names) {
    try {
      const total = Number(fs.readFileSync(path.join(base, name, 'device', 'sriov_totalvfs'), 'utf8').trim());
      const enabled = Number(fs.readFileSync(path.join(base, name, 'device', 'sriov_numvfs'), 'utf8').trim());
      pfs.push({ name, numVfs: Math.min(total, enabled), freeVfs: null, maxMacFilters: null, maxVlanFilters: null, numQueuePairs: null });
    } catch {
      // not an SR-IOV PF
    }
  }
  return pfs;
}

/** A monitor of the QEMU (or simulated QEMU) behind a socket; undefined when none listens there. */
export async function connectVmSocket(socket: string, peerName: string, extensionPrefix?: string): Promise<QemuMonitor | undefined> {
  if (!fs.existsSync(socket)) return undefined;
  try {
    const client = await QmpClient.connect(`unix:${socket}`, { peerName, greetingTimeoutMs: 5000 });
    return new QemuMonitor(client, { extensionPrefix });
  } catch (error) {
    // A socket file left by a dead process.
    const errno = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if (error instanceof QmpConnectError && (errno === 'ECONNREFUSED' || errno === 'ENOENT')) return undefined;
    throw error;
  }
}

/**
 * Quits QEMU over QMP (2 s), then SIGTERM and SIGKILL, each bounded, and waits for the monitor
 * to close and the process to be gone; removes its files.
 */
async function destroyProcess(monitor: QemuMonitor, pid: number, files: string[]): Promise<void> {
  await monitor.quitAndWait({ quitTimeoutMs: 2000, kill: () => stopProcess(pid) }).catch(() => monitor.disconnect());
  await stopProcess(pid);
  for (const file of files) fs.rmSync(file, { force: true });
}

/** Waits up to `ms` for the process to be gone; true when it is. */
async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
  return !isAlive(pid);
}

/** SIGTERM, up to 2 s to exit, then SIGKILL, up to 3 s more; throws if the process stays. */
async function stopProcess(pid: number): Promise<void> {
  const steps: [NodeJS.Signals, number][] = [['SIGTERM', 2000], ['SIGKILL', 3000]];
  for (const [signal, graceMs] of steps) {
    if (!isAlive(pid)) return;
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    await waitForExit(pid, graceMs);
  }
  if (isAlive(pid)) throw new Error(`QEMU process ${pid} did not exit after SIGKILL`);
}


/** Appends a line to a log, returning where the new process's output will start. */
function appendLog(file: string, line: string): number {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, line);
  return fs.statSync(file).size;
}

/** The last lines a process wrote to its log since `from`, joined; undefined when it wrote none. */
export function readLogTail(file: string, from: number, lines = 5): string | undefined {
  try {
    const text = fs.readFileSync(file).subarray(from).toString('utf8').trim();
    if (!text) return undefined;
    return text.split('\n').slice(-lines).join(' | ');
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie (a daemonized QEMU's parent may not reap it at once). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}
