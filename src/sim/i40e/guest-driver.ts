/**
 * The guest's iavf driver, as much of it as the simulator needs: it brings the VF up with the
 * message sequence iavf uses, keeps RX buffers posted in guest RAM and refills them, sends
 * through the TX ring, echoes traffic probes back to their sender, and can be scripted to
 * change MACs, VLANs and promiscuous mode so the admin log looks like a real guest's.
 *
 * Its state lives in guest RAM (a control block it writes with ordinary, dirty-logged
 * stores), never in this object: after a migration the destination's driver object picks up
 * the same rings and positions from RAM, unaware that anything happened, which is exactly
 * what the device's replay and ring restore must make work.
 */
import { decodeReply } from '../../vfio/messages.js';
import { EventCode, MacType, Op, PromiscFlag, Status } from '../../vfio/opcodes.js';
import { IAVF_CAPS, sampleRssKey } from '../../vfio/sample-captures.js';
import type { GuestRam } from '../ram.js';
import { decodeFrame, decodeProbe, encodeFrame, EtherType } from '../network/frame.js';
import { Register } from './registers.js';
import { parseRxWriteBack, parseTxDescriptor, rxReadDescriptor, RX_DESC_SIZE, txDataDescriptor, TX_DESC_SIZE } from './rings.js';

/** What the guest driver sees of the device: BAR0 registers and the admin queue. */
export interface GuestVfPort {
  /** one request on the ATQ; the reply from the ARQ (null: none, e.g. RESET_VF) */
  adminSend(opcode: number, payload: Buffer): { status: number; reply: Buffer | null };
  writeRegister(offset: number, value: number): void;
  readRegister(offset: number): number;
}

export interface GuestDriverOptions {
  /** the MAC the guest uses when the host set none */
  mac?: string;
  /** queue pairs the driver uses, at most what the PF grants (iavf: min(vCPUs, granted)) */
  maxQueuePairs?: number;
  /** descriptors per ring (a multiple of 32) */
  ringLength?: number;
  bufferSize?: number;
  /** guest-physical address of the driver's memory (control block, rings, buffers) */
  baseAddress?: number;
  /** echo traffic probes back to their sender */
  reflect?: boolean;
  pollIntervalMs?: number;
}

interface QueueBlock {
  queue: number;
  rxRing: number;
  rxBuffers: number;
  rxNextToClean: number;
  txRing: number;
  txBuffers: number;
  txNextToUse: number;
  txNextToClean: number;
}

/** The driver's memory, as JSON in the first page of its area. */
interface ControlBlock {
  magic: 'iavf-sim-1';
  vsiId: number;
  numQueuePairs: number;
  rssLutSize: number;
  ringLength: number;
  bufferSize: number;
  mac: string;
  extraMacs: string[];
  vlans: number[];
  promisc: { unicast: boolean; multicast: boolean };
  vlanStripping: boolean | null;
  queues: QueueBlock[];
  needsReinit: boolean;
}

export interface GuestDriverStats {
  bringUps: number;
  rxFrames: number;
  rxProbes: number;
  txFrames: number;
  txRingFull: number;
  /** admin requests the PF refused */
  refused: number;
}

const HENA = 0x0000_0000_0000_7ff8n;

export class GuestIavfDriver {
  readonly stats: GuestDriverStats = { bringUps: 0, rxFrames: 0, rxProbes: 0, txFrames: 0, txRingFull: 0, refused: 0 };
  /** every frame the guest received, for tests that look at payloads (bounded) */
  readonly received: Buffer[] = [];
  private block: ControlBlock | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;
  private pollScheduled = false;
  private readonly base: number;
  private readonly ringLength: number;
  private readonly bufferSize: number;
  private readonly maxQueuePairs: number;

  constructor(
    private readonly port: GuestVfPort,
    private readonly ram: GuestRam,
    private readonly options: GuestDriverOptions = {},
  ) {
    this.base = options.baseAddress ?? 0x10000;
    this.ringLength = options.ringLength ?? 32;
    this.bufferSize = options.bufferSize ?? 2048;
    this.maxQueuePairs = options.maxQueuePairs ?? 2;
    if (this.ringLength % 32 !== 0) throw new Error(`ring length ${this.ringLength} is not a multiple of 32`);
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  get mac(): string | null {
    return this.load()?.mac ?? null;
  }

  get vsiId(): number | null {
    return this.load()?.vsiId ?? null;
  }

  /** The vCPUs run: continue from RAM, or bring the VF up the first time. */
  start(): void {
    if (this.timer) return;
    this.block = null; // RAM is the truth (it may just have arrived by migration)
    const block = this.load();
    if (!block || block.needsReinit) this.bringUp();
    this.timer = setInterval(() => this.poll(), this.options.pollIntervalMs ?? 5);
    this.poll();
  }

  /** The vCPUs stop. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The device raised an interrupt: NAPI schedules a poll. */
  interrupt(): void {
    if (!this.timer || this.pollScheduled) return;
    this.pollScheduled = true;
    setImmediate(() => {
      this.pollScheduled = false;
      if (this.timer) this.poll();
    });
  }

  /** A message on the ARQ that nobody waited for: an EVENT. */
  arqEvent(payload: Buffer): void {
    if (payload.length >= 4 && payload.readInt32LE(0) === EventCode.RESET_IMPENDING) {
      const block = this.load();
      if (block) {
        block.needsReinit = true;
        this.store(block);
      }
    }
  }

  // ------------------------------------------------------------------ control block

  private load(): ControlBlock | null {
    if (this.block) return this.block;
    const length = this.ram.read(this.base, 4).readUInt32LE(0);
    if (length === 0 || length > 4092) return null;
    try {
      const parsed = JSON.parse(this.ram.read(this.base + 4, length).toString('utf8')) as ControlBlock;
      this.block = parsed.magic === 'iavf-sim-1' ? parsed : null;
    } catch {
      this.block = null;
    }
    return this.block;
  }

  private store(block: ControlBlock): void {
    this.block = block;
    const json = Buffer.from(JSON.stringify(block), 'utf8');
    if (json.length > 4092) throw new Error('iavf control block outgrew its page');
    const page = Buffer.alloc(4 + json.length);
    page.writeUInt32LE(json.length, 0);
    json.copy(page, 4);
    this.ram.write(this.base, page); // a vCPU store: dirty-logged
  }

  // ------------------------------------------------------------------ admin queue

  private send(opcode: number, payload: Buffer): { status: number; reply: Buffer | null } {
    const result = this.port.adminSend(opcode, payload);
    if (result.status !== Status.SUCCESS) this.stats.refused++;
    return result;
  }

  /** iavf_init: VERSION, GET_VF_RESOURCES, filters, IRQ map, queues, enable, RSS. */
  bringUp(): void {
    const previous = this.load();
    const version = this.send(Op.VERSION, encode.version());
    if (version.status !== Status.SUCCESS) return;
    const resources = this.send(Op.GET_VF_RESOURCES, encode.u32(IAVF_CAPS));
    if (resources.status !== Status.SUCCESS || !resources.reply) return;
    const reply = decodeReply(Op.GET_VF_RESOURCES, resources.reply);
    if (!('resource' in reply)) return;
    const vsi = reply.resource.vsis[0];
    if (!vsi) return;
    const vsiId = vsi.vsiId;
    const hostMac = vsi.defaultMacAddr !== '00:00:00:00:00:00' ? vsi.defaultMacAddr : null;
    const numQueuePairs = Math.min(reply.resource.numQueuePairs, this.maxQueuePairs);
    const block: ControlBlock = {
      magic: 'iavf-sim-1',
      vsiId,
      numQueuePairs,
      rssLutSize: reply.resource.rssLutSize,
      ringLength: this.ringLength,
      bufferSize: this.bufferSize,
      mac: hostMac ?? previous?.mac ?? this.options.mac ?? '02:00:00:00:00:01',
      extraMacs: previous?.extraMacs ?? [],
      vlans: previous?.vlans ?? [],
      promisc: previous?.promisc ?? { unicast: false, multicast: false },
      vlanStripping: previous?.vlanStripping ?? null,
      queues: this.layoutQueues(numQueuePairs),
      needsReinit: false,
    };
    this.postRxBuffers(block);
    this.store(block);
    this.stats.bringUps++;

    this.send(Op.ADD_ETH_ADDR, encode.macs(vsiId, [[block.mac, MacType.PRIMARY], ...block.extraMacs.map((m) => [m, MacType.EXTRA] as [string, number])]));
    if (block.vlans.length > 0) this.send(Op.ADD_VLAN, encode.vlans(vsiId, block.vlans));
    const vectors = Math.min(numQueuePairs, 4);
    this.send(Op.CONFIG_IRQ_MAP, encode.irqMap(vsiId, numQueuePairs, vectors));
    this.send(Op.CONFIG_VSI_QUEUES, encode.vsiQueues(vsiId, block));
    const all = 2 ** numQueuePairs - 1;
    this.send(Op.ENABLE_QUEUES, encode.queueSelect(vsiId, all, all));
    this.send(Op.GET_RSS_HENA_CAPS, Buffer.alloc(0));
    this.send(Op.SET_RSS_HENA, encode.u64(HENA));
    this.send(Op.CONFIG_RSS_KEY, encode.keyed(vsiId, sampleRssKey()));
    this.send(Op.CONFIG_RSS_LUT, encode.keyed(vsiId, Buffer.from(Array.from({ length: block.rssLutSize }, (_, i) => i % numQueuePairs))));
    if (block.promisc.unicast || block.promisc.multicast) this.send(Op.CONFIG_PROMISCUOUS_MODE, encode.promisc(vsiId, block.promisc));
    if (block.vlanStripping !== null) this.send(block.vlanStripping ? Op.ENABLE_VLAN_STRIPPING : Op.DISABLE_VLAN_STRIPPING, Buffer.alloc(0));
    // rings are armed: tell the NIC (QRX_TAIL = one short of a full ring)
    for (const q of block.queues) this.port.writeRegister(Register.QRX_TAIL(q.queue), this.ringLength - 1);
  }

  private layoutQueues(count: number): QueueBlock[] {
    const rxRingBytes = align(this.ringLength * RX_DESC_SIZE, 4096);
    const txRingBytes = align(this.ringLength * TX_DESC_SIZE, 4096);
    const buffersBytes = this.ringLength * this.bufferSize;
    const perQueue = rxRingBytes + txRingBytes + 2 * buffersBytes;
    let at = this.base + 4096;
    return Array.from({ length: count }, (_, queue) => {
      const q = { queue, rxRing: at, rxBuffers: at + rxRingBytes, rxNextToClean: 0, txRing: at + rxRingBytes + buffersBytes, txBuffers: at + rxRingBytes + buffersBytes + txRingBytes, txNextToUse: 0, txNextToClean: 0 };
      at += perQueue;
      return q;
    });
  }

  private postRxBuffers(block: ControlBlock): void {
    for (const q of block.queues) {
      const ring = Buffer.alloc(this.ringLength * RX_DESC_SIZE);
      for (let i = 0; i < this.ringLength; i++) rxReadDescriptor(q.rxBuffers + i * this.bufferSize).copy(ring, i * RX_DESC_SIZE);
      this.ram.write(q.rxRing, ring);
      this.ram.write(q.txRing, Buffer.alloc(this.ringLength * TX_DESC_SIZE));
    }
  }

  // ------------------------------------------------------------------ scripted changes

  private vsi(): number {
    const block = this.load();
    if (!block) throw new Error('the guest driver has not brought the VF up');
    return block.vsiId;
  }

  private update(change: (block: ControlBlock) => void): void {
    const block = this.load();
    if (!block) return;
    change(block);
    this.store(block);
  }

  /** `ip link set eth0 address MAC`: iavf deletes the old primary and adds the new. */
  setMac(mac: string): number {
    const vsiId = this.vsi();
    const old = this.load()?.mac;
    if (old) this.send(Op.DEL_ETH_ADDR, encode.macs(vsiId, [[old, MacType.PRIMARY]]));
    const { status } = this.send(Op.ADD_ETH_ADDR, encode.macs(vsiId, [[mac.toLowerCase(), MacType.PRIMARY]]));
    if (status === Status.SUCCESS) this.update((b) => (b.mac = mac.toLowerCase()));
    else if (old) this.send(Op.ADD_ETH_ADDR, encode.macs(vsiId, [[old, MacType.PRIMARY]]));
    return status;
  }

  addMacs(macs: string[]): number {
    const { status } = this.send(Op.ADD_ETH_ADDR, encode.macs(this.vsi(), macs.map((m) => [m.toLowerCase(), MacType.EXTRA])));
    if (status === Status.SUCCESS) this.update((b) => (b.extraMacs = [...new Set([...b.extraMacs, ...macs.map((m) => m.toLowerCase())])]));
    return status;
  }

  delMacs(macs: string[]): number {
    const { status } = this.send(Op.DEL_ETH_ADDR, encode.macs(this.vsi(), macs.map((m) => [m.toLowerCase(), MacType.EXTRA])));
    if (status === Status.SUCCESS) this.update((b) => (b.extraMacs = b.extraMacs.filter((m) => !macs.includes(m))));
    return status;
  }

  addVlans(ids: number[]): number {
    const { status } = this.send(Op.ADD_VLAN, encode.vlans(this.vsi(), ids));
    if (status === Status.SUCCESS) this.update((b) => (b.vlans = [...new Set([...b.vlans, ...ids])].sort((x, y) => x - y)));
    return status;
  }

  delVlans(ids: number[]): number {
    const { status } = this.send(Op.DEL_VLAN, encode.vlans(this.vsi(), ids));
    if (status === Status.SUCCESS) this.update((b) => (b.vlans = b.vlans.filter((v) => !ids.includes(v))));
    return status;
  }

  setPromisc(unicast: boolean, multicast: boolean): number {
    const { status } = this.send(Op.CONFIG_PROMISCUOUS_MODE, encode.promisc(this.vsi(), { unicast, multicast }));
    if (status === Status.SUCCESS) this.update((b) => (b.promisc = { unicast, multicast }));
    return status;
  }

  setVlanStripping(on: boolean): number {
    const { status } = this.send(on ? Op.ENABLE_VLAN_STRIPPING : Op.DISABLE_VLAN_STRIPPING, Buffer.alloc(0));
    if (status === Status.SUCCESS) this.update((b) => (b.vlanStripping = on));
    return status;
  }

  getStats(): number {
    return this.send(Op.GET_STATS, encode.queueSelect(this.vsi(), 0, 0)).status;
  }

  /** `ethtool --reset`: RESET_VF, then iavf's init again with the filters it had. */
  resetVf(): void {
    this.port.adminSend(Op.RESET_VF, Buffer.alloc(0));
    this.bringUp();
  }

  // ------------------------------------------------------------------ data path

  /** Sends a frame on queue 0; false when the ring is full. */
  transmit(frame: Buffer): boolean {
    const block = this.load();
    const q = block?.queues[0];
    if (!block || !q) return false;
    this.cleanTx(q);
    const next = (q.txNextToUse + 1) % this.ringLength;
    if (next === q.txNextToClean) {
      this.stats.txRingFull++;
      return false;
    }
    const buffer = q.txBuffers + q.txNextToUse * this.bufferSize;
    this.ram.write(buffer, frame);
    this.ram.write(q.txRing + q.txNextToUse * TX_DESC_SIZE, txDataDescriptor(buffer, frame.length));
    q.txNextToUse = next;
    this.store(block);
    this.stats.txFrames++;
    this.port.writeRegister(Register.QTX_TAIL(q.queue), next);
    return true;
  }

  private cleanTx(q: QueueBlock): void {
    while (q.txNextToClean !== q.txNextToUse) {
      const descriptor = parseTxDescriptor(this.ram.read(q.txRing + q.txNextToClean * TX_DESC_SIZE, TX_DESC_SIZE));
      if (!descriptor.done) break;
      q.txNextToClean = (q.txNextToClean + 1) % this.ringLength;
    }
  }

  /** NAPI poll: clean completed RX descriptors, handle the frames, re-arm, bump the tail. */
  poll(budget = 256): number {
    let block = this.load();
    if (block?.needsReinit) {
      this.bringUp();
      block = this.load();
    }
    if (!block) return 0;
    let handled = 0;
    const echoes: Buffer[] = [];
    for (const q of block.queues) {
      let cleaned = 0;
      while (cleaned < budget) {
        const descriptorAddress = q.rxRing + q.rxNextToClean * RX_DESC_SIZE;
        const completion = parseRxWriteBack(this.ram.read(descriptorAddress, RX_DESC_SIZE));
        if (!completion.done) break;
        const buffer = q.rxBuffers + q.rxNextToClean * this.bufferSize;
        const frame = this.ram.read(buffer, Math.min(completion.length, this.bufferSize));
        const echo = this.handle(block, frame);
        if (echo) echoes.push(echo);
        this.ram.write(descriptorAddress, rxReadDescriptor(buffer));
        q.rxNextToClean = (q.rxNextToClean + 1) % this.ringLength;
        cleaned++;
      }
      if (cleaned > 0) this.port.writeRegister(Register.QRX_TAIL(q.queue), (q.rxNextToClean - 1 + this.ringLength) % this.ringLength);
      handled += cleaned;
    }
    if (handled > 0) this.store(block);
    for (const echo of echoes) this.transmit(echo);
    const q0 = block.queues[0];
    if (q0 && q0.txNextToClean !== q0.txNextToUse) {
      this.cleanTx(q0);
      this.store(block);
    }
    return handled;
  }

  private handle(block: ControlBlock, frame: Buffer): Buffer | null {
    this.stats.rxFrames++;
    if (this.received.length < 1000) this.received.push(frame);
    const decoded = decodeFrame(frame);
    if (!decoded || decoded.etherType !== EtherType.PROBE || !decodeProbe(decoded.payload)) return null;
    this.stats.rxProbes++;
    if (this.options.reflect === false || decoded.dst !== block.mac) return null;
    return encodeFrame({ dst: decoded.src, src: block.mac, vlan: decoded.vlan, etherType: decoded.etherType, payload: decoded.payload });
  }
}

function align(value: number, to: number): number {
  return Math.ceil(value / to) * to;
}

/**
 * The few request layouts the driver writes itself (the legacy trailing element included).
 *
 * Written by hand on purpose, independent of the codec's layout tables (src/vfio/messages.ts
 * and layout.ts): the guest is a second opinion on the byte layouts. The simulated PF
 * decodes these bytes with the codec, so a layout mistake in the tables shows up in the
 * i40e simulator tests as a refused bring-up instead of being shared by writer and reader.
 * Do not replace it with encodeRequest().
 */
const encode = {
  version(): Buffer {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(1, 0);
    b.writeUInt32LE(1, 4);
    return b;
  },
  u32(value: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value >>> 0, 0);
    return b;
  },
  u64(value: bigint): Buffer {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(value, 0);
    return b;
  },
  macs(vsiId: number, macs: [string, number][]): Buffer {
    const b = Buffer.alloc(4 + 8 * (macs.length + 1));
    b.writeUInt16LE(vsiId, 0);
    b.writeUInt16LE(macs.length, 2);
    macs.forEach(([mac, type], i) => {
      Buffer.from(mac.split(':').map((h) => parseInt(h, 16))).copy(b, 4 + 8 * i);
      b.writeUInt8(type, 4 + 8 * i + 6);
    });
    return b;
  },
  vlans(vsiId: number, ids: number[]): Buffer {
    const b = Buffer.alloc(4 + 2 * (ids.length + 1));
    b.writeUInt16LE(vsiId, 0);
    b.writeUInt16LE(ids.length, 2);
    ids.forEach((id, i) => b.writeUInt16LE(id, 4 + 2 * i));
    return b;
  },
  irqMap(vsiId: number, queues: number, vectors: number): Buffer {
    // one vector per queue group from 1, vector 0 (admin queue) last, as iavf does
    const maps: [number, number][] = [];
    for (let v = 0; v < vectors; v++) {
      let bitmap = 0;
      for (let q = v; q < queues; q += vectors) bitmap |= 1 << q;
      maps.push([v + 1, bitmap]);
    }
    maps.push([0, 0]);
    const b = Buffer.alloc(2 + 12 * (maps.length + 1));
    b.writeUInt16LE(maps.length, 0);
    maps.forEach(([vector, bitmap], i) => {
      const o = 2 + 12 * i;
      b.writeUInt16LE(vsiId, o);
      b.writeUInt16LE(vector, o + 2);
      b.writeUInt16LE(bitmap, o + 4);
      b.writeUInt16LE(bitmap, o + 6);
      b.writeUInt16LE(0, o + 8);
      b.writeUInt16LE(vector === 0 ? 0 : 1, o + 10);
    });
    return b;
  },
  vsiQueues(vsiId: number, block: ControlBlock): Buffer {
    const b = Buffer.alloc(8 + 64 * (block.queues.length + 1));
    b.writeUInt16LE(vsiId, 0);
    b.writeUInt16LE(block.queues.length, 2);
    block.queues.forEach((q, i) => {
      const o = 8 + 64 * i;
      b.writeUInt16LE(vsiId, o);
      b.writeUInt16LE(q.queue, o + 2);
      b.writeUInt16LE(block.ringLength, o + 4);
      b.writeBigUInt64LE(BigInt(q.txRing), o + 8);
      const r = o + 24;
      b.writeUInt16LE(vsiId, r);
      b.writeUInt16LE(q.queue, r + 2);
      b.writeUInt32LE(block.ringLength, r + 4);
      b.writeUInt32LE(block.bufferSize, r + 12);
      b.writeUInt32LE(1522, r + 16);
      b.writeUInt8(1, r + 21); // rxdid 1: the 32-byte descriptor
      b.writeBigUInt64LE(BigInt(q.rxRing), r + 24);
    });
    return b;
  },
  queueSelect(vsiId: number, rx: number, tx: number): Buffer {
    const b = Buffer.alloc(12);
    b.writeUInt16LE(vsiId, 0);
    b.writeUInt32LE(rx >>> 0, 4);
    b.writeUInt32LE(tx >>> 0, 8);
    return b;
  },
  keyed(vsiId: number, bytes: Buffer): Buffer {
    const b = Buffer.alloc(4 + bytes.length + 1);
    b.writeUInt16LE(vsiId, 0);
    b.writeUInt16LE(bytes.length, 2);
    bytes.copy(b, 4);
    return b;
  },
  promisc(vsiId: number, modes: { unicast: boolean; multicast: boolean }): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt16LE(vsiId, 0);
    b.writeUInt16LE((modes.unicast ? PromiscFlag.UNICAST : 0) | (modes.multicast ? PromiscFlag.MULTICAST : 0), 2);
    return b;
  },
};
