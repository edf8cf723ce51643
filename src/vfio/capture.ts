/**
 * The capture file: what a VF's admin queue carried, in time order (docs/capture-format.md).
 *
 *   magic "I40EAQ01" (8 bytes), then records:
 *   @0  u64 LE timestamp, ns
 *   @8  u8 direction: 0 VF -> PF (ATQ, opcode 0x0801), 1 PF -> VF (ARQ, opcode 0x0802)
 *   @9  7 reserved zero bytes
 *   @16 32-byte admin-queue descriptor (cookie_high = virtchnl opcode, cookie_low = status)
 *   @48 exactly descriptor.datalen payload bytes
 *
 * Parsing stops at the first damaged record and returns the records before it with the error.
 */
import { CaptureError } from './errors.js';
import { decodeDescriptor, DESCRIPTOR_SIZE, pfToVfDescriptor, vfToPfDescriptor, type AqDescriptor } from './descriptor.js';
import { AQ_MAX_BUFFER, AqOpcode } from './opcodes.js';

export const CAPTURE_MAGIC = Buffer.from('I40EAQ01', 'ascii');
export const RECORD_HEADER_SIZE = 16 + DESCRIPTOR_SIZE;

export const Direction = { VF_TO_PF: 0, PF_TO_VF: 1 } as const;
export type Direction = (typeof Direction)[keyof typeof Direction];

export interface CaptureRecord {
  /** position in the file, from 0 */
  index: number;
  /** byte offset of the record's start in the file */
  offset: number;
  timestampNs: bigint;
  direction: Direction;
  descriptor: AqDescriptor;
  payload: Buffer;
}

export interface ParsedCapture {
  records: CaptureRecord[];
  /** the damage that ended parsing, or null when the whole file was read */
  error: CaptureError | null;
}

export interface ParseOptions {
  /** file name for error messages */
  file?: string;
}

export function parseCapture(bytes: Uint8Array, options: ParseOptions = {}): ParsedCapture {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const file = options.file;
  const records: CaptureRecord[] = [];
  if (buf.length < CAPTURE_MAGIC.length) {
    const prefix = CAPTURE_MAGIC.subarray(0, buf.length).equals(buf);
    return {
      records,
      error: new CaptureError(prefix ? 'CAPTURE_TRUNCATED' : 'CAPTURE_BAD_MAGIC', `file of ${buf.length} bytes is too short for the 8-byte magic "I40EAQ01"`, {
        file,
        offset: 0,
        field: 'magic',
      }),
    };
  }
  if (!buf.subarray(0, CAPTURE_MAGIC.length).equals(CAPTURE_MAGIC)) {
    return {
      records,
      error: new CaptureError('CAPTURE_BAD_MAGIC', `not an admin-queue capture: the file must start with "I40EAQ01"`, { file, offset: 0, field: 'magic' }),
    };
  }
  let offset = CAPTURE_MAGIC.length;
  let previous = 0n;
  while (offset < buf.length) {
    const index = records.length;
    const at = (field: string, relative: number): { file: string | undefined; recordIndex: number; offset: number; field: string } => ({
      file,
      recordIndex: index,
      offset: offset + relative,
      field,
    });
    if (buf.length - offset < RECORD_HEADER_SIZE) {
      return { records, error: new CaptureError('CAPTURE_TRUNCATED', `record header needs ${RECORD_HEADER_SIZE} bytes, only ${buf.length - offset} left`, at('header', 0)) };
    }
    const timestampNs = buf.readBigUInt64LE(offset);
    const direction = buf.readUInt8(offset + 8);
    if (direction !== Direction.VF_TO_PF && direction !== Direction.PF_TO_VF) {
      return { records, error: new CaptureError('CAPTURE_CORRUPT', `direction ${direction} is neither 0 (VF to PF) nor 1 (PF to VF)`, at('direction', 8)) };
    }
    for (let i = 9; i < 16; i++) {
      if (buf[offset + i] !== 0) return { records, error: new CaptureError('CAPTURE_CORRUPT', 'reserved bytes are not zero', at('reserved', i)) };
    }
    if (timestampNs < previous) {
      return { records, error: new CaptureError('CAPTURE_CORRUPT', `timestamp ${timestampNs} ns goes back in time (previous ${previous} ns)`, at('timestamp', 0)) };
    }
    const descriptor = decodeDescriptor(buf, offset + 16);
    const expectedOpcode = direction === Direction.VF_TO_PF ? AqOpcode.SEND_MSG_TO_PF : AqOpcode.SEND_MSG_TO_VF;
    if (descriptor.opcode !== expectedOpcode) {
      return {
        records,
        error: new CaptureError(
          'CAPTURE_CORRUPT',
          `descriptor opcode 0x${descriptor.opcode.toString(16).padStart(4, '0')} does not match direction ${direction} (expected 0x${expectedOpcode.toString(16).padStart(4, '0')})`,
          at('descriptor.opcode', 18),
        ),
      };
    }
    if (descriptor.datalen > AQ_MAX_BUFFER) {
      return { records, error: new CaptureError('CAPTURE_CORRUPT', `datalen ${descriptor.datalen} exceeds the ${AQ_MAX_BUFFER}-byte admin-queue buffer`, at('descriptor.datalen', 20)) };
    }
    const payloadStart = offset + RECORD_HEADER_SIZE;
    if (buf.length - payloadStart < descriptor.datalen) {
      return {
        records,
        error: new CaptureError('CAPTURE_TRUNCATED', `payload of ${descriptor.datalen} bytes has only ${buf.length - payloadStart} bytes left`, at('payload', RECORD_HEADER_SIZE)),
      };
    }
    records.push({
      index,
      offset,
      timestampNs,
      direction,
      descriptor,
      payload: Buffer.from(buf.subarray(payloadStart, payloadStart + descriptor.datalen)),
    });
    previous = timestampNs;
    offset = payloadStart + descriptor.datalen;
  }
  return { records, error: null };
}

/** Builds a capture file record by record. */
export class CaptureWriter {
  private readonly chunks: Buffer[] = [CAPTURE_MAGIC];
  private count = 0;

  get recordCount(): number {
    return this.count;
  }

  record(timestampNs: bigint, direction: Direction, descriptor: AqDescriptor, payload: Uint8Array): this {
    const header = Buffer.alloc(RECORD_HEADER_SIZE);
    header.writeBigUInt64LE(timestampNs, 0);
    header.writeUInt8(direction, 8);
    const d = descriptor;
    header.writeUInt16LE(d.flags, 16);
    header.writeUInt16LE(d.opcode, 18);
    header.writeUInt16LE(payload.length, 20);
    header.writeUInt16LE(d.retval, 22);
    header.writeUInt32LE(d.cookieHigh >>> 0, 24);
    header.writeUInt32LE(d.cookieLow >>> 0, 28);
    header.writeUInt32LE(d.param0 >>> 0, 32);
    header.writeUInt32LE(d.param1 >>> 0, 36);
    header.writeUInt32LE(d.addrHigh >>> 0, 40);
    header.writeUInt32LE(d.addrLow >>> 0, 44);
    this.chunks.push(header, Buffer.from(payload));
    this.count++;
    return this;
  }

  /** A VF -> PF message. */
  request(timestampNs: bigint, opcode: number, payload: Uint8Array): this {
    return this.record(timestampNs, Direction.VF_TO_PF, vfToPfDescriptor(opcode, payload.length), payload);
  }

  /** A PF -> VF message: a reply to `opcode`, or an EVENT. */
  reply(timestampNs: bigint, opcode: number, status: number, payload: Uint8Array, vfId = 0): this {
    return this.record(timestampNs, Direction.PF_TO_VF, pfToVfDescriptor(opcode, status, payload.length, vfId), payload);
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
