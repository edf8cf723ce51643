import net from 'node:net';
import { UsageError } from '../errors.js';
import { QmpConnectError } from './errors.js';

/**
 * A byte stream both ways. The QMP client knows nothing else about how it reaches QEMU,
 * so a WebSocket tunnel through the host agent can stand in for a socket.
 */
export interface QmpStream {
  write(data: string): void;
  onData(listener: (chunk: Buffer) => void): void;
  /** Called once, when the stream is closed by either side or fails. */
  onClose(listener: (error?: Error) => void): void;
  close(): void;
  destroy(): void;
}

export type QmpEndpoint = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** Parses `unix:/path/to/sock` or `tcp:host:port` (IPv6 as `tcp:[::1]:4444`). */
export function parseEndpoint(text: string): QmpEndpoint {
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length);
    if (path.length === 0) throw badEndpoint(text, 'the socket path is empty');
    return { kind: 'unix', path };
  }
  if (text.startsWith('tcp:')) {
    const rest = text.slice('tcp:'.length);
    const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(rest);
    if (!match) throw badEndpoint(text, 'expected tcp:HOST:PORT');
    const port = Number(match[3]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw badEndpoint(text, `port ${match[3]} is not in 1..65535`);
    return { kind: 'tcp', host: (match[1] ?? match[2]) as string, port };
  }
  throw badEndpoint(text, 'expected unix:/path or tcp:HOST:PORT');
}

export function formatEndpoint(endpoint: QmpEndpoint): string {
  if (endpoint.kind === 'unix') return `unix:${endpoint.path}`;
  return endpoint.host.includes(':') ? `tcp:[${endpoint.host}]:${endpoint.port}` : `tcp:${endpoint.host}:${endpoint.port}`;
}

function badEndpoint(text: string, why: string): UsageError {
  return new UsageError('BAD_ENDPOINT', `invalid QMP endpoint '${text}': ${why}`, {
    hint: 'use unix:/run/qemu/vm1.qmp or tcp:192.0.2.10:4444',
  });
}

/** Opens a unix or TCP socket to a QMP server. */
export function connectSocket(endpoint: QmpEndpoint, timeoutMs = 10_000): Promise<QmpStream> {
  return new Promise((resolve, reject) => {
    const socket =
      endpoint.kind === 'unix' ? net.connect({ path: endpoint.path }) : net.connect({ host: endpoint.host, port: endpoint.port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new QmpConnectError(`timed out after ${timeoutMs} ms connecting to ${formatEndpoint(endpoint)}`));
    }, timeoutMs);
    const onError = (error: NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      reject(
        new QmpConnectError(`cannot connect to ${formatEndpoint(endpoint)}: ${error.code ?? error.message}`, {
          cause: error,
          details: { endpoint: formatEndpoint(endpoint), errno: error.code },
        }),
      );
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socketStream(socket));
    });
  });
}

/** Adapts a connected net.Socket (or any Duplex-like socket) to a QmpStream. */
export function socketStream(socket: net.Socket): QmpStream {
  let closed = false;
  let lastError: Error | undefined;
  const closeListeners: ((error?: Error) => void)[] = [];
  socket.on('error', (error) => {
    lastError = error;
  });
  socket.on('close', () => {
    if (closed) return;
    closed = true;
    for (const listener of closeListeners) listener(lastError);
  });
  return {
    write: (data) => {
      if (!socket.destroyed) socket.write(data);
    },
    onData: (listener) => {
      socket.on('data', listener);
    },
    onClose: (listener) => {
      closeListeners.push(listener);
    },
    close: () => {
      socket.end();
      // A peer that does not close its side must not keep us waiting.
      setTimeout(() => socket.destroy(), 1000).unref();
    },
    destroy: () => {
      socket.destroy();
    },
  };
}
