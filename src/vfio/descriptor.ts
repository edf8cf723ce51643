/**
 * The 32-byte admin-queue descriptor (i40e_aq_desc) that carries every virtchnl message:
 * VF -> PF with opcode 0x0801 on the ATQ, PF -> VF with 0x0802 on the ARQ.
 */
import { VirtchnlError } from './errors.js';
import { AQ_MAX_BUFFER, AqFlag, AqOpcode, Op, Status } from './opcodes.js';

export const DESCRIPTOR_SIZE = 32;

export interface AqDescriptor {
  flags: number;
  opcode: number;
  datalen: number;
  retval: number;
  /** virtchnl opcode */
  cookieHigh: number;
  /** virtchnl status, as the unsigned 32 bits on the wire; see descriptorStatus() */
  cookieLow: number;
  param0: number;
  param1: number;
  addrHigh: number;
  addrLow: number;
}

export function encodeDescriptor(desc: AqDescriptor, target = Buffer.alloc(DESCRIPTOR_SIZE), offset = 0): Buffer {
  target.writeUInt16LE(desc.flags, offset);
  target.writeUInt16LE(desc.opcode, offset + 2);
  target.writeUInt16LE(desc.datalen, offset + 4);
  target.writeUInt16LE(desc.retval, offset + 6);
  target.writeUInt32LE(desc.cookieHigh >>> 0, offset + 8);
  target.writeUInt32LE(desc.cookieLow >>> 0, offset + 12);
  target.writeUInt32LE(desc.param0 >>> 0, offset + 16);
  target.writeUInt32LE(desc.param1 >>> 0, offset + 20);
  target.writeUInt32LE(desc.addrHigh >>> 0, offset + 24);
  target.writeUInt32LE(desc.addrLow >>> 0, offset + 28);
  return target;
}

export function decodeDescriptor(bytes: Uint8Array, offset = 0): AqDescriptor {
  if (bytes.length - offset < DESCRIPTOR_SIZE) {
    throw new VirtchnlError('VF_BAD_DESCRIPTOR', `admin-queue descriptor needs ${DESCRIPTOR_SIZE} bytes, has ${Math.max(0, bytes.length - offset)}`, {
      opcode: Op.UNKNOWN,
      field: 'descriptor',
      offset,
      status: Status.ERR_ADMIN_QUEUE_ERROR,
    });
  }
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    flags: view.readUInt16LE(offset),
    opcode: view.readUInt16LE(offset + 2),
    datalen: view.readUInt16LE(offset + 4),
    retval: view.readUInt16LE(offset + 6),
    cookieHigh: view.readUInt32LE(offset + 8),
    cookieLow: view.readUInt32LE(offset + 12),
    param0: view.readUInt32LE(offset + 16),
    param1: view.readUInt32LE(offset + 20),
    addrHigh: view.readUInt32LE(offset + 24),
    addrLow: view.readUInt32LE(offset + 28),
  };
}

/** cookie_low read as the s32 virtchnl status. */
export function descriptorStatus(desc: AqDescriptor): number {
  return desc.cookieLow | 0;
}

/** The descriptor the VF driver posts on its ATQ to send `payloadLength` bytes to the PF. */
export function vfToPfDescriptor(virtchnlOpcode: number, payloadLength: number): AqDescriptor {
  checkPayloadLength(virtchnlOpcode, payloadLength);
  const flags = payloadLength > 0 ? AqFlag.BUF | AqFlag.RD | (payloadLength > 512 ? AqFlag.LB : 0) : 0;
  return {
    flags,
    opcode: AqOpcode.SEND_MSG_TO_PF,
    datalen: payloadLength,
    retval: 0,
    cookieHigh: virtchnlOpcode,
    cookieLow: 0,
    param0: 0,
    param1: 0,
    addrHigh: 0,
    addrLow: 0,
  };
}

/** The descriptor the VF finds on its ARQ when the PF answers (or sends an EVENT). */
export function pfToVfDescriptor(virtchnlOpcode: number, status: number, payloadLength: number, vfId = 0): AqDescriptor {
  checkPayloadLength(virtchnlOpcode, payloadLength);
  return {
    flags: AqFlag.DD | AqFlag.CMP | (payloadLength > 0 ? AqFlag.BUF | (payloadLength > 512 ? AqFlag.LB : 0) : 0),
    opcode: AqOpcode.SEND_MSG_TO_VF,
    datalen: payloadLength,
    retval: 0,
    cookieHigh: virtchnlOpcode,
    cookieLow: status >>> 0,
    param0: vfId,
    param1: 0,
    addrHigh: 0,
    addrLow: 0,
  };
}

function checkPayloadLength(opcode: number, length: number): void {
  if (length > AQ_MAX_BUFFER) {
    throw new VirtchnlError('VF_BAD_LENGTH', `payload of ${length} bytes exceeds the ${AQ_MAX_BUFFER}-byte admin-queue buffer`, {
      opcode,
      field: 'datalen',
      offset: 4,
      status: Status.ERR_PARAM,
    });
  }
}
