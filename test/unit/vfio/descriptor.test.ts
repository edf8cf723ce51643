import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { decodeDescriptor, descriptorStatus, encodeDescriptor, pfToVfDescriptor, vfToPfDescriptor } from '../../../src/vfio/descriptor.js';
import { VirtchnlError } from '../../../src/vfio/errors.js';
import { AqFlag, Op, Status } from '../../../src/vfio/opcodes.js';

describe('admin-queue descriptor', () => {
  it('lays out the 32 bytes as i40e_aq_desc', () => {
    const bytes = encodeDescriptor({
      flags: 0x1400,
      opcode: 0x0801,
      datalen: 20,
      retval: 0,
      cookieHigh: Op.ADD_ETH_ADDR,
      cookieLow: 0,
      param0: 0x11,
      param1: 0x22,
      addrHigh: 0x33,
      addrLow: 0x44,
    });
    expect(bytes.toString('hex')).toBe('0014' + '0108' + '1400' + '0000' + '0a000000' + '00000000' + '11000000' + '22000000' + '33000000' + '44000000');
  });

  it('round-trips any descriptor', () => {
    const u16 = fc.integer({ min: 0, max: 0xffff });
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(
      fc.property(
        fc.record({ flags: u16, opcode: u16, datalen: u16, retval: u16, cookieHigh: u32, cookieLow: u32, param0: u32, param1: u32, addrHigh: u32, addrLow: u32 }),
        (desc) => {
          expect(decodeDescriptor(encodeDescriptor(desc))).toEqual(desc);
        },
      ),
    );
  });

  it('reads the PF status in cookie_low as s32', () => {
    const desc = decodeDescriptor(encodeDescriptor(pfToVfDescriptor(Op.ADD_VLAN, Status.ERR_PARAM, 0, 3)));
    expect(descriptorStatus(desc)).toBe(-5);
    expect(desc.param0).toBe(3);
    expect(desc.opcode).toBe(0x0802);
  });

  it('flags a VF message with a buffer BUF|RD, and LB above 512 bytes', () => {
    expect(vfToPfDescriptor(Op.ADD_ETH_ADDR, 20).flags).toBe(AqFlag.BUF | AqFlag.RD);
    expect(vfToPfDescriptor(Op.ADD_ETH_ADDR, 600).flags).toBe(AqFlag.BUF | AqFlag.RD | AqFlag.LB);
    expect(vfToPfDescriptor(Op.RESET_VF, 0).flags).toBe(0);
  });

  it('refuses a payload over the 4096-byte buffer', () => {
    expect(() => vfToPfDescriptor(Op.ADD_VLAN, 4097)).toThrow(VirtchnlError);
  });

  it('a short buffer is a VF_BAD_DESCRIPTOR error', () => {
    expect(() => decodeDescriptor(Buffer.alloc(31))).toThrow(expect.objectContaining({ code: 'VF_BAD_DESCRIPTOR' }));
  });
});
