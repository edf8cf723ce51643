import fs from 'node:fs';
import net from 'node:net';
import { QemuJsonStream } from '../qmp/json-stream.js';
import { formatQemuJson } from '../qmp/json-writer.js';
import type { QmpCommandRegistry } from './qmp-registry.js';
import type { SimQemuProfile } from './qemu-profile.js';
import { allowsOob } from './qmp-schema.js';
import { QmpSession, type QmpGreetingVersion, type QmpSessionCommands, type SimEvent } from './qmp-session.js';

/**
 * A QMP monitor on a unix socket, like `-qmp unix:PATH,server=on,wait=off`. One client at
 * a time: a second connection is accepted by the kernel but gets its greeting only when the
 * first has gone (QEMU's chardev does not accept it until then either).
 */
export class QmpServer {
  private readonly server: net.Server;
  private active: { socket: net.Socket; session: QmpSession } | undefined;
  private readonly waiting: net.Socket[] = [];
  private closing = false;

  private constructor(
    readonly path: string,
    private readonly commands: QmpSessionCommands,
    private readonly version: QmpGreetingVersion,
  ) {
    this.server = net.createServer((socket) => this.onConnection(socket));
  }

  static async listen(path: string, registry: QmpCommandRegistry, profile: Pick<SimQemuProfile, 'greeting' | 'recording'>): Promise<QmpServer> {
    fs.rmSync(path, { force: true });
    const commands: QmpSessionCommands = {
      registry,
      // Which commands allow OOB is in the recorded schema of the QEMU being simulated.
      allowsOob: (name) => allowsOob(profile.recording, name),
    };
    const server = new QmpServer(path, commands, profile.greeting);
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.server.listen(path, () => {
        server.server.off('error', reject);
        resolve();
      });
    });
    return server;
  }

  /** Sends an event to the current client (if it has negotiated). */
  event(event: SimEvent): void {
    this.active?.session.event(event);
  }

  /** Closes every connection and the socket, and removes the socket file. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.active?.session.close();
    this.active?.socket.end();
    this.active?.socket.destroy();
    for (const socket of this.waiting.splice(0)) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    fs.rmSync(this.path, { force: true });
  }

  /** Ends the current connection after what was already written (quit). */
  endActiveConnection(): void {
    this.active?.session.close();
    this.active?.socket.end();
  }

  private onConnection(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    socket.on('error', () => undefined);
    if (this.active) {
      this.waiting.push(socket);
      socket.once('close', () => {
        const index = this.waiting.indexOf(socket);
        if (index >= 0) this.waiting.splice(index, 1);
      });
      return;
    }
    this.activate(socket);
  }

  private activate(socket: net.Socket): void {
    socket.setNoDelay(true);
    // QEMU's bytes: its JSON writer's format, each message ending "\r\n".
    const session = new QmpSession(this.commands, (message) => {
      if (!socket.destroyed && socket.writable) socket.write(`${formatQemuJson(message)}\r\n`);
    });
    this.active = { socket, session };
    // As QEMU: a value is acted on when it closes, newline or not; a new parser per connection.
    const input = new QemuJsonStream();
    socket.on('data', (chunk: Buffer) => {
      for (const item of input.push(chunk)) void session.receive(item);
    });
    socket.once('close', () => {
      session.close();
      if (this.active?.socket !== socket) return;
      this.active = undefined;
      const next = this.waiting.shift();
      if (next && !this.closing) this.activate(next);
    });
    session.greet(this.version);
  }
}
