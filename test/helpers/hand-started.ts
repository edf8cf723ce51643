import { spawn, type ChildProcess } from 'node:child_process';

/**
 * QEMU processes started by hand, as an operator or libvirt starts them (not by nicmig):
 * tracked so that a test can end them, and wait for their end, whatever happened.
 */

/**
 * Opens a file descriptor before exec, as libvirt does, and hands it to the command as fd 3:
 * `tap NAME` a tap device (TUNSETIFF on /dev/net/tun), `unix-listen PATH` a listening unix
 * socket. perl (perl-base, always on Debian) because Node cannot ioctl.
 */
const FD3_SCRIPT = String.raw`
use strict; use warnings; use POSIX (); use Socket;
# Descriptors perl opens above $^F are closed on exec: keep this one open.
$^F = 255;
my ($kind, $target, @cmd) = @ARGV;
my $fh;
if ($kind eq 'tap') {
  open($fh, '+<', '/dev/net/tun') or die "open /dev/net/tun: $!\n";
  ioctl($fh, 0x400454ca, pack('a16 s x22', $target, 0x0002 | 0x1000)) or die "TUNSETIFF $target: $!\n";
} else {
  socket($fh, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!\n";
  bind($fh, pack_sockaddr_un($target)) or die "bind $target: $!\n";
  listen($fh, 8) or die "listen: $!\n";
}
defined(POSIX::dup2(fileno($fh), 3)) or die "dup2: $!\n";
exec { $cmd[0] } @cmd or die "exec $cmd[0]: $!\n";
`;

export interface HandStarted {
  child: ChildProcess;
  pid: number;
  stderr(): string;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  hasExited(): boolean;
}

export class HandStartedProcesses {
  private readonly started: HandStarted[] = [];

  constructor() {
    live.add(this);
  }

  /** Runs `binary args`, with fd 3 opened first when `fd3` says what it is. */
  start(binary: string, args: string[], fd3?: { kind: 'tap' | 'unix-listen'; target: string }): HandStarted {
    const [command, commandArgs] = fd3 ? ['perl', ['-e', FD3_SCRIPT, fd3.kind, fd3.target, binary, ...args]] : [binary, args];
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let ended = false;
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    }).then(() => {
      ended = true;
    });
    const process: HandStarted = { child, pid: child.pid ?? -1, stderr: () => stderr, exited, hasExited: () => ended };
    this.started.push(process);
    return process;
  }

  /** SIGKILLs what is left and waits until every process has exited. */
  async cleanup(): Promise<void> {
    for (const process of this.started) if (!process.hasExited()) process.child.kill('SIGKILL');
    await Promise.all(this.started.map((p) => p.exited));
    this.started.length = 0;
    live.delete(this);
  }

  killAllSync(): void {
    for (const process of this.started) {
      try {
        process.child.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

const live = new Set<HandStartedProcesses>();
process.on('exit', () => {
  for (const processes of live) processes.killAllSync();
});
