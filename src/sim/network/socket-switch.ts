/**
 * The switch across processes: one process (the lab) runs `SwitchServer` on a unix socket in
 * the lab directory; each host process plugs its PF in with `SocketNetwork`. Node has no unix
 * datagram sockets, so it is a stream socket with length-prefixed messages:
 *
 *   u32 BE length of what follows, u8 type, body
 *   type 1 HELLO: the port name (utf-8), first message of a connection
 *   type 2 FRAME: one Ethernet frame
 */
import fs from 'node:fs';
import net from 'node:net';
import { LearningSwitch, type FrameHandler, type Network, type NetworkPort } from './switch.js';

const HELLO = 1;
const FRAME = 2;
/** bigger than any frame (jumbo 9706 + headers); anything larger is a broken peer */
const MAX_MESSAGE = 16 * 1024;

function message(type: number, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(1 + body.length, 0);
  out.writeUInt8(type, 4);
  body.copy(out, 5);
  return out;
}

/** Splits a byte stream into messages; calls back with (type, body). Throws on an oversized one. */
function messageReader(onMessage: (type: number, body: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const length = pending.readUInt32BE(0);
      if (length < 1 || length > MAX_MESSAGE) throw new Error(`switch message of ${length} bytes`);
      if (pending.length < 4 + length) return;
      const type = pending.readUInt8(4);
      const body = pending.subarray(5, 4 + length);
      pending = pending.subarray(4 + length);
      onMessage(type, Buffer.from(body));
    }
  };
}

/** The lab's switch, listening on a unix socket. */
export class SwitchServer {
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    readonly path: string,
    readonly fabric: LearningSwitch,
    private readonly server: net.Server,
  ) {}

  static async listen(socketPath: string, fabric = new LearningSwitch()): Promise<SwitchServer> {
    fs.rmSync(socketPath, { force: true });
    const server = net.createServer();
    const switchServer = new SwitchServer(socketPath, fabric, server);
    server.on('connection', (socket) => switchServer.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return switchServer;
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    let port: NetworkPort | undefined;
    const read = messageReader((type, body) => {
      if (type === HELLO && !port) {
        const name = body.toString('utf8');
        try {
          port = this.fabric.attach(name, (frame) => socket.write(message(FRAME, frame)));
        } catch {
          socket.destroy(); // a second port of the same name
        }
      } else if (type === FRAME && port) {
        port.send(body);
      }
    });
    socket.on('data', (chunk) => {
      try {
        read(chunk);
      } catch {
        socket.destroy();
      }
    });
    const gone = (): void => {
      this.sockets.delete(socket);
      port?.close();
      port = undefined;
    };
    socket.on('close', gone);
    socket.on('error', gone);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    fs.rmSync(this.path, { force: true });
  }
}

/** A host's view of the lab switch: each `attach` is one connection, one switch port. */
export class SocketNetwork implements Network {
  constructor(readonly path: string) {}

  attach(name: string, receive: FrameHandler): Promise<NetworkPort> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(this.path);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.on('error', () => socket.destroy());
        socket.setNoDelay(true);
        socket.write(message(HELLO, Buffer.from(name, 'utf8')));
        const read = messageReader((type, body) => {
          if (type === FRAME) receive(body);
        });
        socket.on('data', (chunk) => {
          try {
            read(chunk);
          } catch {
            socket.destroy();
          }
        });
        resolve({
          name,
          send: (frame) => {
            if (!socket.destroyed) socket.write(message(FRAME, frame));
          },
          close: () => socket.destroy(),
        });
      });
    });
  }
}
