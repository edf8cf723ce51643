import type { QmpStream } from '../../src/qmp/transport.js';

export const GREETING = {
  QMP: { version: { qemu: { micro: 22, minor: 2, major: 7 }, package: 'Debian 1:7.2+dfsg-7+deb12u18+b3' }, capabilities: ['oob'] },
};

/**
 * An in-memory QmpStream with a scriptable server side: what the client writes arrives in
 * `written` (parsed), and the test answers with `send` or raw bytes with `sendRaw`.
 */
export class FakeQmpStream implements QmpStream {
  readonly written: Record<string, unknown>[] = [];
  private dataListener: ((chunk: Buffer) => void) | undefined;
  private closeListeners: ((error?: Error) => void)[] = [];
  private writeWaiters: (() => void)[] = [];
  closed = false;
  onWrite: ((message: Record<string, unknown>) => void) | undefined;

  write(data: string): void {
    for (const line of data.split('\n')) {
      if (line.length === 0) continue;
      const message = JSON.parse(line) as Record<string, unknown>;
      this.written.push(message);
      this.onWrite?.(message);
    }
    const waiters = this.writeWaiters;
    this.writeWaiters = [];
    for (const waiter of waiters) waiter();
  }

  onData(listener: (chunk: Buffer) => void): void {
    this.dataListener = listener;
  }

  onClose(listener: (error?: Error) => void): void {
    this.closeListeners.push(listener);
  }

  close(): void {
    this.end();
  }

  destroy(): void {
    this.end();
  }

  send(message: unknown): void {
    this.sendRaw(`${JSON.stringify(message)}\r\n`);
  }

  sendRaw(data: string | Buffer): void {
    this.dataListener?.(typeof data === 'string' ? Buffer.from(data) : data);
  }

  /** The peer goes away (QEMU died). */
  end(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const listener of this.closeListeners) listener(error);
  }

  /** Resolves once the client has written at least `count` messages in all. */
  async waitForWrites(count: number): Promise<void> {
    while (this.written.length < count) {
      await new Promise<void>((resolve) => this.writeWaiters.push(resolve));
    }
  }

  /** Answers qmp_capabilities automatically, and commands by `handler` when given. */
  autoNegotiate(handler?: (message: Record<string, unknown>) => unknown): void {
    this.onWrite = (message) => {
      if (message.execute === 'qmp_capabilities') {
        queueMicrotask(() => this.send({ return: {}, id: message.id }));
        return;
      }
      if (handler) {
        const reply = handler(message);
        if (reply !== undefined) queueMicrotask(() => this.send({ ...(reply as object), id: message.id }));
      }
    };
  }
}
