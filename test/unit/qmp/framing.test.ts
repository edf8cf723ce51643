import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { QmpLineDecoder } from '../../../src/qmp/framing.js';

describe('QmpLineDecoder', () => {
  it('splits several messages in one chunk and a message across chunks', () => {
    const decoder = new QmpLineDecoder();
    expect(decoder.push(Buffer.from('{"a":1}\r\n{"b":2}\r\n{"c"'))).toEqual([{ a: 1 }, { b: 2 }]);
    expect(decoder.buffered).toBe(4);
    expect(decoder.push(Buffer.from(':3}\r\n'))).toEqual([{ c: 3 }]);
    expect(decoder.buffered).toBe(0);
  });

  it('decodes the same messages however the stream is cut', () => {
    fc.assert(
      fc.property(fc.array(fc.dictionary(fc.string(), fc.jsonValue()), { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 6 }), (messages, cuts) => {
        const bytes = Buffer.from(messages.map((m) => `${JSON.stringify(m)}\r\n`).join(''));
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const decoder = new QmpLineDecoder();
        const out: unknown[] = [];
        let last = 0;
        for (const point of [...points, bytes.length]) {
          out.push(...decoder.push(bytes.subarray(last, point)));
          last = point;
        }
        expect(out).toEqual(JSON.parse(JSON.stringify(messages)));
      }),
    );
  });

  it('rejects a JSON value that is not an object', () => {
    expect(() => new QmpLineDecoder().push(Buffer.from('[1,2]\n'))).toThrow(expect.objectContaining({ code: 'QMP_MALFORMED_MESSAGE' }));
  });

  it('never throws anything but a protocol error on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          new QmpLineDecoder(128).push(Buffer.from(bytes));
        } catch (error) {
          expect(['QMP_MALFORMED_MESSAGE', 'QMP_MESSAGE_TOO_LARGE', 'QMP_MESSAGE_TOO_DEEP']).toContain((error as { code?: string }).code);
        }
      }),
    );
  });

  it('takes nesting up to QEMU\'s 1024 levels and refuses one more, before parsing', () => {
    const nested = (depth: number) => Buffer.from(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}\r\n`);
    expect(new QmpLineDecoder().push(nested(1024))).toHaveLength(1);
    expect(() => new QmpLineDecoder().push(nested(1025))).toThrow(expect.objectContaining({ code: 'QMP_MESSAGE_TOO_DEEP', exitCode: 22 }));
    // Arrays count as objects do; brackets inside strings do not count.
    expect(() => new QmpLineDecoder().push(Buffer.from(`{"a":${'['.repeat(1024)}${']'.repeat(1024)}}\n`))).toThrow(expect.objectContaining({ code: 'QMP_MESSAGE_TOO_DEEP' }));
    expect(new QmpLineDecoder().push(Buffer.from(`{"a":"${'[{'.repeat(5000)}\\"${'['.repeat(10)}"}\n`))).toHaveLength(1);
    // Past V8's stack, but refused at the limit: never a RangeError.
    expect(() => new QmpLineDecoder(64 << 20).push(nested(500_000))).toThrow(expect.objectContaining({ code: 'QMP_MESSAGE_TOO_DEEP' }));
  });
});
