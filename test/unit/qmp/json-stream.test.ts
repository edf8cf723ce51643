import { describe, expect, it } from '@jest/globals';
import { QemuJsonStream, type JsonStreamItem } from '../../../src/qmp/json-stream.js';
import { formatG17, formatQemuJson, qdictOrder } from '../../../src/qmp/json-writer.js';

/** What QEMU would reply to each item: the value as QEMU writes it, or the error text. */
function show(items: JsonStreamItem[]): string[] {
  return items.map((item) => (item.kind === 'value' ? formatQemuJson(item.value) : `error: ${item.message}`));
}

function feed(...chunks: (string | Buffer)[]): string[] {
  const stream = new QemuJsonStream();
  return chunks.flatMap((chunk) => show(stream.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)));
}

// Expected texts are QEMU 7.2's replies to the same input (qemu-system-x86_64 7.2.22, Debian).
describe('QemuJsonStream', () => {
  it('emits a value as soon as its closing brace arrives, with no newline', () => {
    expect(feed('{"execute":"qmp_capabilities"}')).toEqual(['{"execute": "qmp_capabilities"}']);
  });

  it('emits two values written together, and one written across several pushes', () => {
    expect(feed('{"a":1}{"b":2}')).toEqual(['{"a": 1}', '{"b": 2}']);
    const stream = new QemuJsonStream();
    expect(stream.push(Buffer.from('{"execute":"quer'))).toEqual([]);
    expect(stream.push(Buffer.from('y-na'))).toEqual([]);
    expect(stream.buffered).toBeGreaterThan(0);
    expect(show(stream.push(Buffer.from('me","id":9}')))).toEqual(['{"execute": "query-name", "id": 9}']);
    expect(stream.buffered).toBe(0);
  });

  it('splits a multi-byte character across pushes', () => {
    const bytes = Buffer.from('{"id":"é"}');
    const stream = new QemuJsonStream();
    const split = bytes.indexOf(0xc3) + 1;
    expect(stream.push(bytes.subarray(0, split))).toEqual([]);
    expect(show(stream.push(bytes.subarray(split)))).toEqual(['{"id": "\\u00E9"}']);
  });

  it('ends a number only at the next character, as QEMU', () => {
    const stream = new QemuJsonStream();
    expect(stream.push(Buffer.from('1'))).toEqual([]);
    expect(show(stream.push(Buffer.from(' ')))).toEqual(['1']);
  });

  it("names the fault in QEMU's words", () => {
    expect(feed('{"execute":foo}')).toEqual(["error: JSON parse error, invalid keyword 'foo'"]);
    expect(feed('{"execute":}')).toEqual(['error: JSON parse error, expecting value']);
    expect(feed('{"execute":"query-status","execute":"stop"}')).toEqual(['error: JSON parse error, duplicate key']);
    expect(feed('{"execute":"query-name",}')).toEqual(['error: JSON parse error, expecting value']);
    expect(feed('{"execute" "query-name"}')).toEqual(['error: JSON parse error, missing : in object pair']);
    expect(feed('{"execute":"query-name" "id":1}')).toEqual(['error: JSON parse error, expected separator in dict']);
    expect(feed('{1:2}')).toEqual(['error: JSON parse error, key is not a string in object']);
    expect(feed('[1 2]')).toEqual(['error: JSON parse error, expected separator in list']);
    expect(feed('"x\\q"')).toEqual(['error: JSON parse error, invalid escape sequence in string']);
    expect(feed('"\\ud800"')).toEqual(['error: JSON parse error, \\ud800 is not a valid Unicode character']);
    expect(feed(']')).toEqual(['error: JSON parse error, expecting value']);
  });

  it('refuses invalid UTF-8: in the parser, and 0xFE/0xFF already in the lexer, then resynchronises', () => {
    expect(feed(Buffer.from('7b226964223a22c0af227d', 'hex'))).toEqual(['error: JSON parse error, invalid UTF-8 sequence in string']);
    // QEMU: the stray token, then the '}' the recovery stopped at, then the next command.
    expect(feed(Buffer.from('{"execute":"query-\xffstatus"}{"a":1}', 'latin1'))).toEqual([
      `error: JSON parse error, stray '"query-\uFFFD'`,
      'error: JSON parse error, expecting value',
      '{"a": 1}',
    ]);
    expect(feed('{"id":"\t"}')).toEqual([`error: JSON parse error, stray '"\t'`, 'error: JSON parse error, expecting value']);
  });

  it('accepts modified UTF-8 NUL, single quotes and large integers exactly', () => {
    expect(feed(Buffer.from('22c08022', 'hex'), ' ')).toEqual(['"\\u0000"']);
    expect(feed("{'execute':'query-name'}")).toEqual(['{"execute": "query-name"}']);
    expect(feed('18446744073709551615 -0 1e3 0.1 12345678901234567890123 1.5 ')).toEqual([
      '18446744073709551615',
      '0',
      '1000',
      '0.10000000000000001',
      '1.2345678901234568e+22',
      '1.5',
    ]);
  });

  it('stops at nesting 1024 and recovers as QEMU does', () => {
    const deep = `{"execute":"query-status","id":${'['.repeat(1100)}${']'.repeat(1100)}}`;
    const replies = feed(deep, '{"a":1}');
    expect(replies[0]).toBe('error: JSON nesting depth limit exceeded');
    expect(replies[1]).toBe(`${'['.repeat(76)}${']'.repeat(76)}`);
    expect(replies.at(-1)).toBe('{"a": 1}');
    // 1100 - 1024 = 76 arrays left open after the error close as one value; each of the
    // remaining 1024 ']' and the final '}' is then a parse error of its own.
    expect(replies.filter((r) => r === 'error: JSON parse error, expecting value')).toHaveLength(1100 - 76 + 1);
  });

  it('enforces token count and size limits with QEMU texts', () => {
    const counted = new QemuJsonStream({ limits: { maxTokenCount: 10 } });
    expect(show(counted.push(Buffer.from('[1,1,1,1,1,1]{"a":1}')))).toEqual([
      'error: JSON token count limit exceeded',
      '1',
      'error: JSON parse error, expecting value',
      '{"a": 1}',
    ]);
    const sized = new QemuJsonStream({ limits: { maxTokenSize: 16 } });
    expect(show(sized.push(Buffer.from('["0123456789abcdefghij"] {"a":1}')))[0]).toBe('error: JSON token size limit exceeded');
  });
});

describe('formatQemuJson', () => {
  it("orders members as QEMU's QDict does", () => {
    expect(qdictOrder(['event', 'data', 'timestamp'])).toEqual(['timestamp', 'event', 'data']);
    expect(qdictOrder(['error', 'id'])).toEqual(['id', 'error']);
    expect(qdictOrder(['id', 'return'])).toEqual(['return', 'id']);
    expect(qdictOrder(['major', 'minor', 'micro'])).toEqual(['micro', 'minor', 'major']);
    expect(qdictOrder(['running', 'singlestep', 'status'])).toEqual(['status', 'singlestep', 'running']);
    expect(qdictOrder(['a', 'b', 'c', 'aa'])).toEqual(['aa', 'a', 'b', 'c']);
  });

  it('writes separators, escapes and numbers as QEMU', () => {
    expect(formatQemuJson({ return: {} })).toBe('{"return": {}}');
    expect(formatQemuJson({ id: 'a\u00e9\u{1f600}b\u0001' })).toBe('{"id": "a\\u00E9\\uD83D\\uDE00b\\u0001"}');
    expect(formatQemuJson({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 22 }, package: 'p' }, capabilities: ['oob'] } })).toBe(
      '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "p"}, "capabilities": ["oob"]}}',
    );
    expect(formatG17(0.1)).toBe('0.10000000000000001');
    expect(formatG17(268.5)).toBe('268.5');
    expect(formatG17(1e-5)).toBe('1.0000000000000001e-05');
    expect(formatG17(2 ** 60)).toBe('1.152921504606847e+18');
  });
});
