import fs from 'node:fs';
import { QmpClient } from '../qmp/client.js';
import { QmpConnectError, QmpError, QmpProtocolError, QmpTimeoutError } from '../qmp/errors.js';
import { QemuMonitor } from '../qmp/monitor.js';
import type { VmPresence, VmProbe } from '../migration/ports.js';

/** What the host knows of the process behind a VM, besides its monitor. */
export type ProcessFact =
  /** The process exists (its pid is in the host's process table). */
  | { alive: true; what: string }
  /** The process does not exist. */
  | { alive: false; what: string }
  /** The host cannot tell (no pid file, no host manifest). */
  | undefined;

export interface SocketProbeOptions {
  /** The VM and host, for messages: `vm1 on hostB`. */
  peerName: string;
  extensionPrefix?: string | undefined;
  /** Deadline for the greeting and for each query. Default 3 s. */
  timeoutMs?: number | undefined;
  /** The host's process table, asked when the monitor does not answer. */
  process?: () => ProcessFact;
}

export const DEFAULT_PROBE_TIMEOUT_MS = 3000;

/** The errno of a failed connect (QmpConnectError wraps the socket's error), if any. */
function errnoOf(error: unknown): string | undefined {
  const cause = (error as Error | undefined)?.cause as NodeJS.ErrnoException | undefined;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

/**
 * Classifies the QEMU behind a QMP unix socket from facts only (docs/recover.md):
 * - it answers: running or paused, with its run state and migration status;
 * - gone: no socket file, or nothing listens on it (ECONNREFUSED/ENOENT on a unix socket),
 *   and the host's process table does not contradict it;
 * - unknown: the connect fails at once with EAGAIN (QEMU serves one client per monitor and
 *   queues two more; the next is refused by the kernel), no greeting comes (another client
 *   holds the monitor, or QEMU is hung), a query gets no answer, or the facts disagree.
 * Never throws; every wait is bounded by `timeoutMs`.
 */
export async function probeVmSocket(socket: string, options: SocketProbeOptions): Promise<VmProbe> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const where = options.peerName;
  const gone = (reason: string): VmProbe => {
    const process = options.process?.();
    if (process?.alive) return unknown(`${reason}, but ${process.what} exists: the QEMU may be starting, ending or broken`, false);
    return { presence: { state: 'gone', reason: process ? `${reason}; ${process.what} does not exist` : reason } };
  };
  const unknown = (reason: string, busy: boolean): VmProbe => ({ presence: { state: 'unknown', reason, busy } });

  if (!fs.existsSync(socket)) return gone(`no QMP socket at ${socket}`);
  let client: QmpClient;
  try {
    // Commands that follow the probe (cont, quit, migrate_cancel) keep the usual deadline.
    client = await QmpClient.connect(`unix:${socket}`, { peerName: where, greetingTimeoutMs: timeoutMs });
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 'ECONNREFUSED' || errno === 'ENOENT') return gone(`nothing listens on ${socket} (${errno}): the QEMU that made it has ended`);
    // Whatever the socket did (a reset from a process that is ending), the process table decides.
    const process = options.process?.();
    if (process && !process.alive) return { presence: { state: 'gone', reason: `${process.what} does not exist (the monitor ${socket}: ${(error as Error).message})` } };
    if (errno === 'EAGAIN') {
      return unknown(`the monitor ${socket} refuses more connections (EAGAIN): other clients hold it and wait on it`, true);
    }
    if (error instanceof QmpConnectError && errno === undefined) {
      return unknown(`no QMP greeting on ${socket} within ${timeoutMs} ms: another client holds the monitor, or the QEMU is hung`, true);
    }
    // A greeting, then silence: hung as much as no greeting (a QEMU 10.0 stopped right after it
    // greeted did this under load).
    if (error instanceof QmpProtocolError && error.cause instanceof QmpTimeoutError) {
      return unknown(`the monitor ${socket} greeted but did not answer qmp_capabilities within ${timeoutMs} ms: the QEMU is hung`, true);
    }
    const message = (error as Error).message;
    return unknown(`cannot reach the monitor ${socket}${errno ? ` (${errno})` : ''}: ${message}`, false);
  }
  const monitor = new QemuMonitor(client, { extensionPrefix: options.extensionPrefix });
  try {
    const [status, migration] = await withDeadline(Promise.all([monitor.queryStatus(), monitor.queryMigrate()]), timeoutMs, `no answer to query-status and query-migrate within ${timeoutMs} ms`);
    const presence: VmPresence = { state: status.status === 'running' ? 'running' : 'paused', status: status.status, migration: migration.status };
    return { presence, monitor };
  } catch (error) {
    monitor.disconnect();
    const reason = error instanceof QmpError ? error.message : String(error);
    return unknown(`the monitor ${socket} greeted but did not answer query-status/query-migrate: ${reason}`, false);
  }
}

/** `promise`, or a QmpTimeoutError saying `what` once `ms` have passed. */
function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QmpTimeoutError(what)), ms);
  });
  // The loser must not become an unhandled rejection.
  promise.catch(() => undefined);
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Whether `pid` names a live process (a zombie is not). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** A one-line description of a VM's presence, for status and recover. */
export function describePresence(presence: VmPresence): string {
  switch (presence.state) {
    case 'running':
    case 'paused':
      return `${presence.status}${presence.migration && presence.migration !== 'none' ? ` (migration ${presence.migration})` : ''}`;
    case 'gone':
      return `gone: ${presence.reason}`;
    case 'unknown':
      return `${presence.busy ? 'busy' : 'unknown'}: ${presence.reason}`;
  }
}
