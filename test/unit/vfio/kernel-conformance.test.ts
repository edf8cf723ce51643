/**
 * nicmig's virtchnl rules against the kernel's own: virtchnl_vc_validate_vf_msg() and the
 * struct layouts of include/linux/avf/virtchnl.h (Debian's header package recorded in
 * src/vfio/kernel-reference.ts), compiled with gcc. Needs `scripts/fetch-kernel-header.sh`
 * once; with CI=true a missing compiler or header fails, elsewhere the suite is skipped
 * with a message saying what is missing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCapture } from '../../../src/vfio/capture.js';
import { buildDriverCaptures } from '../../../src/vfio/driver-captures.js';
import { defaultDestinationFacts, type DestinationFacts } from '../../../src/vfio/facts.js';
import { decodeRequest, encodeRequest, replyBodies, requestBodies, structs, type ApiVersion } from '../../../src/vfio/messages.js';
import { Op, opcodeName, Status } from '../../../src/vfio/opcodes.js';
import { planReplay } from '../../../src/vfio/plan.js';
import { reduceCapture } from '../../../src/vfio/reduce.js';
import type { VfState } from '../../../src/vfio/state.js';
import { checkMessageFormat } from '../../../src/vfio/validate.js';
import { requestArb } from './arbitraries.js';
import { kernelHeaderSource, kernelValidatorUnavailable, KernelValidator, layoutChecks, type KernelCase } from './kernel/kernel-validator.js';

const V11: ApiVersion = { major: 1, minor: 1 };
const V10: ApiVersion = { major: 1, minor: 0 };
const OK = 0;
const PARAM = Status.ERR_PARAM;
const MISMATCH = Status.ERR_OPCODE_MISMATCH;

/** nicmig's verdict as the kernel's return code; 'unchecked' for layouts nicmig does not model. */
function nicmigCode(c: KernelCase): number | 'unchecked' {
  const verdict = checkMessageFormat(c.opcode, c.payload, c.version);
  if (!verdict.ok) return verdict.error.status;
  return verdict.checked ? OK : 'unchecked';
}

/** A list message: a header of `header` bytes with `count` at `countAt`, `length` bytes in all. */
function list(length: number, countAt: number, count: number): Buffer {
  const b = Buffer.alloc(length);
  b.writeUInt16LE(count, countAt);
  return b;
}

const malformed: [string, ApiVersion, number, Buffer, number][] = [
  ['VERSION, 8 bytes', V11, Op.VERSION, Buffer.alloc(8), OK],
  ['VERSION, 7 bytes', V11, Op.VERSION, Buffer.alloc(7), MISMATCH],
  ['VERSION, 9 bytes', V11, Op.VERSION, Buffer.alloc(9), MISMATCH],
  ['RESET_VF, empty', V11, Op.RESET_VF, Buffer.alloc(0), OK],
  ['RESET_VF with a 4-byte payload', V11, Op.RESET_VF, Buffer.alloc(4), MISMATCH],
  ['GET_VF_RESOURCES from 1.1 with a bitmap', V11, Op.GET_VF_RESOURCES, Buffer.alloc(4), OK],
  ['GET_VF_RESOURCES from 1.1 without one', V11, Op.GET_VF_RESOURCES, Buffer.alloc(0), MISMATCH],
  ['GET_VF_RESOURCES from 1.0 without one', V10, Op.GET_VF_RESOURCES, Buffer.alloc(0), OK],
  ['GET_VF_RESOURCES from 1.0 with one', V10, Op.GET_VF_RESOURCES, Buffer.alloc(4), MISMATCH],
  // VF_IS_V11 is exactly 1.1: a 1.2 or 2.0 VF sends no bitmap (nicmig had "1.1 or later")
  ['GET_VF_RESOURCES from 2.0 with one', { major: 2, minor: 0 }, Op.GET_VF_RESOURCES, Buffer.alloc(4), MISMATCH],
  ['GET_VF_RESOURCES from 2.0 without one', { major: 2, minor: 0 }, Op.GET_VF_RESOURCES, Buffer.alloc(0), OK],
  ['GET_VF_RESOURCES from 1.2 with one', { major: 1, minor: 2 }, Op.GET_VF_RESOURCES, Buffer.alloc(4), MISMATCH],
  ['CONFIG_TX_QUEUE, 24 bytes', V11, Op.CONFIG_TX_QUEUE, Buffer.alloc(24), OK],
  ['CONFIG_RX_QUEUE, 40 bytes', V11, Op.CONFIG_RX_QUEUE, Buffer.alloc(40), OK],
  ['CONFIG_VSI_QUEUES, 1 pair in 136 bytes', V11, Op.CONFIG_VSI_QUEUES, list(136, 2, 1), OK],
  ['CONFIG_VSI_QUEUES, 0 pairs in 72 bytes', V11, Op.CONFIG_VSI_QUEUES, list(72, 2, 0), MISMATCH],
  ['CONFIG_VSI_QUEUES, 1 pair in 72 bytes', V11, Op.CONFIG_VSI_QUEUES, list(72, 2, 1), MISMATCH],
  ['CONFIG_VSI_QUEUES, shorter than its header', V11, Op.CONFIG_VSI_QUEUES, Buffer.alloc(7), MISMATCH],
  ['CONFIG_IRQ_MAP, 1 vector in 26 bytes', V11, Op.CONFIG_IRQ_MAP, list(26, 0, 1), OK],
  ['CONFIG_IRQ_MAP, 0 vectors in 14 bytes', V11, Op.CONFIG_IRQ_MAP, list(14, 0, 0), MISMATCH],
  ['CONFIG_IRQ_MAP, 1 byte', V11, Op.CONFIG_IRQ_MAP, Buffer.alloc(1), MISMATCH],
  ['ENABLE_QUEUES, 12 bytes', V11, Op.ENABLE_QUEUES, Buffer.alloc(12), OK],
  ['ENABLE_QUEUES, 11 bytes', V11, Op.ENABLE_QUEUES, Buffer.alloc(11), MISMATCH],
  ['ADD_ETH_ADDR, 1 address in 20 bytes', V11, Op.ADD_ETH_ADDR, list(20, 2, 1), OK],
  ['ADD_ETH_ADDR, 0 addresses in 12 bytes', V11, Op.ADD_ETH_ADDR, list(12, 2, 0), MISMATCH],
  ['DEL_ETH_ADDR, 2 addresses in 20 bytes', V11, Op.DEL_ETH_ADDR, list(20, 2, 2), MISMATCH],
  ['ADD_VLAN, 3 ids in 12 bytes', V11, Op.ADD_VLAN, list(12, 2, 3), OK],
  ['DEL_VLAN, 4 ids in 12 bytes', V11, Op.DEL_VLAN, list(12, 2, 4), MISMATCH],
  ['CONFIG_PROMISCUOUS_MODE, 4 bytes', V11, Op.CONFIG_PROMISCUOUS_MODE, Buffer.alloc(4), OK],
  ['GET_STATS, 12 bytes', V11, Op.GET_STATS, Buffer.alloc(12), OK],
  ['CONFIG_RSS_HFUNC, 8 bytes (valid; i40e does not implement it)', V11, Op.CONFIG_RSS_HFUNC, Buffer.alloc(8), OK],
  ['CONFIG_RSS_KEY, 52 bytes in 57', V11, Op.CONFIG_RSS_KEY, list(57, 2, 52), OK],
  ['CONFIG_RSS_KEY, 52 bytes in 56', V11, Op.CONFIG_RSS_KEY, list(56, 2, 52), MISMATCH],
  ['CONFIG_RSS_KEY, 0 bytes in 5', V11, Op.CONFIG_RSS_KEY, list(5, 2, 0), MISMATCH],
  ['CONFIG_RSS_KEY, 0 bytes in 6', V11, Op.CONFIG_RSS_KEY, list(6, 2, 0), MISMATCH],
  ['CONFIG_RSS_LUT, 64 entries in 69', V11, Op.CONFIG_RSS_LUT, list(69, 2, 64), OK],
  ['CONFIG_RSS_LUT, 0 entries in 6', V11, Op.CONFIG_RSS_LUT, list(6, 2, 0), MISMATCH],
  ['GET_RSS_HENA_CAPS, 1 byte', V11, Op.GET_RSS_HENA_CAPS, Buffer.alloc(1), MISMATCH],
  ['SET_RSS_HENA, 8 bytes', V11, Op.SET_RSS_HENA, Buffer.alloc(8), OK],
  ['SET_RSS_HENA, 7 bytes', V11, Op.SET_RSS_HENA, Buffer.alloc(7), MISMATCH],
  ['ENABLE_VLAN_STRIPPING with a payload', V11, Op.ENABLE_VLAN_STRIPPING, Buffer.alloc(2), MISMATCH],
  ['REQUEST_QUEUES, 2 bytes', V11, Op.REQUEST_QUEUES, Buffer.alloc(2), OK],
  ['REQUEST_QUEUES, 4 bytes', V11, Op.REQUEST_QUEUES, Buffer.alloc(4), MISMATCH],
  ['UNKNOWN (0)', V11, Op.UNKNOWN, Buffer.alloc(0), PARAM],
  ['RSVD (16)', V11, Op.RSVD, Buffer.alloc(0), PARAM],
  ['EVENT (17) from a VF', V11, Op.EVENT, Buffer.alloc(16), PARAM],
  ['opcode 19', V11, 19, Buffer.alloc(0), PARAM],
  ['opcode 34', V11, 34, Buffer.alloc(0), PARAM],
  ['opcode 49', V11, 49, Buffer.alloc(0), PARAM],
  ['opcode 58', V11, 58, Buffer.alloc(0), PARAM],
  ['opcode 99', V11, 99, Buffer.alloc(8), PARAM],
];

const fixturesDir = join(process.cwd(), 'fixtures/captures');

/** Every VF request of every fixture capture, with the version the PF judges it by. */
function fixtureRequests(): { where: string; c: KernelCase }[] {
  const out: { where: string; c: KernelCase }[] = [];
  for (const name of readdirSync(fixturesDir).filter((f) => f.endsWith('.cap'))) {
    let version: ApiVersion = V10;
    for (const r of parseCapture(readFileSync(join(fixturesDir, name))).records) {
      if (r.direction !== 0) continue;
      const opcode = r.descriptor.cookieHigh;
      out.push({ where: `${name} record ${r.index} (${opcodeName(opcode)})`, c: { version, opcode, payload: r.payload } });
      if (opcode === Op.VERSION && r.payload.length === 8) {
        const request = decodeRequest(opcode, r.payload);
        if ('version' in request) version = request.version;
      }
    }
  }
  return out;
}

/**
 * The captures of current drivers (src/vfio/driver-captures.ts): their source VF was untrusted,
 * as their headers say, and they are planned for the default destination as well.
 */
const driverCaptures = Object.keys(buildDriverCaptures()).filter((f) => f.endsWith('.cap'));

/** Every message of the replay plan of every fixture capture. */
function plannedMessages(): { where: string; c: KernelCase }[] {
  const out: { where: string; c: KernelCase }[] = [];
  const plan = (name: string, destination: string, state: VfState, facts: DestinationFacts): void => {
    let version: ApiVersion = V10;
    planReplay(state, facts).forEach((m, i) => {
      if (m.opcode === Op.VERSION) {
        const request = decodeRequest(m.opcode, m.payload);
        if ('version' in request) version = request.version;
      }
      out.push({ where: `${name} plan message ${i} (${m.name}) for ${destination}`, c: { version, opcode: m.opcode, payload: m.payload } });
    });
  };
  for (const name of readdirSync(fixturesDir).filter((f) => f.endsWith('.cap'))) {
    const { records } = parseCapture(readFileSync(join(fixturesDir, name)));
    plan(name, 'a trusted 16-queue destination', reduceCapture(records).state, defaultDestinationFacts({ vsiId: 99, trusted: true, numQueuePairs: 16, defaultQueuePairs: 4, maxVectors: 9 }));
    if (driverCaptures.includes(name)) plan(name, 'the default destination', reduceCapture(records, { sourceTrusted: false }).state, defaultDestinationFacts());
  }
  return out;
}

const unavailable = kernelValidatorUnavailable();
if (unavailable !== null && process.env.CI !== 'true') {
  console.warn(`SKIPPED test/unit/vfio/kernel-conformance.test.ts: ${unavailable}`);
}
const suite = unavailable !== null && process.env.CI !== 'true' ? describe.skip : describe;

suite("nicmig's virtchnl rules against the kernel's virtchnl_vc_validate_vf_msg()", () => {
  let kernel: KernelValidator;

  beforeAll(() => {
    if (unavailable !== null) throw new Error(`the kernel conformance test cannot run (CI=true): ${unavailable}`);
    kernel = KernelValidator.build(structs, [...requestBodies.values(), ...replyBodies.values()]);
    console.info(`kernel validator built from ${kernelHeaderSource()}`);
  });
  afterAll(() => {
    kernel?.close();
  });

  it('lays every struct and member out as the kernel header does', () => {
    const { expected } = layoutChecks(structs, [...requestBodies.values(), ...replyBodies.values()]);
    expect(Object.fromEntries(kernel.layouts())).toEqual(Object.fromEntries(expected));
  });

  it.each(malformed)('%s: the kernel returns the expected code and nicmig agrees', (_name, version, opcode, payload, code) => {
    const c = { version, opcode, payload };
    expect(kernel.validate([c])).toEqual([code]);
    expect(nicmigCode(c)).toBe(code);
  });

  it('accepts every planned message of every fixture capture', () => {
    const planned = plannedMessages();
    expect(planned.length).toBeGreaterThan(40);
    // Every fixture plans something (an empty plan passes vacuously: a reset used to empty
    // the plan of every Linux capture), the driver captures for both destinations.
    const names = readdirSync(fixturesDir).filter((f) => f.endsWith('.cap'));
    expect(names.filter((n) => !planned.some((p) => p.where.startsWith(`${n} `) && p.c.opcode === Op.ENABLE_QUEUES))).toEqual([]);
    expect(driverCaptures.filter((n) => !planned.some((p) => p.where.startsWith(`${n} `) && p.where.endsWith('for the default destination')))).toEqual([]);
    expect(driverCaptures).toHaveLength(3);
    const codes = kernel.validate(planned.map((p) => p.c));
    expect(planned.map((p, i) => [p.where, codes[i]]).filter(([, code]) => code !== OK)).toEqual([]);
    expect(planned.map((p) => [p.where, nicmigCode(p.c)]).filter(([, code]) => code !== OK)).toEqual([]);
  });

  it('agrees with nicmig on every request of every fixture capture', () => {
    const requests = fixtureRequests();
    expect(requests.length).toBeGreaterThan(100);
    const codes = kernel.validate(requests.map((r) => r.c));
    const disagreements = requests.map((r, i) => ({ where: r.where, kernel: codes[i], nicmig: nicmigCode(r.c) })).filter((d) => d.kernel !== d.nicmig);
    expect(disagreements).toEqual([]);
  });

  it('agrees on random and mutated messages: every verdict, the malformed ones included', () => {
    const caseArb: fc.Arbitrary<KernelCase> = fc.oneof(
      fc.record({ version: fc.constantFrom(V10, V11), opcode: fc.integer({ min: 0, max: 60 }), payload: fc.uint8Array({ maxLength: 160 }) }),
      fc.tuple(requestArb, fc.integer({ min: -2, max: 2 }), fc.boolean()).map(([request, delta, recount]) => {
        const bytes = encodeRequest(request);
        let payload: Buffer = bytes;
        if (delta < 0) payload = bytes.subarray(0, Math.max(0, bytes.length + delta));
        if (delta > 0) payload = Buffer.concat([bytes, Buffer.alloc(delta)]);
        if (recount && payload.length >= 4 && request.opcode !== Op.CONFIG_IRQ_MAP) payload.writeUInt16LE((payload.readUInt16LE(2) + 1) & 0xffff, 2);
        const version = request.opcode === Op.GET_VF_RESOURCES && 'caps' in request && request.caps === null ? V10 : V11;
        return { version, opcode: request.opcode, payload };
      }),
    );
    const cases = fc.sample(caseArb, { numRuns: 3000, seed: 9 });
    const codes = kernel.validate(cases);
    const verdicts = cases.map((c, i) => ({ opcode: c.opcode, length: c.payload.length, hex: Buffer.from(c.payload).toString('hex').slice(0, 80), kernel: codes[i], nicmig: nicmigCode(c) }));
    // Where nicmig models the layout, its verdict is the kernel's; where it does not, it
    // still knows the opcode is one a VF may send (the kernel never says ERR_PARAM).
    expect(verdicts.filter((v) => (v.nicmig === 'unchecked' ? v.kernel === PARAM : v.nicmig !== v.kernel))).toEqual([]);
    const seen = new Set(verdicts.map((v) => v.kernel));
    expect([...seen].sort()).toEqual([MISMATCH, PARAM, OK].sort());
  });
});
