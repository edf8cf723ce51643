/**
 * Data-ring descriptors as they sit in guest RAM (shared/REFERENCE-virtchnl.md):
 *
 *   RX, 32 bytes. Read format (the driver posts a buffer): pkt_addr u64 @0, hdr_addr u64 @8,
 *   two reserved u64. Write-back (the NIC filled it): qword1 @8 status_error_len with
 *   DD bit 0, EOF bit 1, packet length in bits 38-51.
 *
 *   TX, 16 bytes: buffer_addr u64 @0, cmd_type_offset_bsz u64 @8 (DTYPE bits 0-3: 0 data,
 *   0xF done; CMD at bit 4: EOP 0x1, RS 0x2; buffer size at bit 34, 14 bits).
 */

export const RX_DESC_SIZE = 32;
export const TX_DESC_SIZE = 16;

export const RxStatus = { DD: 1n << 0n, EOF: 1n << 1n } as const;
const RX_LENGTH_SHIFT = 38n;
const RX_LENGTH_MASK = 0x3fffn;

export const TxDtype = { DATA: 0x0n, DONE: 0xfn } as const;
export const TxCmd = { EOP: 0x1n, RS: 0x2n } as const;
const TX_CMD_SHIFT = 4n;
const TX_SIZE_SHIFT = 34n;

/** A posted RX buffer (read format). */
export function rxReadDescriptor(packetAddress: number): Buffer {
  const d = Buffer.alloc(RX_DESC_SIZE);
  d.writeBigUInt64LE(BigInt(packetAddress), 0);
  return d;
}

/** What the NIC writes back after filling a buffer with one whole packet. */
export function rxWriteBack(length: number): Buffer {
  const d = Buffer.alloc(RX_DESC_SIZE);
  d.writeBigUInt64LE(RxStatus.DD | RxStatus.EOF | ((BigInt(length) & RX_LENGTH_MASK) << RX_LENGTH_SHIFT), 8);
  return d;
}

export interface RxCompletion {
  done: boolean;
  endOfPacket: boolean;
  length: number;
}

export function parseRxWriteBack(descriptor: Buffer): RxCompletion {
  const qword1 = descriptor.readBigUInt64LE(8);
  return { done: (qword1 & RxStatus.DD) !== 0n, endOfPacket: (qword1 & RxStatus.EOF) !== 0n, length: Number((qword1 >> RX_LENGTH_SHIFT) & RX_LENGTH_MASK) };
}

export function rxPacketAddress(descriptor: Buffer): number {
  return Number(descriptor.readBigUInt64LE(0));
}

export function txDataDescriptor(bufferAddress: number, length: number): Buffer {
  const d = Buffer.alloc(TX_DESC_SIZE);
  d.writeBigUInt64LE(BigInt(bufferAddress), 0);
  d.writeBigUInt64LE(TxDtype.DATA | ((TxCmd.EOP | TxCmd.RS) << TX_CMD_SHIFT) | (BigInt(length) << TX_SIZE_SHIFT), 8);
  return d;
}

export interface TxDescriptor {
  bufferAddress: number;
  length: number;
  done: boolean;
}

export function parseTxDescriptor(descriptor: Buffer): TxDescriptor {
  const qword1 = descriptor.readBigUInt64LE(8);
  return { bufferAddress: Number(descriptor.readBigUInt64LE(0)), length: Number((qword1 >> TX_SIZE_SHIFT) & 0x3fffn), done: (qword1 & 0xfn) === TxDtype.DONE };
}

/** The write-back of a TX descriptor (DTYPE done). */
export function txDoneDescriptor(): Buffer {
  const d = Buffer.alloc(TX_DESC_SIZE);
  d.writeBigUInt64LE(TxDtype.DONE, 8);
  return d;
}

/** Where the hardware and the driver are on one queue pair. */
export interface RingPosition {
  queue: number;
  /** next RX descriptor the NIC fills */
  rxHead: number;
  /** the driver's QRX_TAIL: the NIC may fill up to tail - 1 */
  rxTail: number;
  /** next TX descriptor the NIC sends */
  txHead: number;
  /** the driver's QTX_TAIL */
  txTail: number;
}
