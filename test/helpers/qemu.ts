import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from '@jest/globals';
import { QmpClient, type QmpClientOptions } from '../../src/qmp/client.js';

export const QEMU_BINARY = process.env.NICMIG_QEMU ?? 'qemu-system-x86_64';

export interface QemuBinary {
  /** Major.minor, as the tests name it: '7.2', '10.0'. */
  version: string;
  /** The command to run (for 10.0 the wrapper that gives it its own data and modules). */
  binary: string;
  /** The firmware/data directory passed with -L, when not QEMU's built-in default. */
  dataDir?: string;
}

/** Where scripts/install-qemu10.sh puts QEMU 10.0 (NICMIG_QEMU10_DIR overrides both). */
export const QEMU10_DIR = process.env.NICMIG_QEMU10_DIR ?? '/opt/qemu-10.0';

const versionCache = new Map<string, string | null>();
/** "7.2", "10.0", ... from `--version`; null when the binary does not run. */
export function qemuVersionOf(binary: string): string | null {
  if (!versionCache.has(binary)) {
    const out = spawnSync(binary, ['--version'], { encoding: 'utf8' });
    const match = out.status === 0 ? /version (\d+\.\d+)/.exec(out.stdout) : null;
    versionCache.set(binary, match ? (match[1] as string) : null);
  }
  return versionCache.get(binary) ?? null;
}

/**
 * The QEMU versions the real-QEMU suites run on: the system's 7.2 and QEMU 10.0 beside it
 * (scripts/install-qemu10.sh). A version that is missing is left out with a loud note, or,
 * under CI=true, fails the run: CI must never pass on one version because the other quietly
 * was not there.
 */
export function qemuBinaries(): QemuBinary[] {
  return qemuInstallations().found;
}

/** The wanted versions, found or missing (with why and how to install); see qemuBinaries. */
export function qemuInstallations(): { found: QemuBinary[]; missing: { version: string; why: string }[] } {
  const wanted: QemuBinary[] = [
    { version: '7.2', binary: QEMU_BINARY },
    { version: '10.0', binary: path.join(QEMU10_DIR, 'bin', 'qemu-system-x86_64'), dataDir: path.join(QEMU10_DIR, 'usr', 'share', 'qemu') },
  ];
  const found: QemuBinary[] = [];
  const missing: { version: string; why: string }[] = [];
  for (const entry of wanted) {
    const version = qemuVersionOf(entry.binary);
    if (version === entry.version) {
      found.push(entry);
      continue;
    }
    const why = version === null ? `${entry.binary} does not run` : `${entry.binary} is QEMU ${version}`;
    const install = entry.version === '7.2' ? 'apt-get install qemu-system-x86' : 'scripts/install-qemu10.sh';
    if (process.env.CI === 'true') throw new Error(`QEMU ${entry.version} is required under CI=true but ${why} (${install})`);
    process.stderr.write(`SKIPPED QEMU ${entry.version}: ${why} (${install})\n`);
    missing.push({ version: entry.version, why: `${why} (${install})` });
  }
  return { found, missing };
}

/** One QEMU version by name, or undefined when it is not installed (see qemuBinaries). */
export function qemuBinary(version: string): QemuBinary | undefined {
  return qemuBinaries().find((q) => q.version === version);
}

let available: boolean | undefined;
export function qemuAvailable(): boolean {
  if (available === undefined) {
    available = spawnSync(QEMU_BINARY, ['--version'], { stdio: 'ignore' }).status === 0;
  }
  return available;
}

export function kvmUsable(): boolean {
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * `describe` for suites that need real QEMU. Without QEMU the suite is skipped with a loud
 * note, except under CI=true, where a missing QEMU fails the run: CI must never pass
 * because the real-QEMU suites quietly did not run.
 */
export function describeWithQemu(name: string, body: () => void): void {
  if (qemuAvailable()) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    throw new Error(`${QEMU_BINARY} not found but CI=true: the real-QEMU suite "${name}" must run (apt-get install qemu-system-x86)`);
  }
  process.stderr.write(`SKIPPED real-QEMU suite "${name}": ${QEMU_BINARY} not found (apt-get install qemu-system-x86)\n`);
  describe.skip(name, body);
}

/**
 * One `describe` per QEMU version (qemuInstallations()), the version in its name:
 * `<name> (QEMU 7.2)`, `<name> (QEMU 10.0)`. A missing version fails the run under CI=true;
 * elsewhere it is printed and its suite shows as skipped in the summary, with why.
 */
export function describeEachQemu(name: string, body: (qemu: QemuBinary) => void): void {
  const { found, missing } = qemuInstallations();
  for (const qemu of found) describe(`${name} (QEMU ${qemu.version})`, () => body(qemu));
  for (const { version, why } of missing) {
    describe.skip(`${name} (QEMU ${version})`, () => {
      it.skip(`not installed: ${why}`, () => undefined);
    });
  }
}

export interface QemuOptions {
  name: string;
  memoryMiB?: number;
  /** Back guest RAM with this file (shared), so tests can read it. */
  memoryFile?: string;
  /** Start paused (-S). */
  paused?: boolean;
  /** Start as a migration destination (-incoming defer). */
  incoming?: boolean;
  /** `kvm` uses KVM when usable and TCG otherwise; `tcg` forces TCG. */
  accel?: 'kvm' | 'tcg';
  /** `-machine` (default q35). */
  machine?: string;
  extraArgs?: string[];
}

export interface QemuProcess {
  name: string;
  qmpPath: string;
  child: ChildProcess;
  pid: number;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  /** Connects a QMP client (negotiated unless told otherwise), retrying until the socket is up. */
  connect(options?: QmpClientOptions): Promise<QmpClient>;
}

/**
 * Starts QEMU processes for one test and guarantees they are gone afterwards:
 * `cleanup()` SIGKILLs what is left and removes the directory, and a process exit hook
 * does the same if the test runner itself dies.
 */
export class QemuHarness {
  readonly dir: string;
  private readonly processes: QemuProcess[] = [];
  private readonly clients: QmpClient[] = [];

  /** `binary`: the QEMU to run (default: the system's, QEMU_BINARY; QemuBinary.binary for another version). */
  constructor(
    label = 'qemu',
    readonly binary = QEMU_BINARY,
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-${label}-`));
    liveHarnesses.add(this);
  }

  start(options: QemuOptions): QemuProcess {
    const qmpPath = path.join(this.dir, `${options.name}.qmp`);
    const memoryMiB = options.memoryMiB ?? 64;
    const args = ['-nodefaults', '-no-user-config', '-display', 'none', '-name', options.name, '-m', `${memoryMiB}M`];
    // Always a named memory backend, so that any two processes of the harness have the same
    // RAM block names and can migrate into each other.
    const backend = options.memoryFile
      ? `memory-backend-file,id=mem,size=${memoryMiB}M,mem-path=${options.memoryFile},share=on`
      : `memory-backend-ram,id=mem,size=${memoryMiB}M`;
    args.push('-object', backend, '-machine', `${options.machine ?? 'q35'},memory-backend=mem`);
    if ((options.accel ?? 'kvm') === 'kvm') args.push('-accel', 'kvm', '-accel', 'tcg');
    else args.push('-accel', 'tcg');
    args.push('-qmp', `unix:${qmpPath},server=on,wait=off`);
    if (options.paused) args.push('-S');
    if (options.incoming) args.push('-incoming', 'defer');
    args.push(...(options.extraArgs ?? []));

    const child = spawn(this.binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: -1, signal: null }));
    });
    let hasExited = false;
    void exited.then(() => {
      hasExited = true;
    });
    const process: QemuProcess = {
      name: options.name,
      qmpPath,
      child,
      pid: child.pid ?? -1,
      exited,
      stderr: () => stderr,
      connect: async (clientOptions = {}) => {
        const deadline = Date.now() + 30_000;
        for (;;) {
          if (hasExited) throw new Error(`QEMU ${options.name} exited before its QMP socket was up: ${stderr.trim()}`);
          try {
            const client = await QmpClient.connect(`unix:${qmpPath}`, { peerName: options.name, ...clientOptions });
            this.clients.push(client);
            return client;
          } catch (error) {
            const errno = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
            if (errno !== 'ENOENT' && errno !== 'ECONNREFUSED') throw error;
            if (Date.now() > deadline) throw new Error(`timed out after 30000 ms waiting for QEMU ${options.name}'s QMP socket ${qmpPath}; last seen: ${errno}; stderr: ${stderr.trim()}`, { cause: error });
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      },
    };
    this.processes.push(process);
    return process;
  }

  async cleanup(): Promise<void> {
    for (const client of this.clients) client.destroy();
    for (const process of this.processes) {
      if (process.child.exitCode === null && process.child.signalCode === null) process.child.kill('SIGKILL');
    }
    await Promise.all(this.processes.map((p) => p.exited));
    fs.rmSync(this.dir, { recursive: true, force: true });
    liveHarnesses.delete(this);
  }

  killAllSync(): void {
    for (const process of this.processes) {
      try {
        process.child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const liveHarnesses = new Set<QemuHarness>();
process.on('exit', () => {
  for (const harness of liveHarnesses) harness.killAllSync();
});
