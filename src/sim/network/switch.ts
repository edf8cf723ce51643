/**
 * A learning Ethernet switch joining the hosts' PFs and the traffic generator: it learns
 * (VLAN, source MAC) -> port on every frame it receives, forwards known unicast to that port
 * only and floods the rest. A migrated VM's MAC is reachable on the new host only after a
 * frame from it (the announce) moved the entry: until then frames go to the old host.
 */

import { decodeFrame, isMulticast } from './frame.js';

/** One end of a link to the switch: frames out, and a handler for frames in. */
export interface NetworkPort {
  readonly name: string;
  send(frame: Buffer): void;
  close(): void;
}

export type FrameHandler = (frame: Buffer) => void;

/** Something a port can be plugged into: the in-process switch, or a connection to a remote one. */
export interface Network {
  attach(name: string, receive: FrameHandler): NetworkPort | Promise<NetworkPort>;
}

export interface SwitchCounters {
  received: number;
  forwarded: number;
  flooded: number;
  /** a learned MAC seen on a different port than before */
  moves: number;
  /** frames with an unknown destination nobody else could take */
  dropped: number;
}

export interface MacEntry {
  mac: string;
  vlan: number | null;
  port: string;
  learnedAt: number;
}

function key(mac: string, vlan: number | null): string {
  return `${vlan ?? '-'}|${mac}`;
}

export class LearningSwitch implements Network {
  private readonly ports = new Map<string, FrameHandler>();
  private readonly table = new Map<string, MacEntry>();
  readonly counters: SwitchCounters = { received: 0, forwarded: 0, flooded: 0, moves: 0, dropped: 0 };
  /** called on every MAC move, for logs and tests */
  onMove: ((entry: MacEntry, from: string) => void) | undefined;

  attach(name: string, receive: FrameHandler): NetworkPort {
    if (this.ports.has(name)) throw new Error(`switch port ${name} is already attached`);
    this.ports.set(name, receive);
    return {
      name,
      send: (frame) => this.ingress(name, frame),
      close: () => this.detach(name),
    };
  }

  detach(name: string): void {
    this.ports.delete(name);
    for (const [k, entry] of this.table) if (entry.port === name) this.table.delete(k);
  }

  portNames(): string[] {
    return [...this.ports.keys()];
  }

  /** Where the switch would send a frame to `mac` on `vlan`, or undefined (flood). */
  lookup(mac: string, vlan: number | null = null): string | undefined {
    return this.table.get(key(mac.toLowerCase(), vlan))?.port;
  }

  entries(): MacEntry[] {
    return [...this.table.values()];
  }

  /** A frame arrives on port `from`. */
  ingress(from: string, frame: Buffer): void {
    const decoded = decodeFrame(frame);
    if (!decoded || !this.ports.has(from)) return;
    this.counters.received++;
    if (!isMulticast(decoded.src)) {
      const k = key(decoded.src, decoded.vlan);
      const known = this.table.get(k);
      if (known && known.port !== from) {
        this.counters.moves++;
        const entry = { mac: decoded.src, vlan: decoded.vlan, port: from, learnedAt: Date.now() };
        this.table.set(k, entry);
        this.onMove?.(entry, known.port);
      } else if (!known) {
        this.table.set(k, { mac: decoded.src, vlan: decoded.vlan, port: from, learnedAt: Date.now() });
      }
    }
    const target = isMulticast(decoded.dst) ? undefined : this.table.get(key(decoded.dst, decoded.vlan))?.port;
    if (target !== undefined) {
      if (target === from) return; // hairpin: the destination is on the sender's own port
      this.counters.forwarded++;
      this.ports.get(target)?.(frame);
      return;
    }
    let delivered = 0;
    for (const [name, receive] of [...this.ports]) {
      if (name === from) continue;
      delivered++;
      receive(frame);
    }
    if (delivered > 0) this.counters.flooded++;
    else this.counters.dropped++;
  }
}
