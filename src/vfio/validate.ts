/**
 * The checks the i40e PF makes on a VF's request before acting on it, as pure functions:
 *   checkMessageFormat   the kernel's virtchnl_vc_validate_vf_msg() (include/linux/avf/
 *                        virtchnl.h of KERNEL_REFERENCE): opcode known, exact length,
 *                        element counts; its verdict is the kernel's return code
 *   validateVfRequest    that, then i40e_vc_process_vf_msg()'s dispatch (opcodes i40e does
 *                        not implement) and the i40e_vc_*_msg checks per opcode
 * A refusal carries the virtchnl status and the field and byte offset.
 * test/unit/vfio/kernel-conformance.test.ts runs the kernel's own function beside these.
 */
import { VirtchnlError, type VirtchnlErrorCode } from './errors.js';
import { decodeRequest, Size, type ApiVersion, type VfRequest } from './messages.js';
import { I40E, MacType, Op, opcodeName, RssAlgorithm, Status, type VirtchnlStatus } from './opcodes.js';
import { isBroadcastMac, isMulticastMac, isZeroMac } from './wire.js';

/** What the PF knows about the VF when a request arrives. */
export interface VfRequestContext {
  /** GET_VF_RESOURCES has succeeded since the last reset */
  active: boolean;
  vsiId: number;
  numQueuePairs: number;
  maxVectors: number;
  /** the version the VF announced (decides GET_VF_RESOURCES' length) */
  apiVersion: ApiVersion;
  trusted: boolean;
  /** filter limits for an untrusted VF (current i40e: 18 MACs, 16 VLANs) */
  maxMacFilters: number;
  maxVlanFilters: number;
  /** MAC the host administrator set (`ip link set PF vf N mac ...`), if any */
  hostMac?: string | null;
  /** port VLAN the host set, if any */
  portVlan?: number | null;
  rssKeySize: number;
  rssLutSize: number;
  /** the VF's current filters; the limits and deletes are checked against them */
  macs?: { has(addr: string): boolean; readonly size: number };
  vlans?: { has(id: number): boolean; readonly size: number };
}

export type ValidationResult = { ok: true; request: VfRequest } | { ok: false; error: VirtchnlError };

/**
 * Opcodes virtchnl_vc_validate_vf_msg() (Linux 6.12) has a case for; any other, EVENT and
 * UNKNOWN included, is ERR_PARAM whatever its payload.
 */
export const KERNEL_VALID_OPCODES: ReadonlySet<number> = new Set([
  ...range(Op.VERSION, Op.GET_STATS),
  Op.CONFIG_RSS_HFUNC,
  ...range(Op.IWARP, Op.DEL_CLOUD_FILTER),
  ...range(Op.GET_SUPPORTED_RXDIDS, Op.DEL_FDIR_FILTER),
  ...range(Op.GET_OFFLOAD_VLAN_V2_CAPS, Op.DISABLE_VLAN_INSERTION_V2),
]);

/**
 * Opcodes i40e_vc_process_vf_msg() (Linux 6.12) handles; a well-formed message of any other
 * opcode is answered "not supported" (-EOPNOTSUPP): CONFIG_TX_QUEUE, CONFIG_RX_QUEUE,
 * CONFIG_RSS_HFUNC and everything from GET_SUPPORTED_RXDIDS on.
 */
export const I40E_HANDLED_OPCODES: ReadonlySet<number> = new Set([
  Op.VERSION,
  Op.RESET_VF,
  Op.GET_VF_RESOURCES,
  ...range(Op.CONFIG_VSI_QUEUES, Op.GET_STATS),
  ...range(Op.IWARP, Op.RELEASE_IWARP_IRQ_MAP),
  ...range(Op.CONFIG_RSS_KEY, Op.DEL_CLOUD_FILTER),
]);

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/**
 * The kernel's verdict on one VF -> PF message: ok (return 0), or the error with status
 * ERR_PARAM (an opcode a VF never sends) or ERR_OPCODE_MISMATCH (length or count wrong).
 * `version` is what the VF announced in VERSION (null: none yet, read as 1.0, as i40e's
 * zeroed vf_ver is). `checked` is false for opcodes whose layout nicmig does not model:
 * the kernel checks their lengths, nicmig does not.
 */
export type FormatVerdict = { ok: true; request: VfRequest; checked: boolean } | { ok: false; error: VirtchnlError };

export function checkMessageFormat(opcode: number, payload: Uint8Array, version: ApiVersion | null): FormatVerdict {
  try {
    if (!KERNEL_VALID_OPCODES.has(opcode)) {
      fail('VF_BAD_OPCODE', opcode, 'opcode', 0, `opcode ${opcode} (${opcodeName(opcode)}) is not a request a VF may send`);
    }
    const request = decodeRequest(opcode, payload);
    if (request.opcode === Op.GET_VF_RESOURCES) {
      const v = version ?? { major: 1, minor: 0 };
      const expected = isV11(v) ? 4 : 0;
      if (payload.length !== expected) {
        fail('VF_BAD_LENGTH', opcode, 'length', 0, `a ${v.major}.${v.minor} VF sends ${expected} bytes, got ${payload.length}`, Status.ERR_OPCODE_MISMATCH);
      }
    }
    return { ok: true, request, checked: !('opaque' in request) };
  } catch (error) {
    if (error instanceof VirtchnlError) return { ok: false, error };
    throw error;
  }
}

export function defaultRequestContext(overrides: Partial<VfRequestContext> = {}): VfRequestContext {
  return {
    active: true,
    vsiId: 0,
    numQueuePairs: 4,
    maxVectors: 5,
    apiVersion: { major: 1, minor: 1 },
    trusted: false,
    maxMacFilters: I40E.MAX_UNTRUSTED_MACS,
    maxVlanFilters: I40E.MAX_UNTRUSTED_VLANS,
    rssKeySize: I40E.RSS_KEY_SIZE,
    rssLutSize: I40E.RSS_LUT_SIZE,
    ...overrides,
  };
}

/** Opcodes that need no ACTIVE VF. */
const beforeActive = new Set<number>([Op.VERSION, Op.RESET_VF, Op.GET_VF_RESOURCES]);

/** The kernel's VF_IS_V11: exactly 1.1 (a VF announcing 1.2 or 2.0 sends no bitmap either). */
export function isV11(v: ApiVersion): boolean {
  return v.major === 1 && v.minor === 1;
}

/** Validates one VF -> PF message as the i40e PF would; never throws. */
export function validateVfRequest(opcode: number, payload: Uint8Array, ctx: VfRequestContext): ValidationResult {
  try {
    return { ok: true, request: checkRequest(opcode, payload, ctx) };
  } catch (error) {
    if (error instanceof VirtchnlError) return { ok: false, error };
    throw error;
  }
}

function fail(code: VirtchnlErrorCode, opcode: number, field: string, offset: number, message: string, status: VirtchnlStatus = Status.ERR_PARAM): never {
  throw new VirtchnlError(code, message, { opcode, field, offset, status });
}

function checkRequest(opcode: number, payload: Uint8Array, ctx: VfRequestContext): VfRequest {
  const verdict = checkMessageFormat(opcode, payload, ctx.apiVersion);
  if (!verdict.ok) throw verdict.error;
  const request = verdict.request;
  if (opcode === Op.CONFIG_TX_QUEUE || opcode === Op.CONFIG_RX_QUEUE) {
    fail('VF_UNSUPPORTED_OPCODE', opcode, 'opcode', 0, 'the i40e PF does not implement the legacy single-queue messages; use CONFIG_VSI_QUEUES', Status.ERR_NOT_SUPPORTED);
  }
  if (!I40E_HANDLED_OPCODES.has(opcode)) {
    fail('VF_UNSUPPORTED_OPCODE', opcode, 'opcode', 0, `the i40e PF does not implement ${opcodeName(opcode)}`, Status.ERR_NOT_SUPPORTED);
  }
  if ('opaque' in request) {
    fail('VF_UNSUPPORTED_OPCODE', opcode, 'opcode', 0, `${opcodeName(opcode)} is not supported by nicmig's PF model (i40e has it: RDMA and ADQ channels and cloud filters)`, Status.ERR_NOT_SUPPORTED);
  }
  if (!beforeActive.has(opcode) && !ctx.active) {
    fail('VF_NOT_ACTIVE', opcode, 'opcode', 0, 'the VF is not active: VERSION and GET_VF_RESOURCES must come first');
  }
  checkFields(request, ctx);
  return request;
}

function checkVsi(opcode: number, vsiId: number, ctx: VfRequestContext, field = 'vsi_id', offset = 0): void {
  if (vsiId !== ctx.vsiId) fail('VF_BAD_VSI_ID', opcode, field, offset, `vsi_id ${vsiId} is not this VF's VSI (${ctx.vsiId})`);
}

function checkQueueBitmap(opcode: number, bitmap: number, ctx: VfRequestContext, field: string, offset: number): void {
  const valid = ctx.numQueuePairs >= 32 ? 0xffffffff : 2 ** Math.min(ctx.numQueuePairs, I40E.MAX_VF_QUEUES) - 1;
  if ((bitmap & ~valid) >>> 0 !== 0) {
    fail('VF_BAD_BITMAP', opcode, field, offset, `${field} 0x${bitmap.toString(16)} names queues beyond the VF's ${ctx.numQueuePairs}`);
  }
}

function checkFields(request: VfRequest, ctx: VfRequestContext): void {
  if ('opaque' in request) return;
  const op = request.opcode;
  switch (request.opcode) {
    case Op.CONFIG_VSI_QUEUES: {
      checkVsi(op, request.vsiId, ctx);
      const count = request.queuePairs.length;
      if (count > I40E.MAX_VF_QUEUES || count > ctx.numQueuePairs) {
        fail('VF_BAD_QUEUE_ID', op, 'num_queue_pairs', 2, `${count} queue pairs, the VF has ${ctx.numQueuePairs}`);
      }
      request.queuePairs.forEach((pair, i) => {
        const base = Size.VSI_QUEUE_CONFIG_HEADER + i * Size.QUEUE_PAIR_INFO;
        const rxBase = base + Size.TXQ_INFO;
        const { txq, rxq } = pair;
        checkVsi(op, txq.vsiId, ctx, `qpair[${i}].txq.vsi_id`, base);
        checkVsi(op, rxq.vsiId, ctx, `qpair[${i}].rxq.vsi_id`, rxBase);
        if (txq.queueId >= ctx.numQueuePairs) fail('VF_BAD_QUEUE_ID', op, `qpair[${i}].txq.queue_id`, base + 2, `queue ${txq.queueId} is beyond the VF's ${ctx.numQueuePairs} queue pairs`);
        if (rxq.queueId !== txq.queueId) fail('VF_BAD_QUEUE_ID', op, `qpair[${i}].rxq.queue_id`, rxBase + 2, `rx queue ${rxq.queueId} differs from tx queue ${txq.queueId} of the same pair`);
        if (txq.ringLen % 8 !== 0) fail('VF_BAD_SIZE', op, `qpair[${i}].txq.ring_len`, base + 4, `TX ring length ${txq.ringLen} is not a multiple of 8`);
        if (txq.dmaRingAddr % BigInt(I40E.RING_ALIGN) !== 0n) fail('VF_BAD_ALIGNMENT', op, `qpair[${i}].txq.dma_ring_addr`, base + 8, `TX ring address 0x${txq.dmaRingAddr.toString(16)} is not 128-byte aligned`);
        if (rxq.ringLen % 32 !== 0) fail('VF_BAD_SIZE', op, `qpair[${i}].rxq.ring_len`, rxBase + 4, `RX ring length ${rxq.ringLen} is not a multiple of 32`);
        if (rxq.databufferSize > I40E.MAX_DATABUFFER_SIZE) fail('VF_BAD_SIZE', op, `qpair[${i}].rxq.databuffer_size`, rxBase + 12, `RX buffer size ${rxq.databufferSize} exceeds ${I40E.MAX_DATABUFFER_SIZE}`);
        if (rxq.maxPktSize < I40E.MIN_PKT_SIZE || rxq.maxPktSize >= I40E.MAX_PKT_SIZE_EXCLUSIVE) {
          fail('VF_BAD_SIZE', op, `qpair[${i}].rxq.max_pkt_size`, rxBase + 16, `max packet size ${rxq.maxPktSize} is outside 64..16383`);
        }
        if (rxq.dmaRingAddr % BigInt(I40E.RING_ALIGN) !== 0n) fail('VF_BAD_ALIGNMENT', op, `qpair[${i}].rxq.dma_ring_addr`, rxBase + 24, `RX ring address 0x${rxq.dmaRingAddr.toString(16)} is not 128-byte aligned`);
      });
      return;
    }
    case Op.CONFIG_IRQ_MAP: {
      if (request.vectors.length > ctx.maxVectors) fail('VF_BAD_VECTOR', op, 'num_vectors', 0, `${request.vectors.length} vectors, the VF has ${ctx.maxVectors}`);
      request.vectors.forEach((v, i) => {
        const base = Size.IRQ_MAP_HEADER + i * Size.VECTOR_MAP;
        checkVsi(op, v.vsiId, ctx, `vecmap[${i}].vsi_id`, base);
        if (v.vectorId >= ctx.maxVectors) fail('VF_BAD_VECTOR', op, `vecmap[${i}].vector_id`, base + 2, `vector ${v.vectorId} is beyond the VF's ${ctx.maxVectors}`);
        checkQueueBitmap(op, v.rxqMap, ctx, `vecmap[${i}].rxq_map`, base + 4);
        checkQueueBitmap(op, v.txqMap, ctx, `vecmap[${i}].txq_map`, base + 6);
        if (v.rxitrIdx > I40E.MAX_ITR_INDEX) fail('VF_BAD_VALUE', op, `vecmap[${i}].rxitr_idx`, base + 8, `ITR index ${v.rxitrIdx} is above ${I40E.MAX_ITR_INDEX}`);
        if (v.txitrIdx > I40E.MAX_ITR_INDEX) fail('VF_BAD_VALUE', op, `vecmap[${i}].txitr_idx`, base + 10, `ITR index ${v.txitrIdx} is above ${I40E.MAX_ITR_INDEX}`);
      });
      return;
    }
    case Op.ENABLE_QUEUES:
    case Op.DISABLE_QUEUES:
      checkVsi(op, request.vsiId, ctx);
      if (request.rxQueues === 0 && request.txQueues === 0) fail('VF_BAD_BITMAP', op, 'rx_queues', 4, 'both queue bitmaps are zero');
      checkQueueBitmap(op, request.rxQueues, ctx, 'rx_queues', 4);
      checkQueueBitmap(op, request.txQueues, ctx, 'tx_queues', 8);
      return;
    case Op.GET_STATS:
      checkVsi(op, request.vsiId, ctx);
      return;
    case Op.ADD_ETH_ADDR:
    case Op.DEL_ETH_ADDR: {
      checkVsi(op, request.vsiId, ctx);
      const adding = op === Op.ADD_ETH_ADDR;
      const added = new Set<string>();
      request.addrs.forEach((a, i) => {
        const offset = Size.LIST_HEADER + i * Size.ETHER_ADDR;
        if (isBroadcastMac(a.addr) || isZeroMac(a.addr)) fail('VF_BAD_MAC', op, `list[${i}].addr`, offset, `${a.addr} cannot be a filter (broadcast or zero)`);
        if (a.type > MacType.EXTRA) fail('VF_BAD_MAC', op, `list[${i}].type`, offset + 6, `address type ${a.type} is not legacy (0), primary (1) or extra (2)`);
        const host = ctx.hostMac?.toLowerCase();
        if (!ctx.trusted && host) {
          if (adding && !isMulticastMac(a.addr) && a.addr !== host) {
            fail('VF_NOT_PERMITTED', op, `list[${i}].addr`, offset, `the host set this VF's MAC to ${host}; an untrusted VF may not add unicast ${a.addr}`);
          }
          if (!adding && a.addr === host) fail('VF_NOT_PERMITTED', op, `list[${i}].addr`, offset, `${a.addr} was set by the host and cannot be deleted by an untrusted VF`);
        }
        if (!adding && ctx.macs && !ctx.macs.has(a.addr)) fail('VF_BAD_MAC', op, `list[${i}].addr`, offset, `${a.addr} is not a filter of this VF`);
        if (adding && !ctx.macs?.has(a.addr)) added.add(a.addr);
      });
      if (adding && !ctx.trusted && (ctx.macs?.size ?? 0) + added.size > ctx.maxMacFilters) {
        fail('VF_FILTER_LIMIT', op, 'num_elements', 2, `an untrusted VF may hold ${ctx.maxMacFilters} MAC filters; this would make ${(ctx.macs?.size ?? 0) + added.size}`);
      }
      return;
    }
    case Op.ADD_VLAN:
    case Op.DEL_VLAN: {
      checkVsi(op, request.vsiId, ctx);
      if (ctx.portVlan !== undefined && ctx.portVlan !== null) fail('VF_NOT_PERMITTED', op, 'vlan_id[0]', Size.LIST_HEADER, `the host set port VLAN ${ctx.portVlan}; VLAN filters are refused`);
      const added = new Set<number>();
      request.vlanIds.forEach((id, i) => {
        if (id > I40E.MAX_VLAN_ID) fail('VF_BAD_VLAN', op, `vlan_id[${i}]`, Size.LIST_HEADER + i * Size.VLAN_ID, `VLAN id ${id} is above ${I40E.MAX_VLAN_ID}`);
        if (!ctx.vlans?.has(id)) added.add(id);
      });
      if (op === Op.ADD_VLAN && !ctx.trusted && (ctx.vlans?.size ?? 0) + added.size > ctx.maxVlanFilters) {
        fail('VF_FILTER_LIMIT', op, 'num_elements', 2, `an untrusted VF may hold ${ctx.maxVlanFilters} VLAN filters; this would make ${(ctx.vlans?.size ?? 0) + added.size}`);
      }
      return;
    }
    case Op.CONFIG_PROMISCUOUS_MODE:
      checkVsi(op, request.vsiId, ctx);
      if (request.flags > 3) fail('VF_BAD_VALUE', op, 'flags', 2, `promiscuous flags 0x${request.flags.toString(16)} has bits other than unicast (0x1) and multicast (0x2)`);
      return;
    case Op.CONFIG_RSS_KEY:
      checkVsi(op, request.vsiId, ctx);
      if (request.key.length !== ctx.rssKeySize) fail('VF_BAD_SIZE', op, 'key_len', 2, `RSS key of ${request.key.length} bytes, the PF needs ${ctx.rssKeySize}`);
      return;
    case Op.CONFIG_RSS_LUT:
      checkVsi(op, request.vsiId, ctx);
      if (request.lut.length !== ctx.rssLutSize) fail('VF_BAD_SIZE', op, 'lut_entries', 2, `RSS LUT of ${request.lut.length} entries, the PF needs ${ctx.rssLutSize}`);
      request.lut.forEach((entry, i) => {
        if (entry >= ctx.numQueuePairs) fail('VF_BAD_QUEUE_ID', op, `lut[${i}]`, Size.LIST_HEADER + i, `LUT entry ${entry} names a queue beyond the VF's ${ctx.numQueuePairs}`);
      });
      return;
    case Op.CONFIG_RSS_HFUNC:
      checkVsi(op, request.vsiId, ctx);
      if (request.algorithm > RssAlgorithm.XOR_SYMMETRIC) fail('VF_BAD_VALUE', op, 'rss_algorithm', 2, `RSS algorithm ${request.algorithm} is unknown`);
      return;
    default:
      return;
  }
}
