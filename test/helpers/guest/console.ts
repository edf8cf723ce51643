import fs from 'node:fs';
import net from 'node:net';

/**
 * The guest's serial console, served by the test: each QEMU of the VM connects to this unix
 * socket as a client (`-chardev socket,server=off`), so the source and, after a migration,
 * the destination both reach it with the same QEMU arguments. A request goes to every
 * connected QEMU; only the one whose guest runs answers.
 */

export interface GuestStatus {
  boot: string;
  uptimeMs: number;
  generation: number;
  sum: string;
  /** `verify` only: the checksum recomputed from the buffer, and from the generation alone. */
  memory?: string;
  expected?: string;
  udpReplies?: number;
}

export function parseStatusLine(line: string): GuestStatus {
  const fields = new Map(
    line
      .split(' ')
      .slice(2)
      .map((pair) => pair.split('=') as [string, string]),
  );
  const field = (name: string) => {
    const value = fields.get(name);
    if (value === undefined) throw new Error(`guest console: no ${name}= in "${line}"`);
    return value;
  };
  return {
    boot: field('boot'),
    uptimeMs: Number(field('uptime_ms')),
    generation: Number(field('gen')),
    sum: field('sum'),
    memory: fields.get('memory'),
    expected: fields.get('expected'),
    udpReplies: fields.has('udp') ? Number(fields.get('udp')) : undefined,
  };
}

export class GuestConsole {
  private readonly server: net.Server;
  private readonly connections = new Set<net.Socket>();
  private readonly waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  /** Everything the guests printed, for a failing test's message. */
  log = '';

  private constructor(readonly path: string) {
    this.server = net.createServer((socket) => {
      this.connections.add(socket);
      let pending = '';
      socket.on('data', (chunk: Buffer) => {
        const text = chunk.toString('latin1');
        this.log += text;
        pending += text;
        let newline: number;
        while ((newline = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, newline).replace(/\r$/, '');
          pending = pending.slice(newline + 1);
          this.onLine(line);
        }
      });
      socket.on('close', () => this.connections.delete(socket));
      socket.on('error', () => this.connections.delete(socket));
    });
  }

  static async listen(path: string): Promise<GuestConsole> {
    fs.rmSync(path, { force: true });
    const console = new GuestConsole(path);
    await new Promise<void>((resolve, reject) => {
      console.server.once('error', reject);
      console.server.listen(path, () => resolve());
    });
    return console;
  }

  /** QEMU arguments for the VM's serial port on this console. */
  qemuArgs(): string[] {
    return ['-chardev', `socket,id=console0,path=${this.path},server=off`, '-serial', 'chardev:console0'];
  }

  private onLine(line: string): void {
    // Kernel messages can share a line with the agent's output: look for our prefix anywhere.
    const at = line.indexOf('NICMIG ');
    if (at < 0) return;
    const ours = line.slice(at);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(ours)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(ours);
      }
    }
  }

  /** The next line starting with `NICMIG <kind>` (registered before anything is sent). */
  waitFor(kind: string, timeoutMs: number, what = kind): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`guest console: no "${what}" line within ${timeoutMs} ms; console so far:\n${this.log.slice(-3000)}`));
      }, timeoutMs);
      const waiter = {
        match: (line: string) => line.startsWith(`NICMIG ${kind} `) || line === `NICMIG ${kind}`,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Sends a command to every connected QEMU's guest and returns the first answer. */
  async request(command: 'status' | 'verify', timeoutMs = 30_000): Promise<GuestStatus> {
    const answer = this.waitFor(command, timeoutMs, `${command} answer`);
    if (this.connections.size === 0) throw new Error(`guest console: no QEMU connected to ${this.path}`);
    for (const socket of this.connections) socket.write(`${command}\n`);
    return parseStatusLine(await answer);
  }

  get connected(): number {
    return this.connections.size;
  }

  async close(): Promise<void> {
    for (const socket of this.connections) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    fs.rmSync(this.path, { force: true });
  }
}
