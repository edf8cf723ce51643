import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { VirtchnlError } from '../../../src/vfio/errors.js';
import { encodeRequest, type QueuePairInfo, type VfRequest } from '../../../src/vfio/messages.js';
import { Op, Status } from '../../../src/vfio/opcodes.js';
import { defaultRequestContext, validateVfRequest, type VfRequestContext } from '../../../src/vfio/validate.js';

const VSI = 12;
const ctx = (overrides: Partial<VfRequestContext> = {}): VfRequestContext => defaultRequestContext({ vsiId: VSI, numQueuePairs: 4, ...overrides });

function refusal(request: VfRequest, context = ctx()): VirtchnlError {
  const result = validateVfRequest(request.opcode, encodeRequest(request), context);
  if (result.ok) throw new Error(`expected ${request.opcode} to be refused`);
  return result.error;
}

function accepted(request: VfRequest, context = ctx()): boolean {
  return validateVfRequest(request.opcode, encodeRequest(request), context).ok;
}

function pair(queueId: number, overrides: { tx?: object; rx?: object } = {}): QueuePairInfo {
  return {
    txq: { vsiId: VSI, queueId, ringLen: 512, headwbEnabled: 0, dmaRingAddr: 0x10000n, dmaHeadwbAddr: 0n, ...overrides.tx },
    rxq: { vsiId: VSI, queueId, ringLen: 512, hdrSize: 0, splithdrEnabled: 0, databufferSize: 2048, maxPktSize: 1522, crcDisable: 0, rxdid: 1, flags: 0, dmaRingAddr: 0x20000n, rxSplitPos: 0, ...overrides.rx },
  };
}

describe('lengths and opcodes', () => {
  it('a wrong length gets ERR_OPCODE_MISMATCH (-38)', () => {
    const result = validateVfRequest(Op.ENABLE_QUEUES, Buffer.alloc(11), ctx());
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.status).toBe(Status.ERR_OPCODE_MISMATCH);
  });

  it('GET_VF_RESOURCES length follows the VF version: 4 for 1.1, 0 for 1.0', () => {
    expect(accepted({ opcode: Op.GET_VF_RESOURCES, caps: 1 }, ctx({ apiVersion: { major: 1, minor: 1 } }))).toBe(true);
    expect(refusal({ opcode: Op.GET_VF_RESOURCES, caps: 1 }, ctx({ apiVersion: { major: 1, minor: 0 } })).status).toBe(Status.ERR_OPCODE_MISMATCH);
    expect(accepted({ opcode: Op.GET_VF_RESOURCES, caps: null }, ctx({ apiVersion: { major: 1, minor: 0 } }))).toBe(true);
  });

  it('EVENT and unknown opcodes get ERR_PARAM', () => {
    for (const opcode of [Op.EVENT, Op.UNKNOWN, 99]) {
      const result = validateVfRequest(opcode, Buffer.alloc(0), ctx());
      expect(result.ok ? 0 : result.error.status).toBe(Status.ERR_PARAM);
    }
  });

  it('legacy CONFIG_TX_QUEUE is not supported by the i40e PF', () => {
    expect(refusal({ opcode: Op.CONFIG_TX_QUEUE, txq: pair(0).txq }).status).toBe(Status.ERR_NOT_SUPPORTED);
  });

  it('most opcodes need an active VF; VERSION and GET_VF_RESOURCES do not', () => {
    const inactive = ctx({ active: false });
    expect(refusal({ opcode: Op.ADD_VLAN, vsiId: VSI, vlanIds: [5] }, inactive).code).toBe('VF_NOT_ACTIVE');
    expect(accepted({ opcode: Op.VERSION, version: { major: 1, minor: 1 } }, inactive)).toBe(true);
    expect(accepted({ opcode: Op.GET_VF_RESOURCES, caps: 0 }, inactive)).toBe(true);
  });
});

describe('queues', () => {
  it('accepts a well-formed queue configuration', () => {
    expect(accepted({ opcode: Op.CONFIG_VSI_QUEUES, vsiId: VSI, queuePairs: [pair(0), pair(1)] })).toBe(true);
  });

  it.each([
    ['another VSI', { opcode: Op.CONFIG_VSI_QUEUES, vsiId: 99, queuePairs: [pair(0)] }, 'VF_BAD_VSI_ID', 'vsi_id', 0],
    ['rxq of another VSI', { opcode: Op.CONFIG_VSI_QUEUES, vsiId: VSI, queuePairs: [pair(0, { rx: { vsiId: 3 } })] }, 'VF_BAD_VSI_ID', 'qpair[0].rxq.vsi_id', 32],
    ['queue beyond the VF', { opcode: Op.CONFIG_VSI_QUEUES, vsiId: VSI, queuePairs: [pair(4)] }, 'VF_BAD_QUEUE_ID', 'qpair[0].txq.queue_id', 10],
    ['rx and tx ids differ', { opcode: Op.CONFIG_VSI_QUEUES, vsiId: VSI, queuePairs: [pair(0), pair(1, { rx: { queueId: 2 } })] }, 'VF_BAD_QUEUE_ID', 'qpair[1].rxq.queue_id', 98],
    ['misaligned TX ring', { opcode: Op.CONFIG_VSI_QUEUES, vsiId: VSI, queuePairs: [pair(0, { tx: { dmaRingAddr: 0x10040n } })] }, 'VF_BAD_ALIGNMENT', 'qpair[0].txq.dma_ring_addr', 16],
    ['misaligned RX ring', { opcode: Op.CONFIG_VSI_QUEUES, vsiId: VSI, queuePairs: [pair(0, { rx: { dmaRingAddr: 0x20001n } })] }, 'VF_BAD_ALIGNMENT', 'qpair[0].rxq.dma_ring_addr', 56],
    ['RX ring not a multiple of 32', { opcode: Op.CONFIG_VSI_QUEUES, vsiId: VSI, queuePairs: [pair(0, { rx: { ringLen: 100 } })] }, 'VF_BAD_SIZE', 'qpair[0].rxq.ring_len', 36],
    ['RX buffer too big', { opcode: Op.CONFIG_VSI_QUEUES, vsiId: VSI, queuePairs: [pair(0, { rx: { databufferSize: 16384 } })] }, 'VF_BAD_SIZE', 'qpair[0].rxq.databuffer_size', 44],
    ['max packet under 64', { opcode: Op.CONFIG_VSI_QUEUES, vsiId: VSI, queuePairs: [pair(0, { rx: { maxPktSize: 63 } })] }, 'VF_BAD_SIZE', 'qpair[0].rxq.max_pkt_size', 48],
    ['empty queue bitmaps', { opcode: Op.ENABLE_QUEUES, vsiId: VSI, rxQueues: 0, txQueues: 0 }, 'VF_BAD_BITMAP', 'rx_queues', 4],
    ['queue bit beyond the VF', { opcode: Op.DISABLE_QUEUES, vsiId: VSI, rxQueues: 1, txQueues: 0x10 }, 'VF_BAD_BITMAP', 'tx_queues', 8],
    ['vector beyond the VF', { opcode: Op.CONFIG_IRQ_MAP, vectors: [{ vsiId: VSI, vectorId: 5, rxqMap: 1, txqMap: 1, rxitrIdx: 0, txitrIdx: 0 }] }, 'VF_BAD_VECTOR', 'vecmap[0].vector_id', 4],
    ['IRQ map naming a missing queue', { opcode: Op.CONFIG_IRQ_MAP, vectors: [{ vsiId: VSI, vectorId: 1, rxqMap: 0x20, txqMap: 1, rxitrIdx: 0, txitrIdx: 0 }] }, 'VF_BAD_BITMAP', 'vecmap[0].rxq_map', 6],
  ] as const)('refuses %s with the field and offset', (_name, request, code, field, offset) => {
    const error = refusal(request as VfRequest);
    expect(error.code).toBe(code);
    expect(error.field).toBe(field);
    expect(error.offset).toBe(offset);
    expect(error.status).toBe(Status.ERR_PARAM);
  });
});

describe('MAC and VLAN filters', () => {
  const add = (...addrs: string[]): VfRequest => ({ opcode: Op.ADD_ETH_ADDR, vsiId: VSI, addrs: addrs.map((addr) => ({ addr, type: 2 })) });

  it('refuses broadcast and zero addresses', () => {
    expect(refusal(add('02:00:00:00:00:01', 'ff:ff:ff:ff:ff:ff')).field).toBe('list[1].addr');
    expect(refusal(add('00:00:00:00:00:00')).offset).toBe(4);
  });

  it('limits an untrusted VF to maxMacFilters, counting what it already holds', () => {
    const macs = new Set(Array.from({ length: 17 }, (_, i) => `33:33:00:00:00:${i.toString(16).padStart(2, '0')}`));
    expect(accepted(add('02:00:00:00:00:01'), ctx({ macs }))).toBe(true);
    expect(refusal(add('02:00:00:00:00:01', '02:00:00:00:00:02'), ctx({ macs })).code).toBe('VF_FILTER_LIMIT');
    expect(accepted(add('02:00:00:00:00:01', '02:00:00:00:00:02'), ctx({ macs, trusted: true }))).toBe(true);
    // re-adding a filter it holds does not count
    expect(accepted(add('33:33:00:00:00:00', '02:00:00:00:00:01'), ctx({ macs }))).toBe(true);
  });

  it('an untrusted VF may not add another unicast MAC when the host set one', () => {
    const context = ctx({ hostMac: '52:54:00:00:00:01' });
    expect(refusal(add('52:54:00:00:00:02'), context).code).toBe('VF_NOT_PERMITTED');
    expect(accepted(add('52:54:00:00:00:01'), context)).toBe(true);
    expect(accepted(add('01:00:5e:00:00:01'), context)).toBe(true);
  });

  it('deleting a MAC the VF does not hold is refused', () => {
    const error = refusal({ opcode: Op.DEL_ETH_ADDR, vsiId: VSI, addrs: [{ addr: '02:00:00:00:00:09', type: 2 }] }, ctx({ macs: new Set() }));
    expect(error.code).toBe('VF_BAD_MAC');
  });

  it('refuses VLAN ids above 4095, VLAN filters under a port VLAN, and too many for an untrusted VF', () => {
    expect(refusal({ opcode: Op.ADD_VLAN, vsiId: VSI, vlanIds: [10, 4096] }).field).toBe('vlan_id[1]');
    expect(refusal({ opcode: Op.ADD_VLAN, vsiId: VSI, vlanIds: [10] }, ctx({ portVlan: 100 })).code).toBe('VF_NOT_PERMITTED');
    const vlans = new Set(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(refusal({ opcode: Op.ADD_VLAN, vsiId: VSI, vlanIds: [100] }, ctx({ vlans })).code).toBe('VF_FILTER_LIMIT');
    expect(accepted({ opcode: Op.ADD_VLAN, vsiId: VSI, vlanIds: [100] }, ctx({ vlans, trusted: true }))).toBe(true);
  });
});

describe('RSS and promiscuous mode', () => {
  it('needs the PF key and LUT sizes and LUT entries within the queues', () => {
    expect(refusal({ opcode: Op.CONFIG_RSS_KEY, vsiId: VSI, key: Buffer.alloc(40) }).field).toBe('key_len');
    expect(accepted({ opcode: Op.CONFIG_RSS_KEY, vsiId: VSI, key: Buffer.alloc(52) })).toBe(true);
    const lut = Buffer.alloc(64, 1);
    lut[10] = 4;
    const error = refusal({ opcode: Op.CONFIG_RSS_LUT, vsiId: VSI, lut });
    expect([error.field, error.offset]).toEqual(['lut[10]', 14]);
  });

  it('refuses promiscuous flags beyond unicast and multicast', () => {
    expect(refusal({ opcode: Op.CONFIG_PROMISCUOUS_MODE, vsiId: VSI, flags: 4 }).code).toBe('VF_BAD_VALUE');
  });
});

describe('robustness', () => {
  it('random payloads under any opcode give ok or a typed refusal, never a throw', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 }), fc.uint8Array({ maxLength: 200 }), fc.boolean(), (opcode, bytes, active) => {
        const result = validateVfRequest(opcode, bytes, ctx({ active }));
        if (!result.ok) {
          expect(result.error).toBeInstanceOf(VirtchnlError);
          expect(result.error.status).toBeLessThan(0);
          expect(result.error.details).toHaveProperty('offset');
        }
      }),
      { numRuns: 3000 },
    );
  });
});
