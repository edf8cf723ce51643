import net from 'node:net';
import { connectTarget } from '../stream/socket-io.js';
import type { MigrationTarget } from '../stream/uri.js';

/** One migration stream across the link: the source's end (accepted here) and the destination's. */
interface Crossing {
  near: net.Socket;
  far: net.Socket;
  /** Closes that arrived while the link was down, delivered once it is up. */
  held: (() => void)[];
}

/**
 * The network path between simulated hosts that migration streams take (docs/sim-network.md).
 * Each outgoing stream is relayed through here over real TCP on loopback, so that a test can
 * make the link fail as a network does:
 * - `down()`: nothing passes either way, closes included; once the socket buffers are full
 *   the sender's writes stall, as with a cable pulled out (TCP retransmits, nothing arrives);
 * - `up()`: everything held goes on, in order;
 * - `reset()`: every stream on the link is broken at both ends at once (ECONNRESET), as by a
 *   middlebox that drops the connection.
 * A stream that starts while the link is down connects once it is up again.
 */
export class MigrationLink {
  private isUp = true;
  private readonly crossings = new Set<Crossing>();
  private readonly waitingForUp = new Set<() => void>();
  private closed = false;

  get state(): 'up' | 'down' {
    return this.isUp ? 'up' : 'down';
  }

  /** Streams open across the link now. */
  get connections(): number {
    return this.crossings.size;
  }

  /** Connects to `target` through the link; what OutgoingMigration uses instead of a direct connect. */
  async connect(target: MigrationTarget): Promise<net.Socket> {
    if (this.closed) throw Object.assign(new Error('the migration link is closed'), { code: 'EHOSTUNREACH' });
    const listener = net.createServer();
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = listener.address() as net.AddressInfo;
    const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
    try {
      const near = await connectTarget({ kind: 'tcp', host: '127.0.0.1', port });
      const inbound = await accepted;
      // The far end is reached only across the link: while it is down, the connect waits.
      await this.whenUp();
      let far: net.Socket;
      try {
        far = await connectTarget(target);
      } catch (error) {
        near.destroy();
        inbound.destroy();
        throw error;
      }
      this.join(inbound, far);
      return near;
    } finally {
      listener.close();
    }
  }

  down(): void {
    this.isUp = false;
    for (const crossing of this.crossings) {
      crossing.near.pause();
      crossing.far.pause();
    }
  }

  up(): void {
    if (this.isUp) return;
    this.isUp = true;
    for (const crossing of [...this.crossings]) {
      crossing.near.resume();
      crossing.far.resume();
      for (const deliver of crossing.held.splice(0)) deliver();
    }
    for (const wake of [...this.waitingForUp]) wake();
  }

  /** Breaks every stream on the link at both ends. */
  reset(): void {
    for (const crossing of [...this.crossings]) {
      crossing.near.resetAndDestroy();
      crossing.far.resetAndDestroy();
      this.crossings.delete(crossing);
    }
  }

  /** Breaks every stream and refuses new ones. */
  close(): void {
    this.closed = true;
    this.reset();
    this.up();
  }

  private whenUp(): Promise<void> {
    if (this.isUp) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        this.waitingForUp.delete(wake);
        resolve();
      };
      this.waitingForUp.add(wake);
    });
  }

  private join(near: net.Socket, far: net.Socket): void {
    const crossing: Crossing = { near, far, held: [] };
    this.crossings.add(crossing);
    near.setNoDelay(true);
    const pass = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (!to.write(chunk)) from.pause();
      });
      to.on('drain', () => {
        if (this.isUp) from.resume();
      });
      // A close crosses the link like data: not while it is down.
      from.on('end', () => this.across(crossing, () => to.end()));
      from.on('error', () => undefined);
      from.on('close', (hadError: boolean) =>
        this.across(crossing, () => {
          this.crossings.delete(crossing);
          if (hadError) to.resetAndDestroy();
          else to.end();
        }),
      );
    };
    pass(near, far);
    pass(far, near);
    if (!this.isUp) {
      near.pause();
      far.pause();
    }
  }

  private across(crossing: Crossing, deliver: () => void): void {
    if (this.isUp) deliver();
    else crossing.held.push(deliver);
  }
}
