/**
 * Traffic across a migration: a generator on its own switch port sends sequence-numbered
 * probes to the VM's MAC at a steady rate; the guest echoes each one back; the generator
 * counts what comes back (lost, duplicated, reordered, the longest silence). What an
 * operator would watch with a ping flood, made exact.
 */
import { decodeFrame, decodeProbe, encodeFrame, encodeProbe, EtherType } from './frame.js';
import type { Network, NetworkPort } from './switch.js';

export interface TrafficReport {
  sent: number;
  /** distinct sequence numbers that came back */
  received: number;
  lost: number;
  duplicated: number;
  /** arrivals with a lower sequence number than one already received */
  reordered: number;
  /** longest time between two arrivals, ms (the switchover shows here) */
  longestGapMs: number;
  /** sequence numbers lost in the longest run of consecutive losses */
  longestLossRun: number;
}

/** Counts one stream of sequence numbers as they arrive. Pure but for the clock passed in. */
export class SequenceCounter {
  private readonly seen = new Set<number>();
  private highest = -1;
  private lastArrival: number | undefined;
  /** every arrival's time, in the clock passed to record(), in arrival order (--report) */
  private readonly arrivalTimes: number[] = [];
  duplicated = 0;
  reordered = 0;
  longestGapMs = 0;

  record(sequence: number, atMs: number): void {
    if (this.lastArrival !== undefined) this.longestGapMs = Math.max(this.longestGapMs, atMs - this.lastArrival);
    this.lastArrival = atMs;
    this.arrivalTimes.push(atMs);
    if (this.seen.has(sequence)) {
      this.duplicated++;
      return;
    }
    this.seen.add(sequence);
    if (sequence < this.highest) this.reordered++;
    else this.highest = sequence;
  }

  get received(): number {
    return this.seen.size;
  }

  /** The time of every arrival (duplicates included), as recorded, in arrival order. */
  arrivals(): number[] {
    return [...this.arrivalTimes];
  }

  /** The counts, given how many were sent (sequence numbers 0 .. sent-1). */
  report(sent: number): TrafficReport {
    let run = 0;
    let longest = 0;
    for (let sequence = 0; sequence < sent; sequence++) {
      if (this.seen.has(sequence)) run = 0;
      else longest = Math.max(longest, ++run);
    }
    const received = [...this.seen].filter((s) => s < sent).length;
    return {
      sent,
      received,
      lost: sent - received,
      duplicated: this.duplicated,
      reordered: this.reordered,
      longestGapMs: Math.round(this.longestGapMs * 10) / 10,
      longestLossRun: longest,
    };
  }
}

export interface TrafficOptions {
  /** the VM's MAC */
  target: string;
  vlan?: number | null;
  /** probes per second; keep it modest (1,000-5,000) on a 2-core machine */
  rate: number;
  stream?: number;
}

/** The traffic source and sink on one switch port, with its own MAC. */
export class TrafficGenerator {
  private port: NetworkPort | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private counter = new SequenceCounter();
  private sentCount = 0;
  private startedAt = 0;
  private options: TrafficOptions | undefined;
  /** probes that arrived as they were sent (not echoed): the VM is not a reflector */
  ignored = 0;

  constructor(
    readonly mac = '02:00:00:ee:ee:01',
    readonly portName = 'traffic',
  ) {}

  async connect(network: Network): Promise<this> {
    this.port = await network.attach(this.portName, (frame) => this.receive(frame));
    return this;
  }

  get sent(): number {
    return this.sentCount;
  }

  /** Sends one probe now; returns its sequence number. */
  sendOne(): number {
    const options = this.options;
    if (!this.port || !options) throw new Error('traffic generator is not started');
    const sequence = this.sentCount++;
    const payload = encodeProbe({ stream: options.stream ?? 1, sequence, sentAt: performance.now() });
    this.port.send(encodeFrame({ dst: options.target, src: this.mac, vlan: options.vlan ?? null, etherType: EtherType.PROBE, payload }));
    return sequence;
  }

  /** Starts a stream (rate 0: send only with sendOne). Resets the counters. */
  start(options: TrafficOptions): void {
    this.stop();
    this.options = options;
    this.counter = new SequenceCounter();
    this.sentCount = 0;
    this.startedAt = performance.now();
    if (options.rate <= 0) return;
    const tickMs = 5;
    this.timer = setInterval(() => {
      // catch up by elapsed time, so timer jitter does not change the rate
      const due = Math.floor(((performance.now() - this.startedAt) * options.rate) / 1000);
      const burst = Math.min(due - this.sentCount, Math.ceil(options.rate / 20));
      for (let i = 0; i < burst; i++) this.sendOne();
    }, tickMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  report(): TrafficReport {
    return this.counter.report(this.sentCount);
  }

  /**
   * When each echoed probe came back since start(), as epoch ms (fractional), comparable
   * with Date.now() and QEMU's event timestamps on this machine: a per-ms histogram of
   * these shows the switchover's gap.
   */
  arrivals(): number[] {
    // The counter records performance.now(); timeOrigin turns that into epoch ms.
    return this.counter.arrivals().map((at) => performance.timeOrigin + at);
  }

  close(): void {
    this.stop();
    this.port?.close();
    this.port = undefined;
  }

  private receive(frame: Buffer): void {
    const decoded = decodeFrame(frame);
    if (!decoded || decoded.dst !== this.mac || decoded.etherType !== EtherType.PROBE) return;
    const probe = decodeProbe(decoded.payload);
    if (!probe || probe.stream !== (this.options?.stream ?? 1)) {
      this.ignored++;
      return;
    }
    this.counter.record(probe.sequence, performance.now());
  }
}
