import net from 'node:net';

/**
 * A QMP client that writes exactly what it is given, as QEMU's own Python library
 * (python/qemu/qmp) and qmp-shell do: each message without a trailing newline. It reads
 * QEMU's output as text lines ("\r\n"-terminated), so replies compare byte for byte.
 */
export class RawQmpConnection {
  private text = '';
  private readonly lines: string[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.text += chunk.toString('utf8');
      let end: number;
      while ((end = this.text.indexOf('\r\n')) >= 0) {
        this.lines.push(this.text.slice(0, end));
        this.text = this.text.slice(end + 2);
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  /** Connects, retrying while the socket is not up yet (QEMU still starting), up to 30 s. */
  static async open(path: string): Promise<RawQmpConnection> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const socket = await new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect(path, () => resolve(socket));
          socket.once('error', reject);
        });
        return new RawQmpConnection(socket);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() > deadline) {
          throw new Error(`no QMP socket at ${path} within 30 s: ${(error as Error).message}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  /** Writes the bytes as given: no newline is added. */
  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Writes `data` in `parts` pieces, `pauseMs` apart (a command typed slowly or split by the network). */
  async writeSlowly(data: string, parts: number, pauseMs: number): Promise<void> {
    const size = Math.ceil(data.length / parts);
    for (let i = 0; i < data.length; i += size) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      this.write(data.slice(i, i + size));
    }
  }

  /** The next line QEMU wrote, without its "\r\n". */
  async next(what: string, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.ended) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms (partial: ${JSON.stringify(this.text.slice(0, 200))})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.lines.shift() as string;
  }

  /** Lines up to and including the first that contains `marker`. */
  async until(marker: string, what: string, timeoutMs = 30_000): Promise<string[]> {
    const seen: string[] = [];
    for (;;) {
      const line = await this.next(what, timeoutMs);
      seen.push(line);
      if (line.includes(marker)) return seen;
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}
