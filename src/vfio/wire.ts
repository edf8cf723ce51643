/**
 * Little-endian field access with bounds checks, so that a short or random buffer becomes a
 * VirtchnlError naming the field and its byte offset instead of a RangeError.
 */
import { VirtchnlError } from './errors.js';
import { Status } from './opcodes.js';

export class FieldReader {
  constructor(
    readonly bytes: Buffer,
    readonly opcode: number,
  ) {}

  private need(offset: number, size: number, field: string): void {
    if (offset < 0 || offset + size > this.bytes.length) {
      throw new VirtchnlError('VF_BAD_LENGTH', `message too short for ${field}: needs ${offset + size} bytes, has ${this.bytes.length}`, {
        opcode: this.opcode,
        field,
        offset,
        status: Status.ERR_OPCODE_MISMATCH,
      });
    }
  }

  u8(offset: number, field: string): number {
    this.need(offset, 1, field);
    return this.bytes.readUInt8(offset);
  }

  u16(offset: number, field: string): number {
    this.need(offset, 2, field);
    return this.bytes.readUInt16LE(offset);
  }

  u32(offset: number, field: string): number {
    this.need(offset, 4, field);
    return this.bytes.readUInt32LE(offset);
  }

  s32(offset: number, field: string): number {
    this.need(offset, 4, field);
    return this.bytes.readInt32LE(offset);
  }

  u64(offset: number, field: string): bigint {
    this.need(offset, 8, field);
    return this.bytes.readBigUInt64LE(offset);
  }

  mac(offset: number, field: string): string {
    this.need(offset, 6, field);
    return formatMac(this.bytes, offset);
  }

  slice(offset: number, length: number, field: string): Buffer {
    this.need(offset, length, field);
    return Buffer.from(this.bytes.subarray(offset, offset + length));
  }
}

/** aa:bb:cc:dd:ee:ff, lower case. */
export function formatMac(bytes: Uint8Array, offset = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push((bytes[offset + i] ?? 0).toString(16).padStart(2, '0'));
  return parts.join(':');
}

const macPattern = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export function isMacString(text: string): boolean {
  return macPattern.test(text);
}

/** Writes `aa:bb:cc:dd:ee:ff` at `offset`. */
export function writeMac(target: Buffer, offset: number, mac: string): void {
  if (!isMacString(mac)) throw new TypeError(`not a MAC address: ${mac}`);
  const parts = mac.split(':');
  for (let i = 0; i < 6; i++) target.writeUInt8(Number.parseInt(parts[i] ?? '0', 16), offset + i);
}

export function isBroadcastMac(mac: string): boolean {
  return mac.toLowerCase() === 'ff:ff:ff:ff:ff:ff';
}

export function isZeroMac(mac: string): boolean {
  return mac === '00:00:00:00:00:00';
}

/** The I/G bit: multicast (and broadcast) addresses. */
export function isMulticastMac(mac: string): boolean {
  return (Number.parseInt(mac.slice(0, 2), 16) & 1) === 1;
}

export function hex64(value: bigint): string {
  return `0x${value.toString(16).padStart(16, '0')}`;
}
