import fs from 'node:fs';
import { splitCmdline } from './source-command-line.js';

/**
 * The process behind a VM's QMP socket on this machine, from /proc (shared by every network
 * namespace, so a host with `netns:` is read the same way). Reads only; nothing waits.
 */

export interface MonitorProcess {
  pid: number;
  argv: string[];
}

/** The process's argv, or undefined (gone, a zombie, a kernel thread). */
export function readCmdline(pid: number): string[] | undefined {
  try {
    const argv = splitCmdline(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    return argv.length > 0 ? argv : undefined;
  } catch {
    return undefined;
  }
}

/** Whether an argument names `socket` as a whole path (`unix:/p,server=on`, `path=/p`, `"path":"/p"`). */
export function namesSocket(argv: readonly string[], socket: string): boolean {
  const escaped = socket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`(^|[:=",])${escaped}($|[,"])`);
  return argv.some((arg) => pattern.test(arg));
}

/**
 * Whether the process holds a unix socket bound to `socket` (the monitor's listening socket,
 * or a connection accepted on it): its fds against its network namespace's /proc/net/unix.
 * undefined when /proc does not tell (another user's process).
 */
export function holdsSocket(pid: number, socket: string): boolean | undefined {
  const inodes = new Set<string>();
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const inode = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
        if (inode) inodes.add(inode);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return undefined;
  }
  let table: string;
  try {
    table = fs.readFileSync(`/proc/${pid}/net/unix`, 'utf8');
  } catch {
    return undefined;
  }
  // Num RefCount Protocol Flags Type St Inode Path
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length >= 8 && fields.slice(7).join(' ') === socket && inodes.has(fields[6] as string)) return true;
  }
  return false;
}

/**
 * The QEMU behind `socket`: the pid file's process when it is alive and names the socket,
 * else the one process whose command line names the socket and that holds it. A sentence
 * saying why when there is none, or several.
 */
export function findMonitorProcess(socket: string, pidFile: string): MonitorProcess | { problem: string } {
  const recorded = readPid(pidFile);
  if (recorded !== undefined) {
    const argv = readCmdline(recorded);
    if (argv && namesSocket(argv, socket) && holdsSocket(recorded, socket) !== false) return { pid: recorded, argv };
  }
  const candidates: (MonitorProcess & { holds: boolean | undefined })[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch (error) {
    return { problem: `/proc cannot be read (${(error as Error).message})` };
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const argv = readCmdline(pid);
    if (!argv || !namesSocket(argv, socket)) continue;
    candidates.push({ pid, argv, holds: holdsSocket(pid, socket) });
  }
  const holders = candidates.filter((c) => c.holds === true);
  const pick = holders.length > 0 ? holders : candidates.filter((c) => c.holds === undefined);
  const only = pick.length === 1 ? pick[0] : undefined;
  if (only) return { pid: only.pid, argv: only.argv };
  if (pick.length > 1) return { problem: `several processes name ${socket} in their command lines (${pick.map((c) => c.pid).join(', ')}) and nicmig cannot tell which one serves it` };
  const pidNote = recorded === undefined ? `no pid file at ${pidFile}` : `the pid file names ${recorded}, which is not it`;
  if (candidates.length === 0) return { problem: `no process on this machine names ${socket} in its command line (${pidNote}); a monitor passed as a file descriptor hides it` };
  return { problem: `the processes that name ${socket} in their command lines (${candidates.map((c) => c.pid).join(', ')}) do not hold that socket` };
}

/** The pid a pid file names, or undefined (missing, unreadable, not a pid). */
export function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
