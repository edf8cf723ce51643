import { QmpProtocolError } from './errors.js';

/** QMP's limit on one message; larger ones are a protocol error, never buffered without end. */
export const DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

/**
 * Deepest nesting of objects and arrays in one message: QEMU's own (json-streamer.c
 * MAX_NESTING), so nothing QEMU could parse is refused, and nothing deeper reaches code that
 * walks a value recursively (JSON.stringify in a traffic log, schema checks).
 */
export const DEFAULT_MAX_NESTING = 1024;

/**
 * Splits a byte stream into QMP messages. QEMU ends every message with "\r\n" and never
 * breaks a line inside one, so a message is one line of JSON. Pure: no I/O.
 */
export class QmpLineDecoder {
  private chunks: Buffer[] = [];
  private pending = 0;

  constructor(
    private readonly maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
    private readonly maxNesting = DEFAULT_MAX_NESTING,
  ) {}

  /** Feeds bytes and returns the complete messages they finish, parsed. Throws QmpProtocolError. */
  push(data: Buffer): unknown[] {
    const messages: unknown[] = [];
    let start = 0;
    for (;;) {
      const newline = data.indexOf(0x0a, start);
      if (newline === -1) break;
      const piece = data.subarray(start, newline);
      if (this.pending + piece.length > this.maxMessageBytes) this.tooLarge(this.pending + piece.length);
      const line = this.pending > 0 ? Buffer.concat([...this.chunks, piece]) : piece;
      this.chunks = [];
      this.pending = 0;
      start = newline + 1;
      const text = line.toString('utf8').trim();
      if (text.length === 0) continue;
      // Fewer characters than the limit cannot nest deeper than it: only long lines are scanned.
      if (text.length > this.maxNesting) checkNesting(text, this.maxNesting);
      messages.push(parseMessage(text));
    }
    if (start < data.length) {
      const rest = data.subarray(start);
      if (this.pending + rest.length > this.maxMessageBytes) this.tooLarge(this.pending + rest.length);
      // Copy: the caller may reuse its buffer.
      this.chunks.push(Buffer.from(rest));
      this.pending += rest.length;
    }
    return messages;
  }

  /** Bytes received that do not yet form a complete message. */
  get buffered(): number {
    return this.pending;
  }

  private tooLarge(size: number): never {
    this.chunks = [];
    this.pending = 0;
    throw new QmpProtocolError(
      'QMP_MESSAGE_TOO_LARGE',
      `QMP message exceeds ${this.maxMessageBytes} bytes (at least ${size} bytes without an end of line)`,
      { details: { limit: this.maxMessageBytes, size } },
    );
  }
}

/** Throws QMP_MESSAGE_TOO_DEEP when objects and arrays in `text` nest deeper than `limit`. Pure, one pass. */
export function checkNesting(text: string, limit: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) {
        throw new QmpProtocolError('QMP_MESSAGE_TOO_DEEP', `QMP message nests deeper than ${limit} levels (QEMU's own limit): ${excerpt(text)}`, {
          details: { limit, offset: i, excerpt: excerpt(text) },
        });
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
}

function parseMessage(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new QmpProtocolError('QMP_MALFORMED_MESSAGE', `QMP peer sent invalid JSON: ${excerpt(text)}`, {
      cause: error,
      details: { excerpt: excerpt(text) },
    });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new QmpProtocolError('QMP_MALFORMED_MESSAGE', `QMP peer sent a message that is not a JSON object: ${excerpt(text)}`, {
      details: { excerpt: excerpt(text) },
    });
  }
  return value as Record<string, unknown>;
}

function excerpt(text: string): string {
  return text.length > 120 ? `${text.slice(0, 120)}...` : text;
}
