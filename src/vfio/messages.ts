/**
 * Byte layouts of every virtchnl message in shared/REFERENCE-virtchnl.md: one encoder and
 * one decoder per opcode, requests (VF -> PF) and replies (PF -> VF, EVENT included).
 *
 * List messages use the legacy wire format: one unused trailing element after the n real
 * ones (the old `[1]` arrays). Encoders write it as zeros; decoders check the length that
 * implies and ignore its contents, as the PF does. Pad bytes likewise. So decode(encode(m))
 * equals m, and encode(decode(b)) equals b for every b with zero pads and trailer (which is
 * what the iavf driver sends: its buffers are zero-allocated).
 *
 * Decoders check the exact length and element counts (the PF's virtchnl_vc_validate_vf_msg,
 * answered with ERR_OPCODE_MISMATCH); everything else the PF checks is in validate.ts.
 */
import { VirtchnlError } from './errors.js';
import { Op, Status } from './opcodes.js';
import { FieldReader, writeMac } from './wire.js';

export interface ApiVersion {
  major: number;
  minor: number;
}

export interface TxQueueInfo {
  vsiId: number;
  queueId: number;
  ringLen: number;
  headwbEnabled: number;
  dmaRingAddr: bigint;
  dmaHeadwbAddr: bigint;
}

export interface RxQueueInfo {
  vsiId: number;
  queueId: number;
  ringLen: number;
  hdrSize: number;
  splithdrEnabled: number;
  databufferSize: number;
  maxPktSize: number;
  crcDisable: number;
  rxdid: number;
  flags: number;
  dmaRingAddr: bigint;
  rxSplitPos: number;
}

export interface QueuePairInfo {
  txq: TxQueueInfo;
  rxq: RxQueueInfo;
}

export interface VectorMap {
  vsiId: number;
  vectorId: number;
  rxqMap: number;
  txqMap: number;
  rxitrIdx: number;
  txitrIdx: number;
}

export interface EtherAddr {
  /** aa:bb:cc:dd:ee:ff, lower case */
  addr: string;
  /** 0 legacy, 1 primary, 2 extra */
  type: number;
}

export interface VsiResource {
  vsiId: number;
  numQueuePairs: number;
  vsiType: number;
  qsetHandle: number;
  defaultMacAddr: string;
}

export interface VfResource {
  numQueuePairs: number;
  maxVectors: number;
  maxMtu: number;
  vfCapFlags: number;
  rssKeySize: number;
  rssLutSize: number;
  vsis: VsiResource[];
}

export interface PfEvent {
  event: number;
  linkSpeed: number;
  linkStatus: number;
  severity: number;
}

export interface EthStats {
  rxBytes: bigint;
  rxUnicast: bigint;
  rxMulticast: bigint;
  rxBroadcast: bigint;
  rxDiscards: bigint;
  rxUnknownProtocol: bigint;
  txBytes: bigint;
  txUnicast: bigint;
  txMulticast: bigint;
  txBroadcast: bigint;
  txDiscards: bigint;
  txErrors: bigint;
}

export interface QueueSelect {
  vsiId: number;
  rxQueues: number;
  txQueues: number;
}

/** A VF -> PF message, decoded. */
export type VfRequest =
  | { opcode: typeof Op.VERSION; version: ApiVersion }
  | { opcode: typeof Op.RESET_VF | typeof Op.GET_RSS_HENA_CAPS | typeof Op.ENABLE_VLAN_STRIPPING | typeof Op.DISABLE_VLAN_STRIPPING }
  | { opcode: typeof Op.GET_VF_RESOURCES; caps: number | null }
  | { opcode: typeof Op.CONFIG_TX_QUEUE; txq: TxQueueInfo }
  | { opcode: typeof Op.CONFIG_RX_QUEUE; rxq: RxQueueInfo }
  | { opcode: typeof Op.CONFIG_VSI_QUEUES; vsiId: number; queuePairs: QueuePairInfo[] }
  | { opcode: typeof Op.CONFIG_IRQ_MAP; vectors: VectorMap[] }
  | ({ opcode: typeof Op.ENABLE_QUEUES | typeof Op.DISABLE_QUEUES | typeof Op.GET_STATS } & QueueSelect)
  | { opcode: typeof Op.ADD_ETH_ADDR | typeof Op.DEL_ETH_ADDR; vsiId: number; addrs: EtherAddr[] }
  | { opcode: typeof Op.ADD_VLAN | typeof Op.DEL_VLAN; vsiId: number; vlanIds: number[] }
  | { opcode: typeof Op.CONFIG_PROMISCUOUS_MODE; vsiId: number; flags: number }
  | { opcode: typeof Op.CONFIG_RSS_KEY; vsiId: number; key: Buffer }
  | { opcode: typeof Op.CONFIG_RSS_LUT; vsiId: number; lut: Buffer }
  | { opcode: typeof Op.SET_RSS_HENA; hena: bigint }
  | { opcode: typeof Op.CONFIG_RSS_HFUNC; vsiId: number; algorithm: number }
  | { opcode: typeof Op.REQUEST_QUEUES; numQueuePairs: number }
  | OpaqueMessage;

/** A message whose layout the reference does not give: its bytes, uninterpreted. */
export interface OpaqueMessage {
  opcode: number;
  opaque: Buffer;
}

/** A PF -> VF message, decoded. Replies of opcodes with no reply payload are `{opcode}`. */
export type PfReply =
  | { opcode: typeof Op.VERSION; version: ApiVersion }
  | { opcode: typeof Op.GET_VF_RESOURCES; resource: VfResource }
  | { opcode: typeof Op.GET_RSS_HENA_CAPS; hena: bigint }
  | { opcode: typeof Op.GET_STATS; stats: EthStats }
  | { opcode: typeof Op.REQUEST_QUEUES; numQueuePairs: number }
  | { opcode: typeof Op.EVENT; event: PfEvent }
  | { opcode: number; empty: true }
  | OpaqueMessage;

export const Size = {
  VERSION_INFO: 8,
  VSI_RESOURCE: 16,
  VF_RESOURCE_HEADER: 20,
  TXQ_INFO: 24,
  RXQ_INFO: 40,
  QUEUE_PAIR_INFO: 64,
  VSI_QUEUE_CONFIG_HEADER: 8,
  VECTOR_MAP: 12,
  IRQ_MAP_HEADER: 2,
  QUEUE_SELECT: 12,
  ETHER_ADDR: 8,
  LIST_HEADER: 4,
  VLAN_ID: 2,
  PROMISC_INFO: 4,
  RSS_HENA: 8,
  RSS_HFUNC: 8,
  PF_EVENT: 16,
  ETH_STATS: 96,
  VF_RES_REQUEST: 2,
} as const;

/** Expected length of a list message with n elements: header + (n + 1 legacy) elements. */
export function legacyListLength(header: number, element: number, count: number): number {
  return header + element * (count + 1);
}

// ---------------------------------------------------------------- encoders

function writeTxq(b: Buffer, o: number, q: TxQueueInfo): void {
  b.writeUInt16LE(q.vsiId, o);
  b.writeUInt16LE(q.queueId, o + 2);
  b.writeUInt16LE(q.ringLen, o + 4);
  b.writeUInt16LE(q.headwbEnabled, o + 6);
  b.writeBigUInt64LE(q.dmaRingAddr, o + 8);
  b.writeBigUInt64LE(q.dmaHeadwbAddr, o + 16);
}

function writeRxq(b: Buffer, o: number, q: RxQueueInfo): void {
  b.writeUInt16LE(q.vsiId, o);
  b.writeUInt16LE(q.queueId, o + 2);
  b.writeUInt32LE(q.ringLen, o + 4);
  b.writeUInt16LE(q.hdrSize, o + 8);
  b.writeUInt16LE(q.splithdrEnabled, o + 10);
  b.writeUInt32LE(q.databufferSize, o + 12);
  b.writeUInt32LE(q.maxPktSize, o + 16);
  b.writeUInt8(q.crcDisable, o + 20);
  b.writeUInt8(q.rxdid, o + 21);
  b.writeUInt8(q.flags, o + 22);
  b.writeBigUInt64LE(q.dmaRingAddr, o + 24);
  b.writeInt32LE(q.rxSplitPos, o + 32);
}

function writeQueueSelect(q: QueueSelect): Buffer {
  const b = Buffer.alloc(Size.QUEUE_SELECT);
  b.writeUInt16LE(q.vsiId, 0);
  b.writeUInt32LE(q.rxQueues >>> 0, 4);
  b.writeUInt32LE(q.txQueues >>> 0, 8);
  return b;
}

function writeVsiResource(b: Buffer, o: number, v: VsiResource): void {
  b.writeUInt16LE(v.vsiId, o);
  b.writeUInt16LE(v.numQueuePairs, o + 2);
  b.writeInt32LE(v.vsiType, o + 4);
  b.writeUInt16LE(v.qsetHandle, o + 8);
  writeMac(b, o + 10, v.defaultMacAddr);
}

function writeVersion(v: ApiVersion): Buffer {
  const b = Buffer.alloc(Size.VERSION_INFO);
  b.writeUInt32LE(v.major >>> 0, 0);
  b.writeUInt32LE(v.minor >>> 0, 4);
  return b;
}

function writeKeyed(vsiId: number, bytes: Buffer): Buffer {
  // virtchnl_rss_key / virtchnl_rss_lut: 4-byte header, the bytes, one legacy trailing byte
  const b = Buffer.alloc(Size.LIST_HEADER + bytes.length + 1);
  b.writeUInt16LE(vsiId, 0);
  b.writeUInt16LE(bytes.length, 2);
  bytes.copy(b, 4);
  return b;
}

/** The payload bytes of a VF -> PF message. */
export function encodeRequest(message: VfRequest): Buffer {
  if ('opaque' in message) return Buffer.from(message.opaque);
  const m = message as Exclude<VfRequest, OpaqueMessage>;
  switch (m.opcode) {
    case Op.VERSION:
      return writeVersion(m.version);
    case Op.RESET_VF:
    case Op.GET_RSS_HENA_CAPS:
    case Op.ENABLE_VLAN_STRIPPING:
    case Op.DISABLE_VLAN_STRIPPING:
      return Buffer.alloc(0);
    case Op.GET_VF_RESOURCES: {
      if (m.caps === null) return Buffer.alloc(0);
      const b = Buffer.alloc(4);
      b.writeUInt32LE(m.caps >>> 0, 0);
      return b;
    }
    case Op.CONFIG_TX_QUEUE: {
      const b = Buffer.alloc(Size.TXQ_INFO);
      writeTxq(b, 0, m.txq);
      return b;
    }
    case Op.CONFIG_RX_QUEUE: {
      const b = Buffer.alloc(Size.RXQ_INFO);
      writeRxq(b, 0, m.rxq);
      return b;
    }
    case Op.CONFIG_VSI_QUEUES: {
      const b = Buffer.alloc(legacyListLength(Size.VSI_QUEUE_CONFIG_HEADER, Size.QUEUE_PAIR_INFO, m.queuePairs.length));
      b.writeUInt16LE(m.vsiId, 0);
      b.writeUInt16LE(m.queuePairs.length, 2);
      m.queuePairs.forEach((pair, i) => {
        const o = Size.VSI_QUEUE_CONFIG_HEADER + i * Size.QUEUE_PAIR_INFO;
        writeTxq(b, o, pair.txq);
        writeRxq(b, o + Size.TXQ_INFO, pair.rxq);
      });
      return b;
    }
    case Op.CONFIG_IRQ_MAP: {
      const b = Buffer.alloc(legacyListLength(Size.IRQ_MAP_HEADER, Size.VECTOR_MAP, m.vectors.length));
      b.writeUInt16LE(m.vectors.length, 0);
      m.vectors.forEach((v, i) => {
        const o = Size.IRQ_MAP_HEADER + i * Size.VECTOR_MAP;
        b.writeUInt16LE(v.vsiId, o);
        b.writeUInt16LE(v.vectorId, o + 2);
        b.writeUInt16LE(v.rxqMap, o + 4);
        b.writeUInt16LE(v.txqMap, o + 6);
        b.writeUInt16LE(v.rxitrIdx, o + 8);
        b.writeUInt16LE(v.txitrIdx, o + 10);
      });
      return b;
    }
    case Op.ENABLE_QUEUES:
    case Op.DISABLE_QUEUES:
    case Op.GET_STATS:
      return writeQueueSelect(m);
    case Op.ADD_ETH_ADDR:
    case Op.DEL_ETH_ADDR: {
      const b = Buffer.alloc(legacyListLength(Size.LIST_HEADER, Size.ETHER_ADDR, m.addrs.length));
      b.writeUInt16LE(m.vsiId, 0);
      b.writeUInt16LE(m.addrs.length, 2);
      m.addrs.forEach((a, i) => {
        const o = Size.LIST_HEADER + i * Size.ETHER_ADDR;
        writeMac(b, o, a.addr);
        b.writeUInt8(a.type, o + 6);
      });
      return b;
    }
    case Op.ADD_VLAN:
    case Op.DEL_VLAN: {
      const b = Buffer.alloc(legacyListLength(Size.LIST_HEADER, Size.VLAN_ID, m.vlanIds.length));
      b.writeUInt16LE(m.vsiId, 0);
      b.writeUInt16LE(m.vlanIds.length, 2);
      m.vlanIds.forEach((id, i) => b.writeUInt16LE(id, Size.LIST_HEADER + i * Size.VLAN_ID));
      return b;
    }
    case Op.CONFIG_PROMISCUOUS_MODE: {
      const b = Buffer.alloc(Size.PROMISC_INFO);
      b.writeUInt16LE(m.vsiId, 0);
      b.writeUInt16LE(m.flags, 2);
      return b;
    }
    case Op.CONFIG_RSS_KEY:
      return writeKeyed(m.vsiId, m.key);
    case Op.CONFIG_RSS_LUT:
      return writeKeyed(m.vsiId, m.lut);
    case Op.SET_RSS_HENA: {
      const b = Buffer.alloc(Size.RSS_HENA);
      b.writeBigUInt64LE(m.hena, 0);
      return b;
    }
    case Op.CONFIG_RSS_HFUNC: {
      const b = Buffer.alloc(Size.RSS_HFUNC);
      b.writeUInt16LE(m.vsiId, 0);
      b.writeUInt16LE(m.algorithm, 2);
      return b;
    }
    case Op.REQUEST_QUEUES: {
      const b = Buffer.alloc(Size.VF_RES_REQUEST);
      b.writeUInt16LE(m.numQueuePairs, 0);
      return b;
    }
  }
}

/** The payload bytes of a PF -> VF message. */
export function encodeReply(message: PfReply): Buffer {
  if ('opaque' in message) return Buffer.from(message.opaque);
  if ('empty' in message) return Buffer.alloc(0);
  switch (message.opcode) {
    case Op.VERSION:
      return writeVersion(message.version);
    case Op.GET_VF_RESOURCES: {
      const r = message.resource;
      const b = Buffer.alloc(legacyListLength(Size.VF_RESOURCE_HEADER, Size.VSI_RESOURCE, r.vsis.length));
      b.writeUInt16LE(r.vsis.length, 0);
      b.writeUInt16LE(r.numQueuePairs, 2);
      b.writeUInt16LE(r.maxVectors, 4);
      b.writeUInt16LE(r.maxMtu, 6);
      b.writeUInt32LE(r.vfCapFlags >>> 0, 8);
      b.writeUInt32LE(r.rssKeySize >>> 0, 12);
      b.writeUInt32LE(r.rssLutSize >>> 0, 16);
      r.vsis.forEach((v, i) => writeVsiResource(b, Size.VF_RESOURCE_HEADER + i * Size.VSI_RESOURCE, v));
      return b;
    }
    case Op.GET_RSS_HENA_CAPS: {
      const b = Buffer.alloc(Size.RSS_HENA);
      b.writeBigUInt64LE(message.hena, 0);
      return b;
    }
    case Op.GET_STATS: {
      const b = Buffer.alloc(Size.ETH_STATS);
      statsFields.forEach((field, i) => b.writeBigUInt64LE(message.stats[field], i * 8));
      return b;
    }
    case Op.REQUEST_QUEUES: {
      const b = Buffer.alloc(Size.VF_RES_REQUEST);
      b.writeUInt16LE(message.numQueuePairs, 0);
      return b;
    }
    case Op.EVENT: {
      const b = Buffer.alloc(Size.PF_EVENT);
      b.writeInt32LE(message.event.event, 0);
      b.writeUInt32LE(message.event.linkSpeed >>> 0, 4);
      b.writeUInt8(message.event.linkStatus, 8);
      b.writeInt32LE(message.event.severity, 12);
      return b;
    }
  }
  throw new TypeError(`no reply layout for opcode ${(message as { opcode: number }).opcode}`);
}

const statsFields: readonly (keyof EthStats)[] = [
  'rxBytes',
  'rxUnicast',
  'rxMulticast',
  'rxBroadcast',
  'rxDiscards',
  'rxUnknownProtocol',
  'txBytes',
  'txUnicast',
  'txMulticast',
  'txBroadcast',
  'txDiscards',
  'txErrors',
];

// ---------------------------------------------------------------- decoders

function lengthError(opcode: number, message: string, offset: number, field = 'length'): VirtchnlError {
  return new VirtchnlError('VF_BAD_LENGTH', message, { opcode, field, offset, status: Status.ERR_OPCODE_MISMATCH });
}

function expectLength(opcode: number, payload: Buffer, expected: number, what: string): void {
  if (payload.length !== expected) {
    throw lengthError(opcode, `${what} must be exactly ${expected} bytes, got ${payload.length}`, Math.min(payload.length, expected));
  }
}

/**
 * Checks a list message's count against its length; `countOffset` is where the count is.
 * Zero elements is a format error too (the PF's err_msg_format).
 */
function expectList(opcode: number, payload: Buffer, header: number, element: number, countOffset: number, countField: string): number {
  const r = new FieldReader(payload, opcode);
  const count = r.u16(countOffset, countField);
  if (count === 0) throw lengthError(opcode, `${countField} must be at least 1`, countOffset, countField);
  const expected = legacyListLength(header, element, count);
  if (payload.length !== expected) {
    throw lengthError(
      opcode,
      `${countField} = ${count} means ${expected} bytes (${header} + ${element} x (${count} + 1 legacy element)), got ${payload.length}`,
      Math.min(payload.length, expected),
    );
  }
  return count;
}

function readTxq(r: FieldReader, o: number, prefix: string): TxQueueInfo {
  return {
    vsiId: r.u16(o, `${prefix}vsi_id`),
    queueId: r.u16(o + 2, `${prefix}queue_id`),
    ringLen: r.u16(o + 4, `${prefix}ring_len`),
    headwbEnabled: r.u16(o + 6, `${prefix}headwb_enabled`),
    dmaRingAddr: r.u64(o + 8, `${prefix}dma_ring_addr`),
    dmaHeadwbAddr: r.u64(o + 16, `${prefix}dma_headwb_addr`),
  };
}

function readRxq(r: FieldReader, o: number, prefix: string): RxQueueInfo {
  return {
    vsiId: r.u16(o, `${prefix}vsi_id`),
    queueId: r.u16(o + 2, `${prefix}queue_id`),
    ringLen: r.u32(o + 4, `${prefix}ring_len`),
    hdrSize: r.u16(o + 8, `${prefix}hdr_size`),
    splithdrEnabled: r.u16(o + 10, `${prefix}splithdr_enabled`),
    databufferSize: r.u32(o + 12, `${prefix}databuffer_size`),
    maxPktSize: r.u32(o + 16, `${prefix}max_pkt_size`),
    crcDisable: r.u8(o + 20, `${prefix}crc_disable`),
    rxdid: r.u8(o + 21, `${prefix}rxdid`),
    flags: r.u8(o + 22, `${prefix}flags`),
    dmaRingAddr: r.u64(o + 24, `${prefix}dma_ring_addr`),
    rxSplitPos: r.s32(o + 32, `${prefix}rx_split_pos`),
  };
}

function readQueueSelect(r: FieldReader): QueueSelect {
  return { vsiId: r.u16(0, 'vsi_id'), rxQueues: r.u32(4, 'rx_queues'), txQueues: r.u32(8, 'tx_queues') };
}

function readVersion(r: FieldReader): ApiVersion {
  return { major: r.u32(0, 'major'), minor: r.u32(4, 'minor') };
}

function readKeyed(opcode: number, payload: Buffer, countField: string): { vsiId: number; bytes: Buffer } {
  const r = new FieldReader(payload, opcode);
  const vsiId = r.u16(0, 'vsi_id');
  const count = r.u16(2, countField);
  const expected = Size.LIST_HEADER + count + 1;
  if (payload.length !== expected) {
    throw lengthError(opcode, `${countField} = ${count} means ${expected} bytes (5 + ${countField}), got ${payload.length}`, Math.min(payload.length, expected));
  }
  return { vsiId, bytes: r.slice(4, count, countField === 'key_len' ? 'key' : 'lut') };
}

/**
 * Decodes a VF -> PF payload. Throws VirtchnlError (VF_BAD_LENGTH, status
 * ERR_OPCODE_MISMATCH) when the length does not match the layout. Opcodes the reference
 * gives no layout for come back as OpaqueMessage.
 */
export function decodeRequest(opcode: number, bytes: Uint8Array): VfRequest {
  const payload = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new FieldReader(payload, opcode);
  switch (opcode) {
    case Op.VERSION:
      expectLength(opcode, payload, Size.VERSION_INFO, 'virtchnl_version_info');
      return { opcode, version: readVersion(r) };
    case Op.RESET_VF:
    case Op.GET_RSS_HENA_CAPS:
    case Op.ENABLE_VLAN_STRIPPING:
    case Op.DISABLE_VLAN_STRIPPING:
      expectLength(opcode, payload, 0, 'the payload');
      return { opcode };
    case Op.GET_VF_RESOURCES:
      if (payload.length === 0) return { opcode, caps: null };
      expectLength(opcode, payload, 4, 'the capability bitmap');
      return { opcode, caps: r.u32(0, 'vf_cap_flags') };
    case Op.CONFIG_TX_QUEUE:
      expectLength(opcode, payload, Size.TXQ_INFO, 'virtchnl_txq_info');
      return { opcode, txq: readTxq(r, 0, '') };
    case Op.CONFIG_RX_QUEUE:
      expectLength(opcode, payload, Size.RXQ_INFO, 'virtchnl_rxq_info');
      return { opcode, rxq: readRxq(r, 0, '') };
    case Op.CONFIG_VSI_QUEUES: {
      const count = expectList(opcode, payload, Size.VSI_QUEUE_CONFIG_HEADER, Size.QUEUE_PAIR_INFO, 2, 'num_queue_pairs');
      const queuePairs: QueuePairInfo[] = [];
      for (let i = 0; i < count; i++) {
        const o = Size.VSI_QUEUE_CONFIG_HEADER + i * Size.QUEUE_PAIR_INFO;
        queuePairs.push({ txq: readTxq(r, o, `qpair[${i}].txq.`), rxq: readRxq(r, o + Size.TXQ_INFO, `qpair[${i}].rxq.`) });
      }
      return { opcode, vsiId: r.u16(0, 'vsi_id'), queuePairs };
    }
    case Op.CONFIG_IRQ_MAP: {
      const count = expectList(opcode, payload, Size.IRQ_MAP_HEADER, Size.VECTOR_MAP, 0, 'num_vectors');
      const vectors: VectorMap[] = [];
      for (let i = 0; i < count; i++) {
        const o = Size.IRQ_MAP_HEADER + i * Size.VECTOR_MAP;
        const p = `vecmap[${i}].`;
        vectors.push({
          vsiId: r.u16(o, `${p}vsi_id`),
          vectorId: r.u16(o + 2, `${p}vector_id`),
          rxqMap: r.u16(o + 4, `${p}rxq_map`),
          txqMap: r.u16(o + 6, `${p}txq_map`),
          rxitrIdx: r.u16(o + 8, `${p}rxitr_idx`),
          txitrIdx: r.u16(o + 10, `${p}txitr_idx`),
        });
      }
      return { opcode, vectors };
    }
    case Op.ENABLE_QUEUES:
    case Op.DISABLE_QUEUES:
    case Op.GET_STATS:
      expectLength(opcode, payload, Size.QUEUE_SELECT, 'virtchnl_queue_select');
      return { opcode, ...readQueueSelect(r) };
    case Op.ADD_ETH_ADDR:
    case Op.DEL_ETH_ADDR: {
      const count = expectList(opcode, payload, Size.LIST_HEADER, Size.ETHER_ADDR, 2, 'num_elements');
      const addrs: EtherAddr[] = [];
      for (let i = 0; i < count; i++) {
        const o = Size.LIST_HEADER + i * Size.ETHER_ADDR;
        addrs.push({ addr: r.mac(o, `list[${i}].addr`), type: r.u8(o + 6, `list[${i}].type`) });
      }
      return { opcode, vsiId: r.u16(0, 'vsi_id'), addrs };
    }
    case Op.ADD_VLAN:
    case Op.DEL_VLAN: {
      const count = expectList(opcode, payload, Size.LIST_HEADER, Size.VLAN_ID, 2, 'num_elements');
      const vlanIds: number[] = [];
      for (let i = 0; i < count; i++) vlanIds.push(r.u16(Size.LIST_HEADER + i * Size.VLAN_ID, `vlan_id[${i}]`));
      return { opcode, vsiId: r.u16(0, 'vsi_id'), vlanIds };
    }
    case Op.CONFIG_PROMISCUOUS_MODE:
      expectLength(opcode, payload, Size.PROMISC_INFO, 'virtchnl_promisc_info');
      return { opcode, vsiId: r.u16(0, 'vsi_id'), flags: r.u16(2, 'flags') };
    case Op.CONFIG_RSS_KEY: {
      const { vsiId, bytes: key } = readKeyed(opcode, payload, 'key_len');
      return { opcode, vsiId, key };
    }
    case Op.CONFIG_RSS_LUT: {
      const { vsiId, bytes: lut } = readKeyed(opcode, payload, 'lut_entries');
      return { opcode, vsiId, lut };
    }
    case Op.SET_RSS_HENA:
      expectLength(opcode, payload, Size.RSS_HENA, 'virtchnl_rss_hena');
      return { opcode, hena: r.u64(0, 'hena') };
    case Op.CONFIG_RSS_HFUNC:
      expectLength(opcode, payload, Size.RSS_HFUNC, 'virtchnl_rss_hfunc');
      return { opcode, vsiId: r.u16(0, 'vsi_id'), algorithm: r.u16(2, 'rss_algorithm') };
    case Op.REQUEST_QUEUES:
      expectLength(opcode, payload, Size.VF_RES_REQUEST, 'virtchnl_vf_res_request');
      return { opcode, numQueuePairs: r.u16(0, 'num_queue_pairs') };
    default:
      return { opcode, opaque: Buffer.from(payload) };
  }
}

/** Decodes a PF -> VF payload (a reply to `opcode`, or an EVENT). */
export function decodeReply(opcode: number, bytes: Uint8Array): PfReply {
  const payload = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new FieldReader(payload, opcode);
  switch (opcode) {
    case Op.VERSION:
      expectLength(opcode, payload, Size.VERSION_INFO, 'virtchnl_version_info');
      return { opcode, version: readVersion(r) };
    case Op.GET_VF_RESOURCES: {
      const count = r.u16(0, 'num_vsis');
      const expected = legacyListLength(Size.VF_RESOURCE_HEADER, Size.VSI_RESOURCE, count);
      if (payload.length !== expected) {
        throw lengthError(opcode, `num_vsis = ${count} means ${expected} bytes (36 + 16 x num_vsis), got ${payload.length}`, Math.min(payload.length, expected));
      }
      const vsis: VsiResource[] = [];
      for (let i = 0; i < count; i++) {
        const o = Size.VF_RESOURCE_HEADER + i * Size.VSI_RESOURCE;
        const p = `vsi_res[${i}].`;
        vsis.push({
          vsiId: r.u16(o, `${p}vsi_id`),
          numQueuePairs: r.u16(o + 2, `${p}num_queue_pairs`),
          vsiType: r.s32(o + 4, `${p}vsi_type`),
          qsetHandle: r.u16(o + 8, `${p}qset_handle`),
          defaultMacAddr: r.mac(o + 10, `${p}default_mac_addr`),
        });
      }
      return {
        opcode,
        resource: {
          numQueuePairs: r.u16(2, 'num_queue_pairs'),
          maxVectors: r.u16(4, 'max_vectors'),
          maxMtu: r.u16(6, 'max_mtu'),
          vfCapFlags: r.u32(8, 'vf_cap_flags'),
          rssKeySize: r.u32(12, 'rss_key_size'),
          rssLutSize: r.u32(16, 'rss_lut_size'),
          vsis,
        },
      };
    }
    case Op.GET_RSS_HENA_CAPS:
      expectLength(opcode, payload, Size.RSS_HENA, 'virtchnl_rss_hena');
      return { opcode, hena: r.u64(0, 'hena') };
    case Op.GET_STATS: {
      expectLength(opcode, payload, Size.ETH_STATS, 'virtchnl_eth_stats');
      const stats = {} as EthStats;
      statsFields.forEach((field, i) => {
        stats[field] = r.u64(i * 8, field);
      });
      return { opcode, stats };
    }
    case Op.REQUEST_QUEUES:
      expectLength(opcode, payload, Size.VF_RES_REQUEST, 'virtchnl_vf_res_request');
      return { opcode, numQueuePairs: r.u16(0, 'num_queue_pairs') };
    case Op.EVENT:
      expectLength(opcode, payload, Size.PF_EVENT, 'virtchnl_pf_event');
      return {
        opcode,
        event: { event: r.s32(0, 'event'), linkSpeed: r.u32(4, 'link_speed'), linkStatus: r.u8(8, 'link_status'), severity: r.s32(12, 'severity') },
      };
    default:
      if (payload.length === 0) return { opcode, empty: true };
      return { opcode, opaque: Buffer.from(payload) };
  }
}
