import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { connectVmSocket } from '../../../src/hosts/qemu-host.js';

jest.setTimeout(30_000);

describe('a monitor refused for its extension prefix', () => {
  let dir: string;
  let server: net.Server | undefined;
  const sockets = new Set<net.Socket>();
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-prefix-${process.pid}-`));
  });
  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('closes the connection it was given, so nothing is left waiting', async () => {
    const socketPath = path.join(dir, 'vm1.qmp');
    let peerClosed!: () => void;
    const closed = new Promise<void>((resolve) => (peerClosed = resolve));
    server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => peerClosed());
      socket.write('{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}\r\n');
      socket.on('data', (chunk) => {
        const { id } = JSON.parse(chunk.toString().split('\n')[0] as string) as { id: unknown };
        socket.write(`{"return": {}, "id": ${JSON.stringify(id)}}\r\n`);
      });
    });
    await new Promise<void>((resolve) => (server as net.Server).listen(socketPath, resolve));
    await expect(connectVmSocket(socketPath, 'vm1', 'not a prefix')).rejects.toMatchObject({ code: 'BAD_EXTENSION_PREFIX', exitCode: 2 });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      closed,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the refused monitor did not close its connection within 10 s')), 10_000))),
    ]);
    clearTimeout(timer);
  });
});
