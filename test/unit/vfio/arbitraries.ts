/** fast-check generators of virtchnl messages, shared by the vfio tests. */
import fc from 'fast-check';
import type { PfReply, QueuePairInfo, RxQueueInfo, TxQueueInfo, VfRequest } from '../../../src/vfio/messages.js';
import { Op } from '../../../src/vfio/opcodes.js';

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const s32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
export const macArb = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':'));

export const txqArb: fc.Arbitrary<TxQueueInfo> = fc.record({ vsiId: u16, queueId: u16, ringLen: u16, headwbEnabled: u16, dmaRingAddr: u64, dmaHeadwbAddr: u64 });
export const rxqArb: fc.Arbitrary<RxQueueInfo> = fc.record({
  vsiId: u16,
  queueId: u16,
  ringLen: u32,
  hdrSize: u16,
  splithdrEnabled: u16,
  databufferSize: u32,
  maxPktSize: u32,
  crcDisable: u8,
  rxdid: u8,
  flags: u8,
  dmaRingAddr: u64,
  rxSplitPos: s32,
});
const pairArb: fc.Arbitrary<QueuePairInfo> = fc.record({ txq: txqArb, rxq: rxqArb });
const bytesArb = (max: number, min = 0) => fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b));

export const requestArb: fc.Arbitrary<VfRequest> = fc.oneof(
  fc.record({ opcode: fc.constant(Op.VERSION), version: fc.record({ major: u32, minor: u32 }) }),
  fc.constantFrom(Op.RESET_VF, Op.GET_RSS_HENA_CAPS, Op.ENABLE_VLAN_STRIPPING, Op.DISABLE_VLAN_STRIPPING).map((opcode) => ({ opcode }) as VfRequest),
  fc.record({ opcode: fc.constant(Op.GET_VF_RESOURCES), caps: fc.option(u32, { nil: null }) }),
  fc.record({ opcode: fc.constant(Op.CONFIG_TX_QUEUE), txq: txqArb }),
  fc.record({ opcode: fc.constant(Op.CONFIG_RX_QUEUE), rxq: rxqArb }),
  fc.record({ opcode: fc.constant(Op.CONFIG_VSI_QUEUES), vsiId: u16, queuePairs: fc.array(pairArb, { minLength: 1, maxLength: 16 }) }),
  fc.record({
    opcode: fc.constant(Op.CONFIG_IRQ_MAP),
    vectors: fc.array(fc.record({ vsiId: u16, vectorId: u16, rxqMap: u16, txqMap: u16, rxitrIdx: u16, txitrIdx: u16 }), { minLength: 1, maxLength: 20 }),
  }),
  fc.record({ opcode: fc.constantFrom(Op.ENABLE_QUEUES, Op.DISABLE_QUEUES, Op.GET_STATS), vsiId: u16, rxQueues: u32, txQueues: u32 }),
  fc.record({ opcode: fc.constantFrom(Op.ADD_ETH_ADDR, Op.DEL_ETH_ADDR), vsiId: u16, addrs: fc.array(fc.record({ addr: macArb, type: u8 }), { minLength: 1, maxLength: 50 }) }),
  fc.record({ opcode: fc.constantFrom(Op.ADD_VLAN, Op.DEL_VLAN), vsiId: u16, vlanIds: fc.array(u16, { minLength: 1, maxLength: 100 }) }),
  fc.record({ opcode: fc.constant(Op.CONFIG_PROMISCUOUS_MODE), vsiId: u16, flags: u16 }),
  fc.record({ opcode: fc.constant(Op.CONFIG_RSS_KEY), vsiId: u16, key: bytesArb(200, 1) }), // the kernel rejects key_len 0
  fc.record({ opcode: fc.constant(Op.CONFIG_RSS_LUT), vsiId: u16, lut: bytesArb(200, 1) }), // and lut_entries 0
  fc.record({ opcode: fc.constant(Op.SET_RSS_HENA), hena: u64 }),
  fc.record({ opcode: fc.constant(Op.CONFIG_RSS_HFUNC), vsiId: u16, algorithm: u16 }),
  fc.record({ opcode: fc.constant(Op.REQUEST_QUEUES), numQueuePairs: u16 }),
  fc.record({ opcode: fc.constantFrom(Op.ENABLE_CHANNELS, Op.ADD_CLOUD_FILTER, Op.GET_SUPPORTED_RXDIDS, Op.ADD_VLAN_V2), opaque: bytesArb(64) }),
) as fc.Arbitrary<VfRequest>;

export const replyArb: fc.Arbitrary<PfReply> = fc.oneof(
  fc.record({ opcode: fc.constant(Op.VERSION), version: fc.record({ major: u32, minor: u32 }) }),
  fc.record({
    opcode: fc.constant(Op.GET_VF_RESOURCES),
    resource: fc.record({
      numQueuePairs: u16,
      maxVectors: u16,
      maxMtu: u16,
      vfCapFlags: u32,
      rssKeySize: u32,
      rssLutSize: u32,
      vsis: fc.array(fc.record({ vsiId: u16, numQueuePairs: u16, vsiType: s32, qsetHandle: u16, defaultMacAddr: macArb }), { maxLength: 4 }),
    }),
  }),
  fc.record({ opcode: fc.constant(Op.GET_RSS_HENA_CAPS), hena: u64 }),
  fc.record({
    opcode: fc.constant(Op.GET_STATS),
    stats: fc.record({
      rxBytes: u64,
      rxUnicast: u64,
      rxMulticast: u64,
      rxBroadcast: u64,
      rxDiscards: u64,
      rxUnknownProtocol: u64,
      txBytes: u64,
      txUnicast: u64,
      txMulticast: u64,
      txBroadcast: u64,
      txDiscards: u64,
      txErrors: u64,
    }),
  }),
  fc.record({ opcode: fc.constant(Op.REQUEST_QUEUES), numQueuePairs: u16 }),
  fc.record({ opcode: fc.constant(Op.EVENT), event: fc.record({ event: s32, linkSpeed: u32, linkStatus: u8, severity: s32 }) }),
  fc.record({ opcode: fc.constantFrom(Op.ADD_ETH_ADDR, Op.CONFIG_IRQ_MAP, Op.ENABLE_QUEUES), empty: fc.constant(true as const) }),
) as fc.Arbitrary<PfReply>;
