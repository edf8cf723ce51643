import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { VirtchnlError } from '../../../src/vfio/errors.js';
import { decodeReply, decodeRequest, encodeReply, encodeRequest } from '../../../src/vfio/messages.js';
import { Op, Status } from '../../../src/vfio/opcodes.js';
import { replyArb, requestArb } from './arbitraries.js';

describe('virtchnl request layouts', () => {
  it('VERSION is major then minor, u32 LE', () => {
    expect(encodeRequest({ opcode: Op.VERSION, version: { major: 1, minor: 1 } }).toString('hex')).toBe('0100000001000000');
  });

  it('ADD_ETH_ADDR carries the legacy trailing element: 12 + 8n bytes', () => {
    const bytes = encodeRequest({ opcode: Op.ADD_ETH_ADDR, vsiId: 0x12, addrs: [{ addr: '02:00:00:00:00:01', type: 1 }] });
    expect(bytes.length).toBe(20);
    expect(bytes.toString('hex')).toBe('12000100' + '020000000001' + '0100' + '0000000000000000');
  });

  it('ADD_VLAN is 6 + 2n bytes, ids u16 LE from byte 4', () => {
    const bytes = encodeRequest({ opcode: Op.ADD_VLAN, vsiId: 3, vlanIds: [100, 4095] });
    expect(bytes.toString('hex')).toBe('03000200' + '6400' + 'ff0f' + '0000');
  });

  it('CONFIG_VSI_QUEUES puts txq at 8 + 64i and rxq 24 bytes later; 72 + 64n bytes', () => {
    const bytes = encodeRequest({
      opcode: Op.CONFIG_VSI_QUEUES,
      vsiId: 7,
      queuePairs: [
        {
          txq: { vsiId: 7, queueId: 0, ringLen: 512, headwbEnabled: 0, dmaRingAddr: 0x1_0000_0080n, dmaHeadwbAddr: 0n },
          rxq: { vsiId: 7, queueId: 0, ringLen: 512, hdrSize: 0, splithdrEnabled: 0, databufferSize: 2048, maxPktSize: 1522, crcDisable: 0, rxdid: 1, flags: 0, dmaRingAddr: 0x2_0000_0000n, rxSplitPos: 0 },
        },
      ],
    });
    expect(bytes.length).toBe(136);
    expect(bytes.readUInt16LE(8 + 4)).toBe(512);
    expect(bytes.readBigUInt64LE(8 + 8)).toBe(0x1_0000_0080n);
    expect(bytes.readUInt32LE(32 + 12)).toBe(2048);
    expect(bytes.readUInt8(32 + 21)).toBe(1);
    expect(bytes.readBigUInt64LE(32 + 24)).toBe(0x2_0000_0000n);
  });

  it('CONFIG_IRQ_MAP is 14 + 12n bytes with the vector maps from byte 2', () => {
    const bytes = encodeRequest({ opcode: Op.CONFIG_IRQ_MAP, vectors: [{ vsiId: 1, vectorId: 1, rxqMap: 1, txqMap: 1, rxitrIdx: 0, txitrIdx: 1 }] });
    expect(bytes.toString('hex')).toBe('0100' + '010001000100010000000100' + '000000000000000000000000');
  });

  it('CONFIG_RSS_KEY is 5 + key_len bytes', () => {
    const bytes = encodeRequest({ opcode: Op.CONFIG_RSS_KEY, vsiId: 1, key: Buffer.alloc(52, 0xab) });
    expect(bytes.length).toBe(57);
    expect(bytes.readUInt16LE(2)).toBe(52);
  });

  it('GET_VF_RESOURCES has a bitmap for a 1.1 VF and nothing for a 1.0 VF', () => {
    expect(encodeRequest({ opcode: Op.GET_VF_RESOURCES, caps: 0x80061 }).toString('hex')).toBe('61000800');
    expect(encodeRequest({ opcode: Op.GET_VF_RESOURCES, caps: null }).length).toBe(0);
  });
});

describe('virtchnl reply layouts', () => {
  it('GET_VF_RESOURCES reply is 36 + 16 x num_vsis with vsi_res at byte 20', () => {
    const bytes = encodeReply({
      opcode: Op.GET_VF_RESOURCES,
      resource: {
        numQueuePairs: 4,
        maxVectors: 5,
        maxMtu: 9706,
        vfCapFlags: 0x1,
        rssKeySize: 52,
        rssLutSize: 64,
        vsis: [{ vsiId: 9, numQueuePairs: 4, vsiType: 6, qsetHandle: 9, defaultMacAddr: '52:54:00:12:34:56' }],
      },
    });
    expect(bytes.length).toBe(52);
    expect(bytes.readUInt16LE(20)).toBe(9);
    expect(bytes.readInt32LE(24)).toBe(6);
    expect(bytes.subarray(30, 36).toString('hex')).toBe('525400123456');
  });

  it('EVENT is event, link speed, link status, severity', () => {
    const bytes = encodeReply({ opcode: Op.EVENT, event: { event: 2, linkSpeed: 0, linkStatus: 0, severity: 255 } });
    expect(bytes.toString('hex')).toBe('02000000' + '00000000' + '00000000' + 'ff000000');
  });
});

describe('round trips', () => {
  it('decode(encode(request)) is the request', () => {
    fc.assert(
      fc.property(requestArb, (request) => {
        expect(decodeRequest(request.opcode, encodeRequest(request))).toEqual(request);
      }),
      { numRuns: 500 },
    );
  });

  it('encode(decode(bytes)) gives the same bytes', () => {
    fc.assert(
      fc.property(requestArb, (request) => {
        const bytes = encodeRequest(request);
        expect(encodeRequest(decodeRequest(request.opcode, bytes)).equals(bytes)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('decode(encode(reply)) is the reply', () => {
    fc.assert(
      fc.property(replyArb, (reply) => {
        expect(decodeReply(reply.opcode, encodeReply(reply))).toEqual(reply);
      }),
      { numRuns: 300 },
    );
  });
});

describe('length checks', () => {
  it('a list whose count disagrees with its length is refused with ERR_OPCODE_MISMATCH naming the count', () => {
    const bytes = encodeRequest({ opcode: Op.ADD_VLAN, vsiId: 3, vlanIds: [1, 2, 3] });
    bytes.writeUInt16LE(4, 2);
    const error = catchError(() => decodeRequest(Op.ADD_VLAN, bytes));
    expect(error.code).toBe('VF_BAD_LENGTH');
    expect(error.status).toBe(Status.ERR_OPCODE_MISMATCH);
    expect(error.message).toMatch(/num_elements = 4 means 14 bytes/);
  });

  it('an empty list is a format error', () => {
    const error = catchError(() => decodeRequest(Op.ADD_ETH_ADDR, Buffer.alloc(12)));
    expect(error.field).toBe('num_elements');
    expect(error.offset).toBe(2);
  });

  it('a message shorter than its header names the missing field and offset', () => {
    const error = catchError(() => decodeRequest(Op.CONFIG_IRQ_MAP, Buffer.alloc(1)));
    expect(error.field).toBe('num_vectors');
    expect(error.offset).toBe(0);
  });

  it('random bytes under any opcode decode or fail with a VirtchnlError, never anything else', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 70 }), fc.uint8Array({ maxLength: 300 }), (opcode, bytes) => {
        for (const decode of [decodeRequest, decodeReply]) {
          try {
            decode(opcode, bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(VirtchnlError);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

function catchError(fn: () => unknown): VirtchnlError {
  try {
    fn();
  } catch (error) {
    if (error instanceof VirtchnlError) return error;
    throw error;
  }
  throw new Error('expected a VirtchnlError');
}
