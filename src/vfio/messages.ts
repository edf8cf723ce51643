/**
 * Byte layouts of every virtchnl message in shared/REFERENCE-virtchnl.md, requests (VF -> PF)
 * and replies (PF -> VF, EVENT included), each written once as a table (layout.ts walks it
 * both ways): the structs below, then which body each opcode carries.
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
import { decodeBody, encodeBody, legacyListLength, struct, type AnyStruct, type Body } from './layout.js';
import { Op } from './opcodes.js';

export { legacyListLength };

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

// ---------------------------------------------------------------- structs
// Offsets and sizes as in include/linux/avf/virtchnl.h; members not listed are pads or
// reserved words (written as zeros, ignored when read).

const VERSION_INFO = struct<ApiVersion>('virtchnl_version_info', 8, [
  { key: 'major', wire: 'major', at: 0, type: 'u32' },
  { key: 'minor', wire: 'minor', at: 4, type: 'u32' },
]);

const TXQ_INFO = struct<TxQueueInfo>('virtchnl_txq_info', 24, [
  { key: 'vsiId', wire: 'vsi_id', at: 0, type: 'u16' },
  { key: 'queueId', wire: 'queue_id', at: 2, type: 'u16' },
  { key: 'ringLen', wire: 'ring_len', at: 4, type: 'u16' },
  { key: 'headwbEnabled', wire: 'headwb_enabled', at: 6, type: 'u16' },
  { key: 'dmaRingAddr', wire: 'dma_ring_addr', at: 8, type: 'u64' },
  { key: 'dmaHeadwbAddr', wire: 'dma_headwb_addr', at: 16, type: 'u64' },
]);

const RXQ_INFO = struct<RxQueueInfo>('virtchnl_rxq_info', 40, [
  { key: 'vsiId', wire: 'vsi_id', at: 0, type: 'u16' },
  { key: 'queueId', wire: 'queue_id', at: 2, type: 'u16' },
  { key: 'ringLen', wire: 'ring_len', at: 4, type: 'u32' },
  { key: 'hdrSize', wire: 'hdr_size', at: 8, type: 'u16' },
  { key: 'splithdrEnabled', wire: 'splithdr_enabled', at: 10, type: 'u16' },
  { key: 'databufferSize', wire: 'databuffer_size', at: 12, type: 'u32' },
  { key: 'maxPktSize', wire: 'max_pkt_size', at: 16, type: 'u32' },
  { key: 'crcDisable', wire: 'crc_disable', at: 20, type: 'u8' },
  { key: 'rxdid', wire: 'rxdid', at: 21, type: 'u8' },
  // The reference's `flags`; Linux 6.12 calls this byte pad1[0] (the PF ignores it).
  { key: 'flags', wire: 'flags', at: 22, type: 'u8', kernel: 'pad1[0]' },
  { key: 'dmaRingAddr', wire: 'dma_ring_addr', at: 24, type: 'u64' },
  { key: 'rxSplitPos', wire: 'rx_split_pos', at: 32, type: 's32' },
]);

const QUEUE_PAIR_INFO = struct<QueuePairInfo>('virtchnl_queue_pair_info', 64, [
  { key: 'txq', wire: 'txq', at: 0, type: TXQ_INFO },
  { key: 'rxq', wire: 'rxq', at: 24, type: RXQ_INFO },
]);

const VSI_QUEUE_CONFIG_INFO = struct<{ vsiId: number }>('virtchnl_vsi_queue_config_info', 8, [{ key: 'vsiId', wire: 'vsi_id', at: 0, type: 'u16' }]);

const VECTOR_MAP = struct<VectorMap>('virtchnl_vector_map', 12, [
  { key: 'vsiId', wire: 'vsi_id', at: 0, type: 'u16' },
  { key: 'vectorId', wire: 'vector_id', at: 2, type: 'u16' },
  { key: 'rxqMap', wire: 'rxq_map', at: 4, type: 'u16' },
  { key: 'txqMap', wire: 'txq_map', at: 6, type: 'u16' },
  { key: 'rxitrIdx', wire: 'rxitr_idx', at: 8, type: 'u16' },
  { key: 'txitrIdx', wire: 'txitr_idx', at: 10, type: 'u16' },
]);

const IRQ_MAP_INFO = struct<object>('virtchnl_irq_map_info', 2, []);

const QUEUE_SELECT = struct<QueueSelect>('virtchnl_queue_select', 12, [
  { key: 'vsiId', wire: 'vsi_id', at: 0, type: 'u16' },
  { key: 'rxQueues', wire: 'rx_queues', at: 4, type: 'u32' },
  { key: 'txQueues', wire: 'tx_queues', at: 8, type: 'u32' },
]);

const ETHER_ADDR = struct<EtherAddr>('virtchnl_ether_addr', 8, [
  { key: 'addr', wire: 'addr', at: 0, type: 'mac' },
  { key: 'type', wire: 'type', at: 6, type: 'u8' },
]);

const VSI_HEADER = [{ key: 'vsiId', wire: 'vsi_id', at: 0, type: 'u16' }] as const;
const ETHER_ADDR_LIST = struct<{ vsiId: number }>('virtchnl_ether_addr_list', 4, VSI_HEADER);
const VLAN_FILTER_LIST = struct<{ vsiId: number }>('virtchnl_vlan_filter_list', 4, VSI_HEADER);
const RSS_KEY = struct<{ vsiId: number }>('virtchnl_rss_key', 4, VSI_HEADER);
const RSS_LUT = struct<{ vsiId: number }>('virtchnl_rss_lut', 4, VSI_HEADER);

const PROMISC_INFO = struct<{ vsiId: number; flags: number }>('virtchnl_promisc_info', 4, [
  { key: 'vsiId', wire: 'vsi_id', at: 0, type: 'u16' },
  { key: 'flags', wire: 'flags', at: 2, type: 'u16' },
]);

const RSS_HENA = struct<{ hena: bigint }>('virtchnl_rss_hena', 8, [{ key: 'hena', wire: 'hena', at: 0, type: 'u64' }]);

const RSS_HFUNC = struct<{ vsiId: number; algorithm: number }>('virtchnl_rss_hfunc', 8, [
  { key: 'vsiId', wire: 'vsi_id', at: 0, type: 'u16' },
  { key: 'algorithm', wire: 'rss_algorithm', at: 2, type: 'u16' },
]);

const VF_RES_REQUEST = struct<{ numQueuePairs: number }>('virtchnl_vf_res_request', 2, [{ key: 'numQueuePairs', wire: 'num_queue_pairs', at: 0, type: 'u16' }]);

const VSI_RESOURCE = struct<VsiResource>('virtchnl_vsi_resource', 16, [
  { key: 'vsiId', wire: 'vsi_id', at: 0, type: 'u16' },
  { key: 'numQueuePairs', wire: 'num_queue_pairs', at: 2, type: 'u16' },
  { key: 'vsiType', wire: 'vsi_type', at: 4, type: 's32' },
  { key: 'qsetHandle', wire: 'qset_handle', at: 8, type: 'u16' },
  { key: 'defaultMacAddr', wire: 'default_mac_addr', at: 10, type: 'mac' },
]);

const VF_RESOURCE = struct<VfResource>('virtchnl_vf_resource', 20, [
  { key: 'numQueuePairs', wire: 'num_queue_pairs', at: 2, type: 'u16' },
  { key: 'maxVectors', wire: 'max_vectors', at: 4, type: 'u16' },
  { key: 'maxMtu', wire: 'max_mtu', at: 6, type: 'u16' },
  { key: 'vfCapFlags', wire: 'vf_cap_flags', at: 8, type: 'u32' },
  { key: 'rssKeySize', wire: 'rss_key_size', at: 12, type: 'u32' },
  { key: 'rssLutSize', wire: 'rss_lut_size', at: 16, type: 'u32' },
]);

/** link_speed and link_status are the union event_data.link_event at byte 4. */
const PF_EVENT = struct<PfEvent>('virtchnl_pf_event', 16, [
  { key: 'event', wire: 'event', at: 0, type: 's32' },
  { key: 'linkSpeed', wire: 'event_data.link_event.link_speed', at: 4, type: 'u32' },
  { key: 'linkStatus', wire: 'event_data.link_event.link_status', at: 8, type: 'u8' },
  { key: 'severity', wire: 'severity', at: 12, type: 's32' },
]);

const statsWire: readonly [keyof EthStats, string][] = [
  ['rxBytes', 'rx_bytes'],
  ['rxUnicast', 'rx_unicast'],
  ['rxMulticast', 'rx_multicast'],
  ['rxBroadcast', 'rx_broadcast'],
  ['rxDiscards', 'rx_discards'],
  ['rxUnknownProtocol', 'rx_unknown_protocol'],
  ['txBytes', 'tx_bytes'],
  ['txUnicast', 'tx_unicast'],
  ['txMulticast', 'tx_multicast'],
  ['txBroadcast', 'tx_broadcast'],
  ['txDiscards', 'tx_discards'],
  ['txErrors', 'tx_errors'],
];
const ETH_STATS = struct<EthStats>(
  'virtchnl_eth_stats',
  96,
  statsWire.map(([key, wire], i) => ({ key, wire, at: i * 8, type: 'u64' as const })),
);

/** Every struct of the codec, by C name (nested ones included), for checks against the header. */
export const structs: readonly AnyStruct[] = [
  VERSION_INFO,
  TXQ_INFO,
  RXQ_INFO,
  QUEUE_PAIR_INFO,
  VSI_QUEUE_CONFIG_INFO,
  VECTOR_MAP,
  IRQ_MAP_INFO,
  QUEUE_SELECT,
  ETHER_ADDR,
  ETHER_ADDR_LIST,
  VLAN_FILTER_LIST,
  PROMISC_INFO,
  RSS_KEY,
  RSS_LUT,
  RSS_HENA,
  RSS_HFUNC,
  VF_RES_REQUEST,
  VSI_RESOURCE,
  VF_RESOURCE,
  PF_EVENT,
  ETH_STATS,
];

export const Size = {
  VERSION_INFO: VERSION_INFO.size,
  VSI_RESOURCE: VSI_RESOURCE.size,
  VF_RESOURCE_HEADER: VF_RESOURCE.size,
  TXQ_INFO: TXQ_INFO.size,
  RXQ_INFO: RXQ_INFO.size,
  QUEUE_PAIR_INFO: QUEUE_PAIR_INFO.size,
  VSI_QUEUE_CONFIG_HEADER: VSI_QUEUE_CONFIG_INFO.size,
  VECTOR_MAP: VECTOR_MAP.size,
  IRQ_MAP_HEADER: IRQ_MAP_INFO.size,
  QUEUE_SELECT: QUEUE_SELECT.size,
  ETHER_ADDR: ETHER_ADDR.size,
  LIST_HEADER: ETHER_ADDR_LIST.size,
  VLAN_ID: 2,
  PROMISC_INFO: PROMISC_INFO.size,
  RSS_HENA: RSS_HENA.size,
  RSS_HFUNC: RSS_HFUNC.size,
  PF_EVENT: PF_EVENT.size,
  ETH_STATS: ETH_STATS.size,
  VF_RES_REQUEST: VF_RES_REQUEST.size,
} as const;

// ---------------------------------------------------------------- bodies by opcode

const empty: Body = { kind: 'empty' };
const fixed = (s: AnyStruct, nest?: string): Body => (nest === undefined ? { kind: 'fixed', struct: s } : { kind: 'fixed', struct: s, nest });

const addrList: Body = { kind: 'list', header: ETHER_ADDR_LIST, count: { wire: 'num_elements', at: 2 }, items: { key: 'addrs', wire: 'list', element: ETHER_ADDR }, minCount: 1 };
const vlanList: Body = { kind: 'list', header: VLAN_FILTER_LIST, count: { wire: 'num_elements', at: 2 }, items: { key: 'vlanIds', wire: 'vlan_id', element: 'u16' }, minCount: 1 };

/** The body of each VF -> PF message nicmig knows; any other opcode is opaque. */
export const requestBodies: ReadonlyMap<number, Body> = new Map<number, Body>([
  [Op.VERSION, fixed(VERSION_INFO, 'version')],
  [Op.RESET_VF, empty],
  [Op.GET_VF_RESOURCES, { kind: 'optional', key: 'caps', wire: 'vf_cap_flags', type: 'u32' }],
  [Op.CONFIG_TX_QUEUE, fixed(TXQ_INFO, 'txq')],
  [Op.CONFIG_RX_QUEUE, fixed(RXQ_INFO, 'rxq')],
  [
    Op.CONFIG_VSI_QUEUES,
    { kind: 'list', header: VSI_QUEUE_CONFIG_INFO, count: { wire: 'num_queue_pairs', at: 2 }, items: { key: 'queuePairs', wire: 'qpair', element: QUEUE_PAIR_INFO }, minCount: 1 },
  ],
  [Op.CONFIG_IRQ_MAP, { kind: 'list', header: IRQ_MAP_INFO, count: { wire: 'num_vectors', at: 0 }, items: { key: 'vectors', wire: 'vecmap', element: VECTOR_MAP }, minCount: 1 }],
  [Op.ENABLE_QUEUES, fixed(QUEUE_SELECT)],
  [Op.DISABLE_QUEUES, fixed(QUEUE_SELECT)],
  [Op.ADD_ETH_ADDR, addrList],
  [Op.DEL_ETH_ADDR, addrList],
  [Op.ADD_VLAN, vlanList],
  [Op.DEL_VLAN, vlanList],
  [Op.CONFIG_PROMISCUOUS_MODE, fixed(PROMISC_INFO)],
  [Op.GET_STATS, fixed(QUEUE_SELECT)],
  [Op.CONFIG_RSS_KEY, { kind: 'list', header: RSS_KEY, count: { wire: 'key_len', at: 2 }, items: { key: 'key', wire: 'key', element: 'u8' }, minCount: 1 }],
  [Op.CONFIG_RSS_LUT, { kind: 'list', header: RSS_LUT, count: { wire: 'lut_entries', at: 2 }, items: { key: 'lut', wire: 'lut', element: 'u8' }, minCount: 1 }],
  [Op.GET_RSS_HENA_CAPS, empty],
  [Op.SET_RSS_HENA, fixed(RSS_HENA)],
  [Op.ENABLE_VLAN_STRIPPING, empty],
  [Op.DISABLE_VLAN_STRIPPING, empty],
  [Op.CONFIG_RSS_HFUNC, fixed(RSS_HFUNC)],
  [Op.REQUEST_QUEUES, fixed(VF_RES_REQUEST)],
]);

/** The body of each PF -> VF message with a payload; any other reply is empty or opaque. */
export const replyBodies: ReadonlyMap<number, Body> = new Map<number, Body>([
  [Op.VERSION, fixed(VERSION_INFO, 'version')],
  [
    Op.GET_VF_RESOURCES,
    { kind: 'list', header: VF_RESOURCE, count: { wire: 'num_vsis', at: 0 }, items: { key: 'vsis', wire: 'vsi_res', element: VSI_RESOURCE }, minCount: 0, nest: 'resource' },
  ],
  [Op.GET_RSS_HENA_CAPS, fixed(RSS_HENA)],
  [Op.GET_STATS, fixed(ETH_STATS, 'stats')],
  [Op.REQUEST_QUEUES, fixed(VF_RES_REQUEST)],
  [Op.EVENT, fixed(PF_EVENT, 'event')],
]);

// ---------------------------------------------------------------- codec

/** The payload bytes of a VF -> PF message. */
export function encodeRequest(message: VfRequest): Buffer {
  if ('opaque' in message) return Buffer.from(message.opaque);
  const body = requestBodies.get(message.opcode);
  if (!body) throw new TypeError(`no request layout for opcode ${message.opcode}`);
  return encodeBody(body, message as unknown as Record<string, unknown>);
}

/** The payload bytes of a PF -> VF message. */
export function encodeReply(message: PfReply): Buffer {
  if ('opaque' in message) return Buffer.from(message.opaque);
  if ('empty' in message) return Buffer.alloc(0);
  const body = replyBodies.get(message.opcode);
  if (!body) throw new TypeError(`no reply layout for opcode ${message.opcode}`);
  return encodeBody(body, message as unknown as Record<string, unknown>);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decodes a VF -> PF payload. Throws VirtchnlError (VF_BAD_LENGTH, status
 * ERR_OPCODE_MISMATCH) when the length does not match the layout. Opcodes the reference
 * gives no layout for come back as OpaqueMessage.
 */
export function decodeRequest(opcode: number, bytes: Uint8Array): VfRequest {
  const payload = asBuffer(bytes);
  const body = requestBodies.get(opcode);
  if (!body) return { opcode, opaque: Buffer.from(payload) };
  return decodeBody(body, opcode, payload) as unknown as VfRequest;
}

/** Decodes a PF -> VF payload (a reply to `opcode`, or an EVENT). */
export function decodeReply(opcode: number, bytes: Uint8Array): PfReply {
  const payload = asBuffer(bytes);
  const body = replyBodies.get(opcode);
  if (!body) return payload.length === 0 ? { opcode, empty: true } : { opcode, opaque: Buffer.from(payload) };
  return decodeBody(body, opcode, payload) as unknown as PfReply;
}
