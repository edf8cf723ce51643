import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { CaptureWriter, parseCapture, RECORD_HEADER_SIZE } from '../../../src/vfio/capture.js';
import { CaptureError } from '../../../src/vfio/errors.js';
import { Op, Status } from '../../../src/vfio/opcodes.js';
import { reduceCapture } from '../../../src/vfio/reduce.js';

function twoRecords(): Buffer {
  return new CaptureWriter()
    .request(1000n, Op.VERSION, Buffer.from('0100000001000000', 'hex'))
    .reply(2000n, Op.VERSION, Status.SUCCESS, Buffer.from('0100000001000000', 'hex'))
    .toBuffer();
}

describe('capture format', () => {
  it('writes the magic, then 48-byte record headers and exactly datalen payload bytes', () => {
    const bytes = twoRecords();
    expect(bytes.subarray(0, 8).toString('ascii')).toBe('I40EAQ01');
    expect(bytes.length).toBe(8 + 2 * (RECORD_HEADER_SIZE + 8));
    expect(bytes.readBigUInt64LE(8)).toBe(1000n);
    expect(bytes.readUInt8(16)).toBe(0);
    expect(bytes.readUInt16LE(8 + 16 + 2)).toBe(0x0801);
    expect(bytes.readUInt16LE(8 + 16 + 4)).toBe(8);
    expect(bytes.readUInt32LE(8 + 16 + 8)).toBe(Op.VERSION);
    const second = 8 + RECORD_HEADER_SIZE + 8;
    expect(bytes.readUInt8(second + 8)).toBe(1);
    expect(bytes.readUInt16LE(second + 16 + 2)).toBe(0x0802);
  });

  it('reads back what it wrote', () => {
    const { records, error } = parseCapture(twoRecords());
    expect(error).toBeNull();
    expect(records.map((r) => [r.index, r.direction, r.descriptor.cookieHigh, r.payload.toString('hex')])).toEqual([
      [0, 0, 1, '0100000001000000'],
      [1, 1, 1, '0100000001000000'],
    ]);
  });

  it('stores the PF status as s32 in cookie_low', () => {
    const bytes = new CaptureWriter().reply(1n, Op.ADD_VLAN, Status.ERR_PARAM, Buffer.alloc(0)).toBuffer();
    expect(bytes.readInt32LE(8 + 16 + 12)).toBe(-5);
  });

  it.each([
    ['a wrong magic', (b: Buffer) => b.write('I40EAQ02', 0, 'ascii'), 'CAPTURE_BAD_MAGIC', undefined, 0],
    ['a direction of 2', (b: Buffer) => b.writeUInt8(2, 8 + 8), 'CAPTURE_CORRUPT', 0, 16],
    ['a reserved byte set', (b: Buffer) => b.writeUInt8(1, 8 + 12), 'CAPTURE_CORRUPT', 0, 20],
    ['a PF opcode on a VF record', (b: Buffer) => b.writeUInt16LE(0x0802, 8 + 18), 'CAPTURE_CORRUPT', 0, 26],
    ['time going backwards', (b: Buffer) => b.writeBigUInt64LE(10n, 8 + RECORD_HEADER_SIZE + 8), 'CAPTURE_CORRUPT', 1, 8 + RECORD_HEADER_SIZE + 8],
    ['a datalen over 4096', (b: Buffer) => b.writeUInt16LE(5000, 8 + RECORD_HEADER_SIZE + 8 + 20), 'CAPTURE_CORRUPT', 1, 8 + RECORD_HEADER_SIZE + 8 + 20],
  ] as const)('rejects %s with the record index and byte offset', (_name, damage, code, recordIndex, offset) => {
    const bytes = twoRecords();
    damage(bytes);
    const { records, error } = parseCapture(bytes, { file: 'x.cap' });
    expect(error?.code).toBe(code);
    expect(error?.offset).toBe(offset);
    expect(error?.recordIndex).toBe(recordIndex);
    expect(error?.message).toMatch(/^x\.cap, /);
    expect(records).toHaveLength(recordIndex ?? 0);
  });

  it('keeps every whole record before a truncation, at any cut', () => {
    const bytes = twoRecords();
    const firstEnd = 8 + RECORD_HEADER_SIZE + 8;
    for (let cut = 8; cut < bytes.length; cut++) {
      const { records, error } = parseCapture(bytes.subarray(0, cut));
      const whole = cut >= firstEnd ? 1 : 0;
      expect(records).toHaveLength(whole);
      if (cut === 8 || cut === firstEnd) expect(error).toBeNull();
      else expect(error?.code).toBe('CAPTURE_TRUNCATED');
    }
  });

  it('random bytes (with or without the magic) never crash the parser or the reducer', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.uint8Array({ maxLength: 600 }), (withMagic, tail) => {
        const bytes = withMagic ? Buffer.concat([Buffer.from('I40EAQ01'), tail]) : Buffer.from(tail);
        const { records, error } = parseCapture(bytes);
        if (error) expect(error).toBeInstanceOf(CaptureError);
        reduceCapture(records);
      }),
      { numRuns: 2000 },
    );
  });

  it('records made of random descriptors and payloads reduce without crashing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dir: fc.constantFrom(0, 1), opcode: fc.integer({ min: 0, max: 60 }), status: fc.constantFrom(0, -5, -38), payload: fc.uint8Array({ maxLength: 120 }) }), { maxLength: 40 }),
        (items) => {
          const writer = new CaptureWriter();
          items.forEach((item, i) => (item.dir === 0 ? writer.request(BigInt(i), item.opcode, item.payload) : writer.reply(BigInt(i), item.opcode, item.status, item.payload)));
          const { records, error } = parseCapture(writer.toBuffer());
          expect(error).toBeNull();
          const { counters } = reduceCapture(records);
          expect(counters.messages).toBe(items.length);
        },
      ),
      { numRuns: 500 },
    );
  });
});
