/**
 * One i40e virtual function as the hardware and the PF driver hold it: the PF's view of its
 * configuration (the VfState of src/vfio, moved only by `applyVfRequest`), the admin log the
 * patched device keeps, and the data path: RX DMA into buffers the guest posted in guest RAM,
 * TX from rings in guest RAM.
 *
 * RX DMA writes packet data and write-back descriptors with `markDirty: false`: KVM's dirty
 * log does not see device writes. Only with the device's dirty tracking on are the touched
 * pages reported, and `quiesce` reports every RX page written since tracking began.
 */
import { Direction } from '../../vfio/capture.js';
import type { DestinationFacts } from '../../vfio/facts.js';
import { Size } from '../../vfio/messages.js';
import { Op, Status } from '../../vfio/opcodes.js';
import { applyVfRequest, resetImpendingEvent, type PfOutcome } from '../../vfio/pf-model.js';
import { afterVfReset, freshVfState, type VfState } from '../../vfio/state.js';
import { PAGE_SIZE, type GuestRam } from '../ram.js';
import { BROADCAST_MAC, decodeFrame, encodeFrame, isMulticast, rarpAnnounce, type EthernetFrame } from '../network/frame.js';
import { AdminLog } from './admin-log.js';
import { parseTxDescriptor, rxPacketAddress, rxWriteBack, RX_DESC_SIZE, txDoneDescriptor, TX_DESC_SIZE, type RingPosition } from './rings.js';

/** What the host administrator set for the VF (`ip link set PF vf N ...`). */
export interface VfAdminSettings {
  mac: string | null;
  /** port VLAN: the PF tags and untags; the VF may not add VLAN filters */
  vlan: number | null;
  trust: boolean;
  spoofchk: boolean;
}

export type VfResetInitiator = 'guest' | 'pf' | 'request-queues';

/** Whoever drives the VF (the patched QEMU device): the ARQ, interrupts, resets. */
export interface VfDriverPort {
  /** a PF -> VF message on the ARQ: a reply or an EVENT */
  arq(opcode: number, status: number, payload: Buffer): void;
  /** the NIC raised an interrupt for `queue` (RX written back) */
  interrupt(queue: number): void;
  reset(initiator: VfResetInitiator): void;
}

/** The PF side a VF needs (implemented by SimPf). */
export interface VfPfSide {
  readonly host: string;
  readonly name: string;
  factsFor(vf: SimVf): DestinationFacts;
  transmit(vf: SimVf, frame: Buffer): void;
}

export interface VfCounters {
  rxPackets: number;
  rxBytes: number;
  /** the ring had no posted buffer (head caught up with tail) */
  rxNoBuffer: number;
  /** queue disabled, not configured, quiesced or no guest RAM */
  rxDropped: number;
  /** a DMA address outside guest RAM (an IOMMU fault on real hardware) */
  rxDmaErrors: number;
  txPackets: number;
  txSpoofDropped: number;
}

export interface QuiesceResult {
  positions: RingPosition[];
  /** RX pages reported dirty */
  pagesMarked: number;
}

export class SimVf {
  state: VfState = freshVfState();
  readonly log: AdminLog;
  ram: GuestRam | null = null;
  /** who holds the VF (the VM and device id), null when free */
  owner: string | null = null;
  /** Taken by a device that is built but not yet attached (several `auto` VFs in one VM). */
  reservedBy: string | null = null;
  dirtyTracking = false;
  quiesced = false;
  /** the guest sent VERSION since the last reset (the PF keeps the version itself across resets) */
  negotiatedSinceReset = false;
  readonly counters: VfCounters = { rxPackets: 0, rxBytes: 0, rxNoBuffer: 0, rxDropped: 0, rxDmaErrors: 0, txPackets: 0, txSpoofDropped: 0 };
  private driver: VfDriverPort | null = null;
  private readonly rings = new Map<number, RingPosition>();
  /** RX pages written by DMA since tracking began */
  private readonly dmaPages = new Set<number>();

  constructor(
    readonly pf: VfPfSide,
    readonly index: number,
    readonly vsiId: number,
    public settings: VfAdminSettings,
  ) {
    this.log = new AdminLog(index);
  }

  facts(): DestinationFacts {
    return this.pf.factsFor(this);
  }

  /** A VM takes the VF (vfio bind): its RAM is where the VF's DMA goes. */
  bind(owner: string, ram: GuestRam, driver: VfDriverPort): void {
    this.owner = owner;
    this.reservedBy = null;
    this.ram = ram;
    this.driver = driver;
  }

  /** The VM lets go (QEMU exits): vfio resets the function, which wipes it at the PF. */
  unbind(): void {
    this.driver = null;
    this.ram = null;
    this.owner = null;
    this.wipe();
  }

  // ------------------------------------------------------------------ admin queue

  /** A VF -> PF message. The PF answers (and resets the VF) as the i40e PF would. */
  request(opcode: number, payload: Uint8Array): PfOutcome {
    this.log.request(opcode, payload);
    const outcome = applyVfRequest(this.state, opcode, payload, this.facts());
    this.state = outcome.state;
    if (outcome.status === Status.SUCCESS && opcode === Op.VERSION) this.negotiatedSinceReset = true;
    if (outcome.status === Status.SUCCESS && opcode === Op.CONFIG_VSI_QUEUES) {
      // the PF programs a fresh queue context: the hardware starts at descriptor 0
      const count = Buffer.from(payload).readUInt16LE(2);
      for (let i = 0; i < count; i++) {
        const queue = Buffer.from(payload).readUInt16LE(Size.VSI_QUEUE_CONFIG_HEADER + i * Size.QUEUE_PAIR_INFO + 2);
        this.rings.set(queue, { queue, rxHead: 0, rxTail: 0, txHead: 0, txTail: 0 });
      }
    }
    if (outcome.reply) {
      this.log.reply(opcode, outcome.status, outcome.reply);
      this.driver?.arq(opcode, outcome.status, outcome.reply);
    }
    if (outcome.reset) {
      if (opcode === Op.RESET_VF) {
        this.afterReset('guest');
      } else {
        this.sendEvent(resetImpendingEvent());
        this.afterReset('request-queues');
      }
    }
    return outcome;
  }

  /** The PF resets the VF on its own (host config change, FLR, `i40evf-reset`). */
  pfReset(): void {
    this.sendEvent(resetImpendingEvent());
    this.state = afterVfReset(this.state);
    this.afterReset('pf');
  }

  sendEvent(payload: Buffer): void {
    this.log.reply(Op.EVENT, Status.SUCCESS, payload);
    this.driver?.arq(Op.EVENT, Status.SUCCESS, payload);
  }

  private afterReset(initiator: VfResetInitiator): void {
    this.negotiatedSinceReset = false;
    this.log.reset();
    this.rings.clear();
    this.driver?.reset(initiator);
  }

  /** Wipes the VF without telling anyone (function-level reset on release). */
  private wipe(): void {
    this.state = freshVfState();
    this.negotiatedSinceReset = false;
    this.log.reset();
    this.rings.clear();
    this.dirtyTracking = false;
    this.quiesced = false;
    this.dmaPages.clear();
  }

  // ------------------------------------------------------------------ filters

  /** The frame as this VF would receive it (port VLAN removed), or null if its filters refuse it. */
  accepts(frame: EthernetFrame): EthernetFrame | null {
    const s = this.state;
    let vlan = frame.vlan;
    if (this.settings.vlan !== null) {
      if (vlan !== this.settings.vlan) return null;
      vlan = null;
    } else if (vlan !== null && vlan !== 0 && !s.vlans.has(vlan)) {
      return null;
    }
    const dst = frame.dst;
    const macOk = dst === BROADCAST_MAC || s.macs.has(dst) || (isMulticast(dst) ? s.promisc.multicast : s.promisc.unicast);
    if (!macOk) return null;
    if (vlan !== null && s.vlanStripping === true) vlan = null;
    return vlan === frame.vlan ? frame : { ...frame, vlan };
  }

  /** MACs the VF may send from (spoof check). */
  ownsSource(mac: string): boolean {
    return this.state.macs.has(mac) || mac === this.settings.mac;
  }

  // ------------------------------------------------------------------ RX

  private rxQueueFor(frame: EthernetFrame): number | null {
    const enabled = this.state.enabledQueues.rx;
    const usable = [...this.rings.keys()].filter((q) => (enabled & (1 << q)) !== 0).sort((a, b) => a - b);
    if (usable.length === 0) return null;
    const lut = this.state.rss.lut;
    if (lut && lut.length > 0) {
      let hash = 2166136261;
      for (const c of frame.src + frame.dst) hash = Math.imul(hash ^ c.charCodeAt(0), 16777619) >>> 0;
      const queue = lut[hash % lut.length] ?? 0;
      if (usable.includes(queue)) return queue;
    }
    return usable[0] ?? null;
  }

  /** A frame the PF steered to this VF: DMA it into the next posted buffer. */
  receive(frame: EthernetFrame): boolean {
    const ram = this.ram;
    const queue = this.rxQueueFor(frame);
    if (!ram || this.quiesced || queue === null) {
      this.counters.rxDropped++;
      return false;
    }
    const ring = this.rings.get(queue);
    const pair = this.state.queuePairs.get(queue);
    if (!ring || !pair) {
      this.counters.rxDropped++;
      return false;
    }
    if (ring.rxHead === ring.rxTail) {
      this.counters.rxNoBuffer++;
      return false;
    }
    const bytes = encodeFrame(frame);
    if (bytes.length > pair.rx.databufferSize) {
      this.counters.rxDropped++;
      return false;
    }
    const descriptorAddress = Number(pair.rx.dmaRingAddr) + ring.rxHead * RX_DESC_SIZE;
    try {
      const packetAddress = rxPacketAddress(ram.read(descriptorAddress, RX_DESC_SIZE));
      this.dmaWrite(ram, packetAddress, bytes);
      this.dmaWrite(ram, descriptorAddress, rxWriteBack(bytes.length));
    } catch {
      this.counters.rxDmaErrors++;
      return false;
    }
    ring.rxHead = (ring.rxHead + 1) % pair.rx.ringLen;
    this.counters.rxPackets++;
    this.counters.rxBytes += bytes.length;
    this.driver?.interrupt(queue);
    return true;
  }

  /** Device DMA: invisible to the dirty log unless the device's tracking reports it. */
  private dmaWrite(ram: GuestRam, address: number, bytes: Buffer): void {
    ram.write(address, bytes, { markDirty: this.dirtyTracking });
    if (!this.dirtyTracking) return;
    const last = Math.floor((address + bytes.length - 1) / PAGE_SIZE);
    for (let page = Math.floor(address / PAGE_SIZE); page <= last; page++) this.dmaPages.add(page);
  }

  /** The driver wrote QRX_TAIL(queue). */
  writeRxTail(queue: number, tail: number): void {
    const ring = this.rings.get(queue);
    const pair = this.state.queuePairs.get(queue);
    if (ring && pair) ring.rxTail = tail % pair.rx.ringLen;
  }

  // ------------------------------------------------------------------ TX

  /** The driver wrote QTX_TAIL(queue): the NIC sends what is between head and tail. */
  writeTxTail(queue: number, tail: number): void {
    const ring = this.rings.get(queue);
    const pair = this.state.queuePairs.get(queue);
    if (!ring || !pair) return;
    ring.txTail = tail % pair.tx.ringLen;
    this.processTx(queue);
  }

  private processTx(queue: number): void {
    const ram = this.ram;
    const ring = this.rings.get(queue);
    const pair = this.state.queuePairs.get(queue);
    if (!ram || !ring || !pair || this.quiesced || (this.state.enabledQueues.tx & (1 << queue)) === 0) return;
    while (ring.txHead !== ring.txTail) {
      const descriptorAddress = Number(pair.tx.dmaRingAddr) + ring.txHead * TX_DESC_SIZE;
      let frame: Buffer;
      try {
        const descriptor = parseTxDescriptor(ram.read(descriptorAddress, TX_DESC_SIZE));
        frame = ram.read(descriptor.bufferAddress, descriptor.length);
        ram.write(descriptorAddress, txDoneDescriptor(), { markDirty: this.dirtyTracking });
      } catch {
        this.counters.rxDmaErrors++;
        return;
      }
      ring.txHead = (ring.txHead + 1) % pair.tx.ringLen;
      this.transmit(frame);
    }
  }

  /** A frame leaves the VF: spoof check, then the PF puts it on the wire. */
  transmit(frame: Buffer): void {
    const decoded = decodeFrame(frame);
    if (!decoded) return;
    if (this.settings.spoofchk && !this.ownsSource(decoded.src)) {
      this.counters.txSpoofDropped++;
      return;
    }
    this.counters.txPackets++;
    this.pf.transmit(this, frame);
  }

  /** RARP per unicast MAC filter and VLAN (QEMU's announce-self, for a VF). Returns the frames sent. */
  announce(): number {
    const macs = [...this.state.macs.keys()].filter((mac) => !isMulticast(mac));
    const vlans: (number | null)[] = this.settings.vlan !== null ? [null] : [null, ...[...this.state.vlans].sort((a, b) => a - b)];
    let sent = 0;
    for (const mac of macs) {
      for (const vlan of vlans) {
        this.counters.txPackets++;
        this.pf.transmit(this, rarpAnnounce(mac, vlan));
        sent++;
      }
    }
    return sent;
  }

  // ------------------------------------------------------------------ migration

  setDirtyTracking(on: boolean): void {
    this.dirtyTracking = on;
    if (!on) this.dmaPages.clear();
  }

  /**
   * Queues off at the NIC: no more RX DMA or TX. DMA here is synchronous, so nothing is in
   * flight; every RX page written since tracking began is reported dirty.
   */
  quiesce(): QuiesceResult {
    this.quiesced = true;
    let pagesMarked = 0;
    if (this.ram) {
      for (const page of this.dmaPages) {
        this.ram.markPageDirty(page);
        pagesMarked++;
      }
    }
    return { positions: this.positions(), pagesMarked };
  }

  unquiesce(): RingPosition[] {
    this.quiesced = false;
    for (const queue of this.rings.keys()) this.processTx(queue);
    return this.positions();
  }

  positions(): RingPosition[] {
    return [...this.rings.values()].sort((a, b) => a.queue - b.queue).map((p) => ({ ...p }));
  }

  /** Sets the hardware's ring positions (the destination continues where the source stopped). */
  restorePositions(positions: readonly RingPosition[]): void {
    for (const p of positions) {
      const pair = this.state.queuePairs.get(p.queue);
      if (!pair) throw new Error(`queue ${p.queue} is not configured on the VF`);
      for (const [name, value, length] of [
        ['rx-head', p.rxHead, pair.rx.ringLen],
        ['rx-tail', p.rxTail, pair.rx.ringLen],
        ['tx-head', p.txHead, pair.tx.ringLen],
        ['tx-tail', p.txTail, pair.tx.ringLen],
      ] as const) {
        if (!Number.isInteger(value) || value < 0 || value >= length) throw new Error(`queue ${p.queue}: ${name} ${value} is outside its ring of ${length}`);
      }
    }
    for (const p of positions) this.rings.set(p.queue, { ...p });
  }

  /** Records since the last reset, with sequence >= since, as a capture file. */
  capture(since = 0): { bytes: Buffer; first: number | null; next: number; count: number } {
    const records = this.log.since(since);
    return { bytes: AdminLog.toCapture(records), first: records[0]?.sequence ?? null, next: this.log.next, count: records.length };
  }

  /** Direction of a log record as the QMP reply names it. */
  static directionName(direction: Direction): 'vf-to-pf' | 'pf-to-vf' {
    return direction === Direction.VF_TO_PF ? 'vf-to-pf' : 'pf-to-vf';
  }
}
