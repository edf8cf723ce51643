import { QmpProtocolError } from './errors.js';

/** QMP's limit on one message; larger ones are a protocol error, never buffered without end. */
export const DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

/**
 * Splits a byte stream into QMP messages. QEMU ends every message with "\r\n" and never
 * breaks a line inside one, so a message is one line of JSON. Pure: no I/O.
 */
export class QmpLineDecoder {
  private chunks: Buffer[] = [];
  private pending = 0;

  constructor(private readonly maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES) {}

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
