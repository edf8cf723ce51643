import crypto from 'node:crypto';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { MigrationLink } from '../../../src/sim/network/migration-link.js';
import { waitUntil } from '../../helpers/wait.js';

jest.setTimeout(30_000);

/** A window in which something must NOT happen (nothing to wait on: its absence is the point). */
const quietWindow = () => new Promise((resolve) => setTimeout(resolve, 300));

/** A TCP server standing for the destination's incoming migration: keeps what it reads. */
let server: net.Server;
let port: number;
let accepted: net.Socket[];
let received: Buffer[];
let link: MigrationLink;

beforeEach(async () => {
  accepted = [];
  received = [];
  server = net.createServer((socket) => {
    accepted.push(socket);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  port = (server.address() as net.AddressInfo).port;
  link = new MigrationLink();
});

afterEach(async () => {
  link.close();
  for (const socket of accepted) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const target = () => ({ kind: 'tcp' as const, host: '127.0.0.1', port });

/** The source's end of a stream across the link (a reset at the end of a test is expected). */
async function open(): Promise<net.Socket> {
  const source = await link.connect(target());
  source.on('error', () => undefined);
  return source;
}
const receivedBytes = () => received.reduce((sum, chunk) => sum + chunk.length, 0);

describe('MigrationLink', () => {
  it('carries a stream both ways, byte for byte, and lets it close', async () => {
    const source = await open();
    const payload = crypto.randomBytes(3 << 20);
    source.write(payload);
    await waitUntil('the payload across the link', receivedBytes, (n) => n === payload.length);
    expect(Buffer.concat(received).equals(payload)).toBe(true);
    const back = new Promise<Buffer>((resolve) => source.once('data', resolve));
    accepted[0]?.write('loaded');
    expect((await back).toString()).toBe('loaded');
    expect(link.connections).toBe(1);
    source.end();
    await waitUntil('the stream gone from the link', () => link.connections, (n) => n === 0);
  });

  it('down: nothing crosses and the sender stalls once the buffers are full; up: everything held arrives, in order', async () => {
    const source = await open();
    link.down();
    const payload = crypto.randomBytes(64 << 20);
    let written = 0;
    const chunk = 1 << 20;
    // Write until the socket says stop, as the migration stream does.
    while (written < payload.length && source.write(payload.subarray(written, written + chunk))) written += chunk;
    written += chunk;
    expect(written).toBeLessThan(payload.length);
    await quietWindow();
    expect(receivedBytes()).toBe(0);
    expect(source.writableNeedDrain).toBe(true);
    link.up();
    while (written < payload.length) {
      if (!source.write(payload.subarray(written, written + chunk))) await new Promise((resolve) => source.once('drain', resolve));
      written += chunk;
    }
    await waitUntil('the whole payload after the link came up', receivedBytes, (n) => n === payload.length, { deadlineMs: 20_000 });
    expect(Buffer.concat(received).equals(payload)).toBe(true);
  });

  it('down: a close does not cross either, until the link is up', async () => {
    const source = await open();
    await waitUntil('the far end accepted', () => accepted.length, (n) => n === 1);
    const far = accepted[0] as net.Socket;
    let farEnded = false;
    far.on('end', () => (farEnded = true));
    link.down();
    source.end();
    await quietWindow();
    expect(farEnded).toBe(false);
    link.up();
    await waitUntil('the close across the link', () => farEnded, (ended) => ended);
  });

  it('reset: both ends see the stream broken at once', async () => {
    const source = await open();
    await waitUntil('the far end accepted', () => accepted.length, (n) => n === 1);
    const errors: string[] = [];
    source.on('error', (error: NodeJS.ErrnoException) => errors.push(`source ${error.code}`));
    (accepted[0] as net.Socket).on('error', (error: NodeJS.ErrnoException) => errors.push(`far ${error.code}`));
    link.reset();
    await waitUntil('both ends reset', () => errors.sort(), (e) => e.length === 2);
    expect(errors).toEqual(['far ECONNRESET', 'source ECONNRESET']);
    expect(link.connections).toBe(0);
  });

  it('a stream that starts while the link is down reaches the far end only once it is up', async () => {
    link.down();
    const connecting = open();
    await quietWindow();
    expect(accepted).toHaveLength(0);
    link.up();
    const source = await connecting;
    source.write('header');
    await waitUntil('the header across the link', () => Buffer.concat(received).toString(), (text) => text === 'header');
  });
});
