/**
 * The simulator's traffic against the kernel's virtchnl_vc_validate_vf_msg(): everything
 * the simulated guest driver (its own encoder, independent of nicmig's codec) sends to the
 * simulated PF passes the kernel's validator, and nicmig's format check agrees. Skips with
 * a message where gcc or the kernel header is missing; fails under CI=true.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseCapture } from '../../../src/vfio/capture.js';
import { decodeRequest, replyBodies, requestBodies, structs, type ApiVersion } from '../../../src/vfio/messages.js';
import { Op, opcodeName, Status } from '../../../src/vfio/opcodes.js';
import { checkMessageFormat } from '../../../src/vfio/validate.js';
import { kernelValidatorUnavailable, KernelValidator, type KernelCase } from '../../unit/vfio/kernel/kernel-validator.js';
import { detachAfterEach, makePf, plug, type Plugged } from './helpers.js';

const plugged = detachAfterEach();
const unavailable = kernelValidatorUnavailable();
if (unavailable !== null && process.env.CI !== 'true') console.warn(`SKIPPED test/sim/i40e/kernel-conformance.test.ts: ${unavailable}`);
const suite = unavailable !== null && process.env.CI !== 'true' ? describe.skip : describe;

suite("the simulated guest's admin traffic against the kernel's validator", () => {
  let kernel: KernelValidator;
  beforeAll(() => {
    if (unavailable !== null) throw new Error(`the kernel conformance test cannot run (CI=true): ${unavailable}`);
    kernel = KernelValidator.build(structs, [...requestBodies.values(), ...replyBodies.values()]);
  });
  afterAll(() => {
    kernel?.close();
  });

  it.each([
    ['trusted', true],
    ['untrusted', false],
  ])('every request of a %s guest passes, and nicmig agrees', (_name, trust) => {
    const p: Plugged = plug(makePf('hostA', 16), { trust });
    plugged.push(p);
    const guest = p.device.guest!;
    guest.bringUp();
    guest.addMacs(['33:33:00:00:00:01', '01:00:5e:00:00:fb']);
    guest.addVlans([100, 200, 300]);
    guest.delVlans([200]);
    guest.setPromisc(true, true);
    guest.setMac('02:aa:00:00:00:02');
    guest.setVlanStripping(true);
    guest.getStats();
    // The device's capture holds the log since the last VF reset: take it before and after.
    const logs = [p.device.vf.capture().bytes];
    guest.resetVf();
    guest.setPromisc(false, false);
    logs.push(p.device.vf.capture().bytes);

    const cases: { where: string; c: KernelCase }[] = [];
    logs.forEach((bytes, log) => {
      const parsed = parseCapture(bytes);
      expect(parsed.error).toBeNull();
      let version: ApiVersion = { major: 1, minor: 0 };
      for (const r of parsed.records.filter((record) => record.direction === 0)) {
        const opcode = r.descriptor.cookieHigh;
        cases.push({ where: `log ${log} record ${r.index} (${opcodeName(opcode)})`, c: { version, opcode, payload: r.payload } });
        if (opcode === Op.VERSION) {
          const request = decodeRequest(opcode, r.payload);
          if ('version' in request) version = request.version;
        }
      }
    });
    expect(cases.length).toBeGreaterThan(20);
    const codes = kernel.validate(cases.map((x) => x.c));
    expect(cases.map((x, i) => [x.where, codes[i]]).filter(([, code]) => code !== Status.SUCCESS)).toEqual([]);
    expect(cases.map((x) => [x.where, checkMessageFormat(x.c.opcode, x.c.payload, x.c.version).ok]).filter(([, ok]) => !ok)).toEqual([]);
  });
});
