/**
 * A streaming JSON reader that behaves as QEMU 7.2's (qobject/json-lexer.c, json-streamer.c,
 * json-parser.c): bytes in, each top-level value out as soon as its last token arrives, with
 * or without newlines, several per push or one across many. Errors carry QEMU's own texts
 * ("JSON parse error, invalid keyword 'foo'", "JSON nesting depth limit exceeded", ...) and the
 * reader resynchronises after one as QEMU does, so the same bad input yields the same
 * sequence of values and errors here as there. Pure: no I/O.
 *
 * QEMU's extensions are kept: single-quoted strings, `\'` in strings, modified UTF-8 (NUL as
 * C0 80). Its string-interpolation mode (`%d`) is not, as QMP never enables it.
 */

/** QEMU's limits (json-streamer.c): bytes of one value's tokens, their number, and nesting. */
export const QEMU_JSON_LIMITS = {
  maxTokenSize: 64 * 1024 * 1024,
  maxTokenCount: 2 * 1024 * 1024,
  maxNesting: 1024,
} as const;

export type JsonLimits = { -readonly [K in keyof typeof QEMU_JSON_LIMITS]: number };

/** One result of the stream: a complete top-level value, or the error QEMU would report. */
export type JsonStreamItem = { kind: 'value'; value: unknown } | { kind: 'error'; message: string };

export interface JsonStreamOptions {
  limits?: Partial<JsonLimits>;
  /**
   * Integers beyond 2^53: `bigint` keeps them exact (a server echoing an id must), `number`
   * rounds them as JSON.parse does (what the client's reply schemas expect).
   */
  largeIntegers?: 'bigint' | 'number';
}

const enum Tok {
  LCurly,
  RCurly,
  LSquare,
  RSquare,
  Colon,
  Comma,
  Integer,
  Float,
  Keyword,
  String,
  Error,
}

const enum Lex {
  Start,
  Recovery,
  DqString,
  DqEscape,
  SqString,
  SqEscape,
  Zero,
  Sign,
  Digits,
  Mantissa,
  MantissaDigits,
  ExpE,
  ExpSign,
  ExpDigits,
  Keyword,
}

interface Token {
  type: Tok;
  bytes: Buffer;
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a;
/** Bytes a string may hold unescaped: QEMU's lexer takes 0x20..0xFD and leaves UTF-8 to the parser. */
const inString = (c: number): boolean => c >= 0x20 && c <= 0xfd;
/** Where error recovery stops: structural characters, controls but tab, and 0xFE/0xFF. */
const endsRecovery = (c: number): boolean =>
  (c < 0x20 && c !== 0x09) || c >= 0xfe || c === 0x5b || c === 0x5d || c === 0x7b || c === 0x7d || c === 0x3a || c === 0x2c;
const STRUCTURAL: Record<number, Tok> = { 0x7b: Tok.LCurly, 0x7d: Tok.RCurly, 0x5b: Tok.LSquare, 0x5d: Tok.RSquare, 0x3a: Tok.Colon, 0x2c: Tok.Comma };

export class QemuJsonStream {
  private readonly limits: JsonLimits;
  private readonly largeIntegers: 'bigint' | 'number';
  // Lexer
  private state = Lex.Start;
  /** Bytes of the current token from earlier pushes. */
  private carry: Buffer[] = [];
  private carryLength = 0;
  // Streamer
  private tokens: Token[] = [];
  private braces = 0;
  private brackets = 0;
  private tokenBytes = 0;
  private out: JsonStreamItem[] = [];

  constructor(options: JsonStreamOptions = {}) {
    this.limits = { ...QEMU_JSON_LIMITS, ...options.limits };
    this.largeIntegers = options.largeIntegers ?? 'bigint';
  }

  /** Bytes received and not yet part of a complete value or error (QEMU buffers as much). */
  get buffered(): number {
    return this.tokenBytes + this.carryLength;
  }

  /** Feeds bytes; returns the values and errors they complete, in order. */
  push(data: Buffer): JsonStreamItem[] {
    this.out = [];
    let start = -1; // where the current token began in `data`, -1 if in `carry` or none
    if (this.state !== Lex.Start && this.state !== Lex.Recovery) start = 0;
    const token = (end: number): Buffer => {
      const own = data.subarray(Math.max(start, 0), end);
      if (this.carryLength === 0) return own;
      const bytes = Buffer.concat([...this.carry, own]);
      this.carry = [];
      this.carryLength = 0;
      return bytes;
    };
    const emit = (type: Tok, end: number): void => {
      this.token(type, token(end));
      this.state = Lex.Start;
      start = -1;
    };
    const fail = (end: number): void => {
      this.token(Tok.Error, token(end));
      this.state = Lex.Recovery;
      start = -1;
    };
    for (let i = 0; i < data.length; i++) {
      const c = data[i] as number;
      // A state that ends with lookahead goes back to Start and sees `c` again.
      for (;;) {
        switch (this.state) {
          case Lex.Start:
            start = i;
            if (c === 0x22) this.state = Lex.DqString;
            else if (c === 0x27) this.state = Lex.SqString;
            else if (c === 0x30) this.state = Lex.Zero;
            else if (c >= 0x31 && c <= 0x39) this.state = Lex.Digits;
            else if (c === 0x2d) this.state = Lex.Sign;
            else if (isLower(c)) this.state = Lex.Keyword;
            else if (STRUCTURAL[c] !== undefined) emit(STRUCTURAL[c] as Tok, i + 1);
            else if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) start = -1;
            else fail(i + 1);
            break;
          case Lex.Recovery:
            if (endsRecovery(c)) {
              this.state = Lex.Start;
              continue;
            }
            break;
          case Lex.DqString:
          case Lex.SqString: {
            const quote = this.state === Lex.DqString ? 0x22 : 0x27;
            if (!inString(c)) fail(i + 1);
            else if (c === 0x5c) this.state = this.state === Lex.DqString ? Lex.DqEscape : Lex.SqEscape;
            else if (c === quote) emit(Tok.String, i + 1);
            break;
          }
          case Lex.DqEscape:
          case Lex.SqEscape:
            if (!inString(c)) fail(i + 1);
            else this.state = this.state === Lex.DqEscape ? Lex.DqString : Lex.SqString;
            break;
          case Lex.Zero:
            if (isDigit(c)) fail(i + 1);
            else if (c === 0x2e) this.state = Lex.Mantissa;
            else {
              emit(Tok.Integer, i);
              continue;
            }
            break;
          case Lex.Sign:
            if (c === 0x30) this.state = Lex.Zero;
            else if (c >= 0x31 && c <= 0x39) this.state = Lex.Digits;
            else fail(i + 1);
            break;
          case Lex.Digits:
            if (isDigit(c)) break;
            if (c === 0x65 || c === 0x45) this.state = Lex.ExpE;
            else if (c === 0x2e) this.state = Lex.Mantissa;
            else {
              emit(Tok.Integer, i);
              continue;
            }
            break;
          case Lex.Mantissa:
            if (isDigit(c)) this.state = Lex.MantissaDigits;
            else fail(i + 1);
            break;
          case Lex.MantissaDigits:
            if (isDigit(c)) break;
            if (c === 0x65 || c === 0x45) this.state = Lex.ExpE;
            else {
              emit(Tok.Float, i);
              continue;
            }
            break;
          case Lex.ExpE:
            if (c === 0x2b || c === 0x2d) this.state = Lex.ExpSign;
            else if (isDigit(c)) this.state = Lex.ExpDigits;
            else fail(i + 1);
            break;
          case Lex.ExpSign:
            if (isDigit(c)) this.state = Lex.ExpDigits;
            else fail(i + 1);
            break;
          case Lex.ExpDigits:
            if (isDigit(c)) break;
            emit(Tok.Float, i);
            continue;
          case Lex.Keyword:
            if (isLower(c)) break;
            emit(Tok.Keyword, i);
            continue;
        }
        break;
      }
      // A single token may not grow without bound (json-lexer.c): hand it over as it is.
      if (start >= 0 || this.carryLength > 0) {
        const length = this.carryLength + (start >= 0 ? i + 1 - start : 0);
        if (length > this.limits.maxTokenSize) {
          this.overlongToken();
          start = -1;
        }
      }
    }
    if (start >= 0 && this.state !== Lex.Start && this.state !== Lex.Recovery) {
      // Copy: the caller may reuse its buffer.
      const rest = Buffer.from(data.subarray(start));
      this.carry.push(rest);
      this.carryLength += rest.length;
    }
    return this.out;
  }

  private overlongToken(): void {
    this.carry = [];
    this.carryLength = 0;
    this.state = Lex.Start;
    // QEMU passes it on with a state for a type: the streamer's size check then refuses it.
    this.error('JSON token size limit exceeded');
  }

  /** json_message_process_token(): counts nesting, enforces limits, parses a closed value. */
  private token(type: Tok, bytes: Buffer): void {
    switch (type) {
      case Tok.LCurly:
        this.braces++;
        break;
      case Tok.RCurly:
        this.braces--;
        break;
      case Tok.LSquare:
        this.brackets++;
        break;
      case Tok.RSquare:
        this.brackets--;
        break;
      case Tok.Error:
        this.error(`JSON parse error, stray '${decodeModifiedUtf8(bytes)}'`);
        return;
      default:
        break;
    }
    if (this.tokenBytes + bytes.length + 1 > this.limits.maxTokenSize) return this.error('JSON token size limit exceeded');
    if (this.tokens.length + 1 > this.limits.maxTokenCount) return this.error('JSON token count limit exceeded');
    if (this.brackets + this.braces > this.limits.maxNesting) return this.error('JSON nesting depth limit exceeded');
    this.tokens.push({ type, bytes });
    this.tokenBytes += bytes.length;
    // QEMU's condition, as written there (it tests the bracket count twice, never the braces'
    // sign): an object still open waits for more tokens.
    if ((this.braces > 0 || this.brackets > 0) && this.brackets >= 0) return;
    const tokens = this.tokens;
    this.reset();
    try {
      this.out.push({ kind: 'value', value: new Parser(tokens, this.largeIntegers).parse() });
    } catch (error) {
      if (!(error instanceof JsonParseError)) throw error;
      this.out.push({ kind: 'error', message: error.message });
    }
  }

  private error(message: string): void {
    this.reset();
    this.out.push({ kind: 'error', message });
  }

  private reset(): void {
    this.tokens = [];
    this.braces = 0;
    this.brackets = 0;
    this.tokenBytes = 0;
  }
}

class JsonParseError extends Error {
  constructor(what: string) {
    super(`JSON parse error, ${what}`);
  }
}

/** json-parser.c over one value's tokens; the first error wins, as there. */
class Parser {
  private next = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly largeIntegers: 'bigint' | 'number',
  ) {}

  parse(): unknown {
    return this.value();
  }

  private peek(): Token | undefined {
    return this.tokens[this.next];
  }

  private pop(): Token {
    const token = this.tokens[this.next++];
    if (!token) throw new JsonParseError('premature EOI');
    return token;
  }

  private value(): unknown {
    const token = this.peek();
    if (!token) throw new JsonParseError('premature EOI');
    switch (token.type) {
      case Tok.LCurly:
        return this.object();
      case Tok.LSquare:
        return this.array();
      case Tok.String:
        this.next++;
        return parseString(token.bytes);
      case Tok.Integer:
        this.next++;
        return this.integer(token.bytes.toString('latin1'));
      case Tok.Float:
        this.next++;
        return Number(token.bytes.toString('latin1'));
      case Tok.Keyword: {
        this.next++;
        const word = token.bytes.toString('latin1');
        if (word === 'true') return true;
        if (word === 'false') return false;
        if (word === 'null') return null;
        throw new JsonParseError(`invalid keyword '${word}'`);
      }
      default:
        throw new JsonParseError('expecting value');
    }
  }

  /** int64 if it fits, else uint64, else a double (qemu_strtoi64, qemu_strtou64, strtod). */
  private integer(text: string): number | bigint {
    const big = BigInt(text);
    const fits = big >= -(1n << 63n) && big < 1n << 64n;
    if (!fits) return Number(text);
    if (big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(big);
    return this.largeIntegers === 'bigint' ? big : Number(big);
  }

  private object(): Record<string, unknown> {
    this.pop();
    const object: Record<string, unknown> = {};
    if (!this.peek()) throw new JsonParseError('premature EOI');
    if (this.peek()?.type === Tok.RCurly) {
      this.pop();
      return object;
    }
    this.pair(object);
    for (let token = this.pop(); token.type !== Tok.RCurly; token = this.pop()) {
      if (token.type !== Tok.Comma) throw new JsonParseError('expected separator in dict');
      this.pair(object);
    }
    return object;
  }

  private pair(object: Record<string, unknown>): void {
    if (!this.peek()) throw new JsonParseError('premature EOI');
    const key = this.value();
    if (typeof key !== 'string') throw new JsonParseError('key is not a string in object');
    if (this.pop().type !== Tok.Colon) throw new JsonParseError('missing : in object pair');
    const value = this.value();
    if (Object.prototype.hasOwnProperty.call(object, key)) throw new JsonParseError('duplicate key');
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  }

  private array(): unknown[] {
    this.pop();
    const list: unknown[] = [];
    if (!this.peek()) throw new JsonParseError('premature EOI');
    if (this.peek()?.type === Tok.RSquare) {
      this.pop();
      return list;
    }
    list.push(this.value());
    for (let token = this.pop(); token.type !== Tok.RSquare; token = this.pop()) {
      if (token.type !== Tok.Comma) throw new JsonParseError('expected separator in list');
      list.push(this.value());
    }
    return list;
  }
}

const ESCAPES: Record<number, string> = { 0x22: '"', 0x27: "'", 0x5c: '\\', 0x2f: '/', 0x62: '\b', 0x66: '\f', 0x6e: '\n', 0x72: '\r', 0x74: '\t' };

function hex4(bytes: Buffer, at: number): number {
  if (at + 4 > bytes.length) return -1;
  const text = bytes.toString('latin1', at, at + 4);
  return /^[0-9a-fA-F]{4}$/.test(text) ? parseInt(text, 16) : -1;
}

/** parse_string(): escapes, then each character as modified UTF-8, invalid ones refused. */
function parseString(bytes: Buffer): string {
  const quote = bytes[0];
  let out = '';
  let i = 1;
  while (bytes[i] !== quote) {
    const c = bytes[i] as number;
    if (c === 0x5c) {
      const begin = i;
      const escape = bytes[i + 1] as number;
      i += 2;
      if (escape === 0x75) {
        let cp = hex4(bytes, i);
        i += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && bytes[i] === 0x5c && bytes[i + 1] === 0x75) {
          const trailing = hex4(bytes, i + 2);
          cp = 0x10000 + ((cp & 0x3ff) << 10);
          if (trailing >= 0xdc00 && trailing <= 0xdfff) {
            cp |= trailing & 0x3ff;
            i += 6;
          } else {
            cp = -1;
          }
        }
        if (!isValidCodepoint(cp)) {
          throw new JsonParseError(`${bytes.toString('latin1', begin, Math.min(i, bytes.length))} is not a valid Unicode character`);
        }
        out += String.fromCodePoint(cp);
        continue;
      }
      const plain = ESCAPES[escape];
      if (plain === undefined) throw new JsonParseError('invalid escape sequence in string');
      out += plain;
      continue;
    }
    const { codepoint, end } = modifiedUtf8Codepoint(bytes, i);
    if (codepoint < 0) throw new JsonParseError('invalid UTF-8 sequence in string');
    out += String.fromCodePoint(codepoint);
    i = end;
  }
  return out;
}

function isValidCodepoint(cp: number): boolean {
  if (cp < 0 || cp > 0x10ffff) return false;
  if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return false;
  return !(cp >= 0xd800 && cp <= 0xdfff);
}

const MIN_CODEPOINT = [0x80, 0x800, 0x10000, 0x200000, 0x4000000];

/** mod_utf8_codepoint() (util/unicode.c): -1 for anything invalid, `end` past what it read. */
export function modifiedUtf8Codepoint(bytes: Buffer, at: number): { codepoint: number; end: number } {
  if (at >= bytes.length || bytes[at] === 0) return { codepoint: -1, end: at };
  let p = at;
  let byte = bytes[p++] as number;
  if (byte < 0x80) return { codepoint: byte, end: p };
  if (byte >= 0xfe || (byte & 0x40) === 0) return { codepoint: -1, end: p };
  let length = 0;
  let mask = 0x80;
  for (; byte & mask; mask >>= 1) length++;
  let cp = byte & (mask - 1);
  for (let i = 1; i < length; i++) {
    byte = p < bytes.length ? (bytes[p] as number) : 0;
    if ((byte & 0xc0) !== 0x80) return { codepoint: -1, end: p };
    p++;
    cp = cp * 64 + (byte & 0x3f);
  }
  if (!isValidCodepoint(cp)) return { codepoint: -1, end: p };
  if (cp < (MIN_CODEPOINT[length - 2] as number) && !(cp === 0 && length === 2)) return { codepoint: -1, end: p };
  return { codepoint: cp, end: p };
}

/** Bytes as QEMU's JSON writer reads a C string: each invalid sequence one U+FFFD. */
export function decodeModifiedUtf8(bytes: Buffer): string {
  let out = '';
  for (let i = 0; i < bytes.length && bytes[i] !== 0; ) {
    const { codepoint, end } = modifiedUtf8Codepoint(bytes, i);
    out += String.fromCodePoint(codepoint < 0 ? 0xfffd : codepoint);
    i = end > i ? end : i + 1;
  }
  return out;
}
