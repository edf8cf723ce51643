/**
 * JSON as QEMU 7.2 writes it on a QMP monitor (qobject/qjson.c with util/json-writer.c,
 * compact mode): `{"return": {}}` with ", " and ": ", strings with every character outside
 * printable ASCII as an uppercase `\uXXXX`, doubles as C's `%.17g`, and object members in the
 * order QEMU's QDict iterates them, which is its hash table's bucket order (qobject/qdict.c):
 * that is why QEMU's events start with "timestamp" and its error replies put "id" first. A
 * transcript of the simulator therefore compares with one of QEMU as text. Pure.
 */

/** QDict's table size (QDICT_BUCKET_MAX). */
const BUCKETS = 512;

/** tdb_hash() of qobject/qdict.c over the key's UTF-8 bytes, 32-bit unsigned arithmetic. */
export function qdictBucket(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  let value = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) value = (value + (((bytes[i] as number) << ((i * 5) % 24)) >>> 0)) >>> 0;
  return ((Math.imul(1103515243, value) + 12345) >>> 0) % BUCKETS;
}

/**
 * The keys of `object` in QDict iteration order: by bucket, and within a bucket the key put
 * last first (qdict_put_obj() inserts at the head). Build objects in the order QEMU's QAPI
 * visitor inserts members (the schema's order) for ties to come out as QEMU's.
 */
export function qdictOrder(keys: readonly string[]): string[] {
  return keys
    .map((key, index) => ({ key, index, bucket: qdictBucket(key) }))
    .sort((a, b) => a.bucket - b.bucket || b.index - a.index)
    .map((entry) => entry.key);
}

/** One value as QEMU writes it. `undefined` members are left out, as JSON.stringify does. */
export function formatQemuJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'number':
      return formatNumber(value);
    case 'string':
      return quote(value);
    case 'object':
      break;
    default:
      throw new TypeError(`cannot write a ${typeof value} as QMP JSON`);
  }
  if (Array.isArray(value)) return `[${value.map((element) => formatQemuJson(element)).join(', ')}]`;
  const object = value as Record<string, unknown>;
  const keys = qdictOrder(Object.keys(object).filter((key) => object[key] !== undefined));
  return `{${keys.map((key) => `${quote(key)}: ${formatQemuJson(object[key])}`).join(', ')}}`;
}

/** Integers as integers (QEMU's int64/uint64); anything else as `%.17g`. */
function formatNumber(value: number): string {
  if (Number.isSafeInteger(value) && !Object.is(value, -0)) return String(value);
  return formatG17(value);
}

/** C's printf("%.17g"). */
export function formatG17(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const [mantissa, exponentText] = value.toExponential(16).split('e') as [string, string];
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 17) {
    const digits = stripZeros(mantissa);
    const sign = exponent < 0 ? '-' : '+';
    return `${digits}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return stripZeros(value.toFixed(16 - exponent));
}

function stripZeros(text: string): string {
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}

const SHORT_ESCAPES: Record<number, string> = { 0x22: '\\"', 0x5c: '\\\\', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t' };

function hex(code: number): string {
  return `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** quoted_str() of json-writer.c. */
function quote(text: string): string {
  let out = '"';
  for (const character of text) {
    let cp = character.codePointAt(0) as number;
    const short = SHORT_ESCAPES[cp];
    if (short) {
      out += short;
      continue;
    }
    // A lone surrogate is no character QEMU could hold: it writes U+FFFD for those.
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp > 0xffff) out += hex(0xd800 + ((cp - 0x10000) >> 10)) + hex(0xdc00 + ((cp - 0x10000) & 0x3ff));
    else if (cp < 0x20 || cp >= 0x7f) out += hex(cp);
    else out += character;
  }
  return `${out}"`;
}
