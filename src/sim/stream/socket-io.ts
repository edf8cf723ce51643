import net from 'node:net';
import type { MigrationTarget } from './uri.js';

const ERRNO_TEXT: Record<string, string> = {
  ECONNRESET: 'Connection reset by peer',
  EPIPE: 'Broken pipe',
  ECONNREFUSED: 'Connection refused',
  ENOENT: 'No such file or directory',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
};

/** strerror() of a socket error, as QEMU words its error-desc. */
export function errnoText(error: NodeJS.ErrnoException | undefined): string {
  if (!error) return 'Connection reset by peer';
  return (error.code && ERRNO_TEXT[error.code]) ?? error.message;
}

export function describeTarget(target: MigrationTarget): string {
  return target.kind === 'tcp' ? `${target.host}:${target.port}` : target.path;
}

export function connectTarget(target: MigrationTarget): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = target.kind === 'tcp' ? net.connect({ host: target.host, port: target.port }) : net.connect({ path: target.path });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/** Resolves when the socket can take more data, or has closed (the caller checks which). */
export function writable(socket: net.Socket): Promise<void> {
  if (!socket.writableNeedDrain || socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** Writes `data` and resolves once the kernel has taken it (or rejects on a socket error). */
export function writeFully(socket: net.Socket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) {
      reject(Object.assign(new Error('socket closed'), { code: 'EPIPE' }));
      return;
    }
    socket.write(data, (error) => (error ? reject(error) : resolve()));
  });
}

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
