import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import { ConfigError, NicmigError, ExitCode } from '../errors.js';
import { QmpClient } from '../qmp/client.js';
import { QmpConnectError } from '../qmp/errors.js';
import { QemuMonitor } from '../qmp/monitor.js';
import type { HostFacts, HostHandle, IncomingOptions, PfFacts, StartedVm, VmProbe } from '../migration/ports.js';
import type { HostConfig } from '../inventory/inventory.js';
import { missingExecutableReason } from './executable.js';
import { probeVmSocket, pidAlive, type ProcessFact } from './probe.js';
import { qemuArguments } from './qemu-args.js';
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

  constructor(
    private readonly config: HostConfig,
    private readonly specs: ReadonlyMap<string, VmSpec>,
    private readonly options: QemuHostOptions = {},
  ) {
    this.name = config.name;
    this.migrationAddress = config.migrationAddress;
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

  /** This machine's available memory, the QEMU binary's machine types, and SR-IOV PFs from sysfs. */
  async facts(): Promise<HostFacts> {
    const missing = this.missingQemuBinary();
    return {
      memoryAvailableMiB: memoryAvailableMiB(),
      machines: missing ? null : await this.machines(),
      pfs: sriovPfs(),
      ...(missing ? { problems: [missing] } : {}),
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

  /** Starts a VM from its spec: running, paused (-S), or as a migration destination. */
  async startVm(vm: string, mode: { paused: boolean; incoming: boolean; machineType?: string }): Promise<StartedVm> {
    const spec = this.specs.get(vm);
    if (!spec) throw new ConfigError('UNKNOWN_VM', `no VM named '${vm}' in the inventory`, { details: { vm } });
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
    const args = qemuArguments(spec, { host: this.name, qmpPath, pidFile, accel: this.config.accel, daemonize: false, ...mode });
    const [command, commandArgs] = this.config.netns ? ['ip', ['netns', 'exec', this.config.netns, this.config.qemuBinary, ...args]] : [this.config.qemuBinary, args];
    const logStart = appendLog(logFile, `--- ${new Date().toISOString()} nicmig starts ${vm}${mode.incoming ? ' (incoming)' : ''}: ${[command, ...commandArgs].join(' ')}\n`);
    const logTail = () => readLogTail(logFile, logStart);
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
        throw new VmStartError(`QEMU for '${vm}' on ${this.name} failed to start (${ended}): ${logTail() ?? 'it printed nothing'}`, details);
      }
      if (Date.now() > deadline) {
        if (child.pid) await stopProcess(child.pid).catch(() => undefined);
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
      if (pid === undefined || !isAlive(pid)) {
        removeFiles();
        return 'not-running';
      }
      await stopProcess(pid);
      removeFiles();
      return 'killed';
    }
    let killed = false;
    await monitor
      .quitAndWait({ quitTimeoutMs: 2000, kill: async () => ((killed = true), pid === undefined ? undefined : await stopProcess(pid)) })
      .catch(() => monitor.disconnect());
    if (pid !== undefined && isAlive(pid)) {
      killed = true;
      await stopProcess(pid);
    }
    removeFiles();
    return killed ? 'killed' : 'quit';
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
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
  }
  if (isAlive(pid)) throw new Error(`QEMU process ${pid} did not exit after SIGKILL`);
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
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
