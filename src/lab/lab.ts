/**
 * A lab that keeps running in the background: a switch process and two `nicmig sim host`
 * processes (hostA running vm1 with an i40e VF, hostB empty with an older PF kernel), an
 * inventory naming them (D/config.yaml) and D/lab.json naming the processes. What
 * `nicmig lab up|down|status` do.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseInventory } from '../inventory/inventory.js';
import { readHostManifest, SimHostClient } from '../sim/host-client.js';
import { LabError } from './errors.js';
import {
  createLabState,
  LAB_HOSTS,
  LAB_MAC,
  LAB_PF,
  LAB_VF_DEVICE,
  LAB_VM,
  labPaths,
  readLabState,
  writeLabState,
  type LabProcess,
  type LabState,
} from './lab-state.js';
import { defaultNicmigBin, isLabProcess, pollUntil, processAlive, socketListening, spawnDetached, terminate, type DetachedProcess, type Ending } from './processes.js';
import type { SwitchReport } from './switch-process.js';

export interface LabUpOptions {
  dir: string;
  memoryMiB: number;
  dirtyPagesPerSecond: number;
  /** probes per second from the switch to vm1's MAC; 0: no traffic */
  trafficRate: number;
  /** bin/run.js to start the processes with */
  bin?: string;
  /** how long each process may take to become ready */
  readyTimeoutMs?: number;
  log?: (message: string) => void;
}

export interface LabUpResult {
  status: 'up';
  dir: string;
  config: string;
  processes: LabProcess[];
  vm: { name: string; host: string; qmp: string; mac: string };
  startedInMs: number;
  next: string[];
}

/** A unix socket path is at most 107 bytes on Linux (sun_path). */
const MAX_SOCKET_PATH = 107;

function inventoryText(dir: string, memoryMiB: number): string {
  const paths = labPaths(dir);
  return [
    '# nicmig lab (nicmig lab up): two simulated hosts, each a process with an i40e PF on one switch',
    `stateDir: ${JSON.stringify(paths.stateDir)}`,
    'hosts:',
    ...LAB_HOSTS.map(({ name }) => `  ${name}: {kind: sim, runDir: ${JSON.stringify(paths.hostDir(name))}, migrationAddress: 127.0.0.1}`),
    'vms:',
    `  - name: ${LAB_VM}`,
    `    memoryMiB: ${memoryMiB}`,
    '    vcpus: 2',
    '    devices:',
    `      - {type: vfio-i40evf, id: ${LAB_VF_DEVICE}, pf: ${LAB_PF}, vf: auto, mac: "${LAB_MAC}"}`,
    '',
  ].join('\n');
}

function nextSteps(config: string, dir: string): string[] {
  return [`export NICMIG_CONFIG=${config}`, 'nicmig status', `nicmig migrate ${LAB_VM} hostB`, `nicmig lab status --dir ${dir}`, `nicmig lab down --dir ${dir}`];
}

function alivePids(state: LabState): number[] {
  const pids = state.processes.map((p) => p.pid).filter((pid) => isLabProcess(pid, state.dir));
  // A `lab up` still starting it counts as alive (its processes are not all in lab.json yet).
  if (!state.ready && state.starter !== process.pid && processAlive(state.starter)) pids.push(state.starter);
  return pids;
}

function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Removes what the processes would have removed had they ended cleanly. */
function removeRuntimeFiles(dir: string): void {
  const paths = labPaths(dir);
  fs.rmSync(paths.switchSocket, { force: true });
  fs.rmSync(paths.switchReport, { force: true });
  for (const { name } of LAB_HOSTS) {
    const hostDir = paths.hostDir(name);
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(hostDir);
    } catch {
      continue;
    }
    for (const entry of entries) if (entry.endsWith('.sock') || entry.endsWith('.qmp') || entry.startsWith('host.json')) fs.rmSync(path.join(hostDir, entry), { force: true });
  }
}

export async function labUp(options: LabUpOptions): Promise<LabUpResult> {
  const began = performance.now();
  const dir = path.resolve(options.dir);
  const paths = labPaths(dir);
  const log = options.log ?? (() => undefined);
  const bin = options.bin ?? defaultNicmigBin();
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const longest = [paths.switchSocket, ...LAB_HOSTS.map(({ name }) => path.join(paths.hostDir(name), `${LAB_VM}.qmp`))].sort((a, b) => b.length - a.length)[0] ?? '';
  if (Buffer.byteLength(longest) > MAX_SOCKET_PATH) {
    throw new LabError('LAB_DIR_TOO_LONG', `lab directory ${dir} is too long for unix sockets (${longest} is over ${MAX_SOCKET_PATH} bytes)`, { details: { dir }, hint: 'use a shorter --dir' });
  }
  fs.mkdirSync(dir, { recursive: true });

  const state: LabState = {
    format: 'nicmig-lab/1',
    dir,
    config: paths.config,
    ready: false,
    startedAt: new Date().toISOString(),
    starter: process.pid,
    processes: [],
    traffic: options.trafficRate > 0 ? { target: LAB_MAC, rate: options.trafficRate, report: paths.switchReport } : null,
  };
  if (!createLabState(state)) {
    const existing = readLabState(dir);
    if (existing && alivePids(existing).length > 0) {
      throw new LabError('LAB_ALREADY_UP', `a lab is already up in ${dir} (pids ${existing.processes.map((p) => p.pid).join(', ')})`, {
        details: { dir, pids: existing.processes.map((p) => p.pid) },
        hint: `use it (export NICMIG_CONFIG=${existing.config}), or stop it first: nicmig lab down --dir ${dir}`,
      });
    }
    // Every process of the last lab is gone (a reboot, a kill): take its place.
    log(`lab: the lab in ${dir} had stopped; starting a new one`);
    removeRuntimeFiles(dir);
    fs.rmSync(paths.state, { force: true });
    if (!createLabState(state)) throw new LabError('LAB_ALREADY_UP', `another nicmig lab up is starting a lab in ${dir}`, { details: { dir } });
  }

  fs.rmSync(paths.switchReport, { force: true });
  const started = new Map<number, { process: DetachedProcess; record: LabProcess }>();
  const launch = (record: Omit<LabProcess, 'pid' | 'log'>, args: string[]): { process: DetachedProcess; record: LabProcess } => {
    const logFile = paths.log(record.name);
    fs.writeFileSync(logFile, '');
    const child = spawnDetached(bin, args, logFile);
    const entry = { process: child, record: { ...record, pid: child.pid, log: logFile } };
    started.set(child.pid, entry);
    state.processes.push(entry.record);
    writeLabState(state);
    log(`lab: started ${record.name} (pid ${child.pid}), log ${logFile}`);
    return entry;
  };
  const failure = (entry: { process: DetachedProcess; record: LabProcess }) => () => {
    const ended = entry.process.ended();
    return ended ? `${ended}; its log (${entry.record.log}):\n${tail(entry.record.log)}` : undefined;
  };

  try {
    fs.writeFileSync(paths.config, inventoryText(dir, options.memoryMiB));
    const inventory = parseInventory(fs.readFileSync(paths.config, 'utf8'), paths.config);

    const switchEntry = launch({ role: 'switch', name: 'switch', socket: paths.switchSocket }, [
      'sim',
      'switch',
      '--socket',
      paths.switchSocket,
      '--report',
      paths.switchReport,
      ...(state.traffic ? ['--traffic', state.traffic.target, '--rate', String(state.traffic.rate)] : []),
    ]);
    await pollUntil(() => socketListening(paths.switchSocket), { timeoutMs: readyTimeoutMs, what: 'the switch', failed: failure(switchEntry) });

    const hostEntries = LAB_HOSTS.map(({ name, limits }) => {
      const hostDir = paths.hostDir(name);
      const entry = launch({ role: 'host', name, socket: path.join(hostDir, 'host.sock'), dir: hostDir, limits }, [
        'sim',
        'host',
        '--name',
        name,
        '--dir',
        hostDir,
        '--switch',
        paths.switchSocket,
        '--pf',
        LAB_PF,
        '--limits',
        limits,
        '--dirty-rate',
        String(options.dirtyPagesPerSecond),
      ]);
      return { name, hostDir, entry };
    });
    await Promise.all(
      hostEntries.map(({ name, hostDir, entry }) =>
        pollUntil(
          () => {
            try {
              return readHostManifest(hostDir).pid === entry.record.pid;
            } catch {
              return false;
            }
          },
          { timeoutMs: readyTimeoutMs, what: `host ${name}`, failed: failure(entry) },
        ),
      ),
    );

    const hostA = hostEntries[0] as (typeof hostEntries)[number];
    const control = await SimHostClient.connect(hostA.hostDir);
    let qmp: string;
    try {
      const spec = inventory.vms.get(LAB_VM);
      if (!spec) throw new Error(`${paths.config} has no ${LAB_VM}`);
      qmp = (await control.startVm(spec, { fillRandom: true, dirtyPagesPerSecond: options.dirtyPagesPerSecond })).qmp;
    } finally {
      control.close();
    }
    log(`lab: ${LAB_VM} runs on ${hostA.name} (${qmp})`);

    state.ready = true;
    writeLabState(state);
    return {
      status: 'up',
      dir,
      config: paths.config,
      processes: state.processes,
      vm: { name: LAB_VM, host: hostA.name, qmp, mac: LAB_MAC },
      startedInMs: Math.round(performance.now() - began),
      next: nextSteps(paths.config, dir),
    };
  } catch (error) {
    log(`lab: starting failed, stopping what was started`);
    await terminate([...started.keys()], { graceMs: 3000 }).catch(() => undefined);
    removeRuntimeFiles(dir);
    fs.rmSync(paths.state, { force: true });
    throw new LabError('LAB_START_FAILED', `the lab in ${dir} did not come up: ${(error as Error).message}`, {
      cause: error,
      details: { dir },
      hint: `the processes it started were stopped; their logs are in ${dir}`,
    });
  }
}

export interface LabDownResult {
  status: 'down';
  dir: string;
  processes: (LabProcess & { ended: Ending })[];
}

export async function labDown(dirInput: string, options: { graceMs?: number } = {}): Promise<LabDownResult> {
  const dir = path.resolve(dirInput);
  const state = readLabState(dir);
  if (!state) throw notUp(dir);
  const endings = await terminate(
    state.processes.map((p) => p.pid),
    { graceMs: options.graceMs ?? 5000, isOurs: (pid) => isLabProcess(pid, dir) },
  );
  removeRuntimeFiles(dir);
  fs.rmSync(labPaths(dir).state, { force: true });
  return { status: 'down', dir, processes: state.processes.map((p) => ({ ...p, ended: endings.get(p.pid) ?? 'already gone' })) };
}

export interface LabStatusResult {
  /** up: every process runs; degraded: some died (lab down cleans up); starting: lab up is still at it */
  status: 'up' | 'degraded' | 'starting';
  dir: string;
  config: string;
  startedAt: string;
  processes: (LabProcess & { alive: boolean })[];
  vms: { name: string; host: string; runState: string; qmp: string }[];
  traffic: SwitchReport['traffic'];
  moves: SwitchReport['moves'];
}

export async function labStatus(dirInput: string): Promise<LabStatusResult> {
  const dir = path.resolve(dirInput);
  const state = readLabState(dir);
  if (!state) throw notUp(dir);
  const processes = state.processes.map((p) => ({ ...p, alive: isLabProcess(p.pid, dir) }));
  // Run states from the hosts themselves (host.json has them as they were at start).
  const perHost = await Promise.all(
    processes.map(async (p) => {
      if (p.role !== 'host' || !p.alive) return [];
      try {
        const control = await SimHostClient.connect(p.socket);
        try {
          return (await control.listVms()).map((vm) => ({ name: vm.name, host: p.name, runState: vm.runState, qmp: vm.qmp }));
        } finally {
          control.close();
        }
      } catch {
        return []; // not ready yet, or gone in the meantime
      }
    }),
  );
  const vms: LabStatusResult['vms'] = perHost.flat();
  let report: SwitchReport | undefined;
  try {
    report = JSON.parse(fs.readFileSync(labPaths(dir).switchReport, 'utf8')) as SwitchReport;
  } catch {
    report = undefined;
  }
  const status = !state.ready ? 'starting' : processes.every((p) => p.alive) ? 'up' : 'degraded';
  return { status, dir, config: state.config, startedAt: state.startedAt, processes, vms, traffic: report?.traffic ?? null, moves: report?.moves ?? [] };
}

function notUp(dir: string): LabError {
  return new LabError('LAB_NOT_UP', `no lab is up in ${dir}`, { details: { dir }, hint: `start one: nicmig lab up --dir ${dir}` });
}
