/** Random VF histories, driven through the PF model into captures. */
import fc from 'fast-check';
import type { DestinationFacts } from '../../../src/vfio/facts.js';
import type { VfRequest } from '../../../src/vfio/messages.js';
import { MacType, Op } from '../../../src/vfio/opcodes.js';
import { RecordingPf } from '../../../src/vfio/recorder.js';

/** One step of a guest's life; vsi ids are filled in from the VF's state when sent. */
export type Step =
  | { kind: 'init'; minor: 0 | 1; caps: number }
  | { kind: 'request'; build: (vsiId: number) => VfRequest }
  | { kind: 'pfReset' }
  /** what Linux iavf does after a reset: GET_VF_RESOURCES again, without VERSION */
  | { kind: 'reinit'; caps: number }
  | { kind: 'link'; up: boolean };

const macPool = ['02:00:00:00:00:01', '02:00:00:00:00:02', '52:54:00:12:34:56', '01:00:5e:00:00:01', '01:00:5e:00:00:02', '33:33:00:00:00:01', '33:33:ff:00:00:01', '01:80:c2:00:00:0e'];
const macArb = fc.constantFrom(...macPool);
const bitmap = fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 0xf }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x3f }) });
const aligned = fc.bigInt({ min: 1n, max: 1n << 40n }).map((x) => x * 128n);

const pairArb = (q: number) =>
  fc.record({ ringLen: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(64, 256, 512, 1024) }, { weight: 1, arbitrary: fc.constant(100) }), dma: aligned, rxBuf: fc.constantFrom(2048, 3072), maxPkt: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(1522, 9000) }, { weight: 1, arbitrary: fc.constant(20) }) }).map(
    (p) => (vsiId: number) => ({
      txq: { vsiId, queueId: q, ringLen: p.ringLen, headwbEnabled: 0, dmaRingAddr: p.dma, dmaHeadwbAddr: 0n },
      rxq: { vsiId, queueId: q, ringLen: p.ringLen, hdrSize: 0, splithdrEnabled: 0, databufferSize: p.rxBuf, maxPktSize: p.maxPkt, crcDisable: 0, rxdid: 1, flags: 0, dmaRingAddr: p.dma + 0x1000n, rxSplitPos: 0 },
    }),
  );

const requestStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.record({ addr: macArb, type: fc.constantFrom(MacType.LEGACY, MacType.PRIMARY, MacType.EXTRA) }), { minLength: 1, maxLength: 3 }).map((addrs) => ({ kind: 'request' as const, build: (vsiId: number) => ({ opcode: Op.ADD_ETH_ADDR, vsiId, addrs }) })) },
  { weight: 3, arbitrary: fc.array(macArb, { minLength: 1, maxLength: 2 }).map((addrs) => ({ kind: 'request' as const, build: (vsiId: number) => ({ opcode: Op.DEL_ETH_ADDR, vsiId, addrs: addrs.map((addr) => ({ addr, type: 0 })) }) })) },
  { weight: 4, arbitrary: fc.array(fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constant(4096)), { minLength: 1, maxLength: 4 }).map((ids) => ({ kind: 'request' as const, build: (vsiId: number) => ({ opcode: Op.ADD_VLAN, vsiId, vlanIds: ids }) })) },
  { weight: 2, arbitrary: fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 3 }).map((ids) => ({ kind: 'request' as const, build: (vsiId: number) => ({ opcode: Op.DEL_VLAN, vsiId, vlanIds: ids }) })) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 4 }).map((flags) => ({ kind: 'request' as const, build: (vsiId: number) => ({ opcode: Op.CONFIG_PROMISCUOUS_MODE, vsiId, flags }) })) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 52, maxLength: 52 }).map((key) => ({ kind: 'request' as const, build: (vsiId: number) => ({ opcode: Op.CONFIG_RSS_KEY, vsiId, key: Buffer.from(key) }) })) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 64, maxLength: 64, max: 4 }).map((lut) => ({ kind: 'request' as const, build: (vsiId: number) => ({ opcode: Op.CONFIG_RSS_LUT, vsiId, lut: Buffer.from(lut) }) })) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((hena) => ({ kind: 'request' as const, build: () => ({ opcode: Op.SET_RSS_HENA, hena }) })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 4 }).map((algorithm) => ({ kind: 'request' as const, build: (vsiId: number) => ({ opcode: Op.CONFIG_RSS_HFUNC, vsiId, algorithm }) })) },
  { weight: 3, arbitrary: fc.uniqueArray(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 2 }).chain((ids) => fc.tuple(...ids.map(pairArb))).map((builders) => ({ kind: 'request' as const, build: (vsiId: number) => ({ opcode: Op.CONFIG_VSI_QUEUES, vsiId, queuePairs: builders.map((b) => b(vsiId)) }) })) },
  {
    weight: 2,
    arbitrary: fc.array(fc.record({ vectorId: fc.integer({ min: 0, max: 5 }).map((v) => (v === 5 ? 5 : v % 5)), rxqMap: bitmap, txqMap: bitmap, rxitrIdx: fc.integer({ min: 0, max: 3 }), txitrIdx: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 3 }).map((vectors) => ({
      kind: 'request' as const,
      build: (vsiId: number) => ({ opcode: Op.CONFIG_IRQ_MAP, vectors: vectors.map((v) => ({ vsiId, ...v })) }),
    })),
  },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(Op.ENABLE_QUEUES, Op.ENABLE_QUEUES, Op.DISABLE_QUEUES), bitmap, bitmap).map(([opcode, rx, tx]) => ({ kind: 'request' as const, build: (vsiId: number) => ({ opcode, vsiId, rxQueues: rx, txQueues: tx }) as VfRequest })) },
  { weight: 1, arbitrary: fc.constantFrom(Op.ENABLE_VLAN_STRIPPING, Op.DISABLE_VLAN_STRIPPING, Op.GET_RSS_HENA_CAPS).map((opcode) => ({ kind: 'request' as const, build: () => ({ opcode }) as VfRequest })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'request' as const, build: (vsiId: number) => ({ opcode: Op.GET_STATS, vsiId, rxQueues: 0, txQueues: 0 }) as VfRequest }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 10 }).map((n) => ({ kind: 'request' as const, build: () => ({ opcode: Op.REQUEST_QUEUES, numQueuePairs: n }) as VfRequest })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'request' as const, build: () => ({ opcode: Op.RESET_VF }) as VfRequest }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'request' as const, build: (vsiId: number) => ({ opcode: Op.ADD_VLAN, vsiId: vsiId + 1, vlanIds: [7] }) }) },
);

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 20, arbitrary: requestStep },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('init' as const), minor: fc.constantFrom(0 as const, 1 as const), caps: fc.integer({ min: 0, max: 0xfffff }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'pfReset' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reinit' as const), caps: fc.integer({ min: 0, max: 0xfffff }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('link' as const), up: fc.boolean() }) },
);

/** A history starts with a bring-up, as every real one does. */
export const historyArb = fc.tuple(fc.record({ kind: fc.constant('init' as const), minor: fc.constantFrom(0 as const, 1 as const), caps: fc.integer({ min: 0, max: 0xfffff }) }), fc.array(stepArb, { maxLength: 80 })).map(([first, rest]) => [first as Step, ...rest]);

/** Plays a history on a PF with `facts`; returns the recorder (capture + the PF's own view). */
export function play(history: readonly Step[], facts: DestinationFacts): RecordingPf {
  const pf = new RecordingPf(facts);
  for (const step of history) {
    switch (step.kind) {
      case 'init':
        pf.send({ opcode: Op.VERSION, version: { major: 1, minor: step.minor } });
        pf.send({ opcode: Op.GET_VF_RESOURCES, caps: step.minor === 1 ? step.caps : null });
        break;
      case 'request':
        pf.send(step.build(pf.state.resources?.vsiId ?? facts.vsiId));
        break;
      case 'pfReset':
        pf.pfReset();
        break;
      case 'reinit': {
        // the bitmap as the PF expects it from the version it kept (a 1.0 VF sends none)
        const v11 = pf.state.vfVersion?.major === 1 && pf.state.vfVersion.minor === 1;
        pf.send({ opcode: Op.GET_VF_RESOURCES, caps: v11 ? step.caps : null });
        break;
      }
      case 'link':
        pf.linkChange(step.up);
        break;
    }
  }
  return pf;
}
