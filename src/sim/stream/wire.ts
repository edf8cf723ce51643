import { SimError } from '../errors.js';
import { PAGE_SIZE } from '../ram.js';

/**
 * The simulator's migration stream (docs/simulator.md). Big-endian, record by record:
 *
 *   header   "NICMIGSM" u32 version u32 pageSize u32 pageCount
 *   PAGE     0x01 u32 page  4096 bytes
 *   ZERO     0x02 u32 page                       (a zero page: counted as `duplicate`)
 *   PASS     0x03 u32 pass                       (end of a dirty-sync pass)
 *   DEVICE   0x04 u16 idLength id u32 length bytes
 *   RUNSTATE 0x05 u8 sourceWasRunning            (QEMU's "globalstate" section)
 *   EOF      0x06
 *
 * Return path (destination -> source), only with the `return-path` capability:
 *   LOADED   0x10                                 (everything loaded)
 *   REFUSED  0x11 u32 length utf8-message
 */
export const STREAM_MAGIC = Buffer.from('NICMIGSM', 'ascii');
export const STREAM_VERSION = 1;
export const HEADER_BYTES = STREAM_MAGIC.length + 12;

export const Record = { PAGE: 0x01, ZERO: 0x02, PASS: 0x03, DEVICE: 0x04, RUNSTATE: 0x05, EOF: 0x06 } as const;
export const ReturnRecord = { LOADED: 0x10, REFUSED: 0x11 } as const;

export const PAGE_RECORD_BYTES = 5 + PAGE_SIZE;
export const ZERO_RECORD_BYTES = 5;

export function encodeHeader(pageCount: number): Buffer {
  const buffer = Buffer.alloc(HEADER_BYTES);
  STREAM_MAGIC.copy(buffer, 0);
  buffer.writeUInt32BE(STREAM_VERSION, 8);
  buffer.writeUInt32BE(PAGE_SIZE, 12);
  buffer.writeUInt32BE(pageCount, 16);
  return buffer;
}

/** Writes a PAGE record into `target` at `offset`; returns the new offset. */
export function writePageRecord(target: Buffer, offset: number, page: number, bytes: Buffer): number {
  target[offset] = Record.PAGE;
  target.writeUInt32BE(page, offset + 1);
  bytes.copy(target, offset + 5);
  return offset + PAGE_RECORD_BYTES;
}

export function writeZeroRecord(target: Buffer, offset: number, page: number): number {
  target[offset] = Record.ZERO;
  target.writeUInt32BE(page, offset + 1);
  return offset + ZERO_RECORD_BYTES;
}

export function encodePass(pass: number): Buffer {
  const buffer = Buffer.alloc(5);
  buffer[0] = Record.PASS;
  buffer.writeUInt32BE(pass, 1);
  return buffer;
}

export function encodeDevice(id: string, state: Uint8Array): Buffer {
  const name = Buffer.from(id, 'utf8');
  const buffer = Buffer.alloc(1 + 2 + name.length + 4 + state.length);
  buffer[0] = Record.DEVICE;
  buffer.writeUInt16BE(name.length, 1);
  name.copy(buffer, 3);
  buffer.writeUInt32BE(state.length, 3 + name.length);
  buffer.set(state, 7 + name.length);
  return buffer;
}

export function encodeRunState(wasRunning: boolean): Buffer {
  return Buffer.from([Record.RUNSTATE, wasRunning ? 1 : 0]);
}

export function encodeEof(): Buffer {
  return Buffer.from([Record.EOF]);
}

export function encodeLoaded(): Buffer {
  return Buffer.from([ReturnRecord.LOADED]);
}

export function encodeRefused(message: string): Buffer {
  const text = Buffer.from(message, 'utf8');
  const buffer = Buffer.alloc(5 + text.length);
  buffer[0] = ReturnRecord.REFUSED;
  buffer.writeUInt32BE(text.length, 1);
  text.copy(buffer, 5);
  return buffer;
}

export type StreamItem =
  | { kind: 'header'; version: number; pageSize: number; pageCount: number }
  | { kind: 'page'; page: number; bytes: Buffer }
  | { kind: 'zero'; page: number }
  | { kind: 'pass'; pass: number }
  | { kind: 'device'; id: string; state: Buffer }
  | { kind: 'runstate'; wasRunning: boolean }
  | { kind: 'eof' };

function broken(message: string): SimError {
  return new SimError('SIM_STREAM_BROKEN', message);
}

/** Incremental decoder: feed chunks, get whole items. Pure. */
export class StreamDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  private sawHeader = false;
  private ended = false;

  get complete(): boolean {
    return this.ended;
  }

  /** Bytes received but not yet a whole record. */
  get pendingBytes(): number {
    return this.buffer.length;
  }

  push(chunk: Buffer): StreamItem[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const items: StreamItem[] = [];
    let offset = 0;
    const buf = this.buffer;
    for (;;) {
      const rest = buf.length - offset;
      if (this.ended) {
        if (rest > 0) throw broken(`${rest} bytes after the end of the migration stream`);
        break;
      }
      if (!this.sawHeader) {
        if (rest < HEADER_BYTES) break;
        if (!buf.subarray(offset, offset + 8).equals(STREAM_MAGIC)) throw broken('not a nicmig simulator migration stream (bad magic)');
        const version = buf.readUInt32BE(offset + 8);
        if (version !== STREAM_VERSION) throw broken(`migration stream version ${version}, expected ${STREAM_VERSION}`);
        items.push({ kind: 'header', version, pageSize: buf.readUInt32BE(offset + 12), pageCount: buf.readUInt32BE(offset + 16) });
        offset += HEADER_BYTES;
        this.sawHeader = true;
        continue;
      }
      if (rest < 1) break;
      const type = buf[offset];
      if (type === Record.PAGE) {
        if (rest < PAGE_RECORD_BYTES) break;
        items.push({ kind: 'page', page: buf.readUInt32BE(offset + 1), bytes: buf.subarray(offset + 5, offset + PAGE_RECORD_BYTES) });
        offset += PAGE_RECORD_BYTES;
      } else if (type === Record.ZERO || type === Record.PASS) {
        if (rest < 5) break;
        const value = buf.readUInt32BE(offset + 1);
        items.push(type === Record.ZERO ? { kind: 'zero', page: value } : { kind: 'pass', pass: value });
        offset += 5;
      } else if (type === Record.DEVICE) {
        if (rest < 3) break;
        const nameLength = buf.readUInt16BE(offset + 1);
        if (rest < 7 + nameLength) break;
        const length = buf.readUInt32BE(offset + 3 + nameLength);
        if (rest < 7 + nameLength + length) break;
        const id = buf.toString('utf8', offset + 3, offset + 3 + nameLength);
        items.push({ kind: 'device', id, state: Buffer.from(buf.subarray(offset + 7 + nameLength, offset + 7 + nameLength + length)) });
        offset += 7 + nameLength + length;
      } else if (type === Record.RUNSTATE) {
        if (rest < 2) break;
        items.push({ kind: 'runstate', wasRunning: buf[offset + 1] === 1 });
        offset += 2;
      } else if (type === Record.EOF) {
        items.push({ kind: 'eof' });
        offset += 1;
        this.ended = true;
      } else {
        throw broken(`unknown migration stream record 0x${(type ?? 0).toString(16)} at byte ${offset}`);
      }
    }
    // Page items reference the old buffer; keep only the unparsed tail (copied) for next time.
    this.buffer = offset === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(offset));
    return items;
  }
}
