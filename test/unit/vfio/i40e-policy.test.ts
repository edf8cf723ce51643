import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCapture } from '../../../src/vfio/capture.js';
import { defaultDestinationFacts, grantCapabilities, LEGACY_VF_CAPS, type DestinationFacts } from '../../../src/vfio/facts.js';
import { encodeRequest } from '../../../src/vfio/messages.js';
import { Cap, capabilityNames, Op, PromiscFlag, Status } from '../../../src/vfio/opcodes.js';
import { applyVfRequest } from '../../../src/vfio/pf-model.js';
import { compareVfToDestination, planReplay } from '../../../src/vfio/plan.js';
import { RecordingPf } from '../../../src/vfio/recorder.js';
import { reduceCapture } from '../../../src/vfio/reduce.js';
import { buildLinux612Capture, iavfBringUp, IAVF_CAPS, IAVF_CAPS_LINUX_6_12, SAMPLE_MAC } from '../../../src/vfio/sample-captures.js';
import { freshVfState, type VfState } from '../../../src/vfio/state.js';
import { checkMessageFormat, validateVfRequest, defaultRequestContext } from '../../../src/vfio/validate.js';
import { compareStates } from '../../../src/vfio/verify.js';

const names = (flags: number): string[] => capabilityNames(flags).sort();
const fixture = (name: string): Buffer => readFileSync(join(process.cwd(), 'fixtures/captures', name));

/** Plays a plan through the PF model of `facts` on a fresh VF. */
function replay(state: VfState, facts: DestinationFacts): VfState {
  let vf = freshVfState();
  for (const m of planReplay(state, facts)) {
    const outcome = applyVfRequest(vf, m.opcode, m.payload, facts);
    expect({ name: m.name, status: outcome.status }).toEqual({ name: m.name, status: Status.SUCCESS });
    vf = outcome.state;
  }
  return vf;
}

describe('what i40e grants (i40e_vc_get_vf_resources_msg, Linux 6.12)', () => {
  it.each([
    ['Linux 6.12 iavf on an XL710', IAVF_CAPS_LINUX_6_12, 'xl710', ['ADQ', 'ADV_LINK_SPEED', 'ENCAP', 'L2', 'REQ_QUEUES', 'RSS_PF', 'VLAN']],
    ['Linux 6.12 iavf on an X722', IAVF_CAPS_LINUX_6_12, 'x722', ['ADQ', 'ADV_LINK_SPEED', 'ENCAP', 'ENCAP_CSUM', 'L2', 'REQ_QUEUES', 'RSS_PCTYPE_V2', 'RSS_PF', 'VLAN', 'WB_ON_ITR']],
    ['the simulated guest on an XL710', IAVF_CAPS, 'xl710', ['ADV_LINK_SPEED', 'L2', 'REQ_QUEUES', 'RSS_PF', 'RX_POLLING', 'VLAN']],
    ['a 1.0 VF (no bitmap) on an XL710', null, 'xl710', ['ADV_LINK_SPEED', 'L2', 'RSS_REG', 'VLAN']],
    ['RSS_AQ without RSS_PF on an XL710: registers', Cap.L2 | Cap.RSS_AQ, 'xl710', ['ADV_LINK_SPEED', 'L2', 'RSS_REG', 'VLAN']],
    ['RSS_AQ without RSS_PF on an X722: admin queue', Cap.L2 | Cap.RSS_AQ, 'x722', ['ADV_LINK_SPEED', 'L2', 'RSS_AQ', 'VLAN']],
    ['nothing asked: L2, VLAN, registers and link speed anyway', 0, 'xl710', ['ADV_LINK_SPEED', 'L2', 'RSS_REG', 'VLAN']],
  ] as const)('%s', (_name, requested, device, granted) => {
    expect(names(grantCapabilities(requested, device))).toEqual([...granted].sort());
  });

  it('a port VLAN takes VLAN away', () => {
    expect(grantCapabilities(IAVF_CAPS_LINUX_6_12, 'xl710', { portVlan: 5 }) & Cap.VLAN).toBe(0);
  });

  it('a 1.0 VF asks what i40e assumes for it', () => {
    expect(grantCapabilities(null, 'x722')).toBe(grantCapabilities(LEGACY_VF_CAPS, 'x722'));
  });

  it('grants exactly one RSS mode, only bits it was asked for or always grants, and never an X722 bit on an XL710', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom('xl710' as const, 'x722' as const), (requested, device) => {
        const granted = grantCapabilities(requested, device);
        const rssModes = [Cap.RSS_PF, Cap.RSS_AQ, Cap.RSS_REG].filter((bit) => (granted & bit) !== 0);
        expect(rssModes).toHaveLength(1);
        const always = Cap.L2 | Cap.ADV_LINK_SPEED | Cap.VLAN | Cap.RSS_REG;
        expect((granted & ~(requested | always)) >>> 0).toBe(0);
        if (device === 'xl710') expect(granted & (Cap.WB_ON_ITR | Cap.RSS_PCTYPE_V2 | Cap.ENCAP_CSUM | Cap.RSS_AQ)).toBe(0);
      }),
      { numRuns: 500, seed: 11 },
    );
  });
});

describe('the hash types i40e reports to GET_RSS_HENA_CAPS (i40e_vc_get_rss_hena, Linux 6.12)', () => {
  /** I40E_FILTER_PCTYPE_* numbers of i40e_type.h */
  const bits = (...pctypes: number[]): bigint => pctypes.reduce((hena, p) => hena | (1n << BigInt(p)), 0n);
  // I40E_DEFAULT_RSS_HENA: IPv4 UDP, TCP, SCTP, other, fragments; the same for IPv6; L2 payload
  const base = bits(31, 33, 34, 35, 36, 41, 43, 44, 45, 46, 63);
  // _EXPANDED adds TCP SYN without ACK and unicast/multicast UDP, for both IP versions
  const expanded = base | bits(32, 29, 30, 42, 39, 40);

  it.each([
    ['xl710', base, 0x8000_7a1e_8000_0000n],
    ['x722', expanded, 0x8000_7f9f_e000_0000n],
  ] as const)('%s: i40e_pf_get_default_rss_hena()', (device, hena, literal) => {
    expect(hena).toBe(literal);
    const pf = new RecordingPf(defaultDestinationFacts({ vsiId: 7, device }));
    pf.send({ opcode: Op.VERSION, version: { major: 1, minor: 1 } });
    pf.send({ opcode: Op.GET_VF_RESOURCES, caps: IAVF_CAPS_LINUX_6_12 });
    const outcome = pf.send({ opcode: Op.GET_RSS_HENA_CAPS });
    expect(outcome.reply?.readBigUInt64LE(0)).toBe(hena);
  });
});

describe('iavf-linux-6.12.cap: a current Linux guest', () => {
  const reduction = reduceCapture(parseCapture(fixture('iavf-linux-6.12.cap')).records);
  const { state } = reduction;
  /** The same guest, which also turned promiscuous mode on, on an untrusted source VF. */
  const promiscuous = reduceCapture(parseCapture(buildLinux612Capture({ promisc: true })).records, { sourceTrusted: false }).state;

  it('holds what i40e granted: ADV_LINK_SPEED, ENCAP and ADQ among them', () => {
    expect(state.requestedCaps).toBe(IAVF_CAPS_LINUX_6_12);
    expect(IAVF_CAPS_LINUX_6_12).toBe(0x1abd8cf9); // as docs/virtchnl-kernel.md and the fixtures README say
    expect(names(state.resources?.capFlags ?? 0)).toEqual(['ADQ', 'ADV_LINK_SPEED', 'ENCAP', 'L2', 'REQ_QUEUES', 'RSS_PF', 'VLAN']);
    expect(reduction.rejections).toEqual([]);
  });

  it('is planned for a default destination (it was refused as incompatible before) and the replay rebuilds it', () => {
    expect(compareVfToDestination(state, defaultDestinationFacts())).toEqual([]);
    expect(planReplay(state, defaultDestinationFacts()).map((m) => m.name)).toEqual([
      'VERSION',
      'GET_VF_RESOURCES',
      'CONFIG_VSI_QUEUES',
      'CONFIG_IRQ_MAP',
      'ADD_ETH_ADDR',
      'ADD_VLAN',
      'CONFIG_RSS_KEY',
      'CONFIG_RSS_LUT',
      'SET_RSS_HENA',
      'ENABLE_VLAN_STRIPPING', // the ADD_VLAN turned it on at the PF
      'ENABLE_QUEUES',
    ]);
    expect(compareStates(state, replay(state, defaultDestinationFacts({ vsiId: 17 })))).toEqual([]);
    expect(state.queuePairs.get(0)?.rx.maxPktSize).toBe(9018);
  });

  it('keeps the promiscuous request an untrusted source applied nothing for; the plan replays it and an untrusted destination answers it the same way', () => {
    expect(promiscuous.promiscRequested).toEqual({ unicast: true, multicast: true });
    expect(promiscuous.promisc).toEqual({ unicast: false, multicast: false });
    const facts = defaultDestinationFacts({ vsiId: 17 });
    expect(planReplay(promiscuous, facts).map((m) => m.name)).toContain('CONFIG_PROMISCUOUS_MODE');
    expect(compareStates(promiscuous, replay(promiscuous, facts))).toEqual([]);
  });

  it('a trusted destination would apply what the untrusted source did not: a difference', () => {
    const facts = defaultDestinationFacts({ vsiId: 17, trusted: true });
    expect(compareStates(promiscuous, replay(promiscuous, facts)).map((d) => d.field)).toEqual(['promisc.unicast', 'promisc.multicast']);
  });

  it('read as a trusted source, the applied promiscuous mode is refused for an untrusted destination, with the difference named', () => {
    const trusted = reduceCapture(parseCapture(buildLinux612Capture({ promisc: true })).records).state;
    expect(compareVfToDestination(trusted, defaultDestinationFacts())).toEqual([expect.objectContaining({ field: 'trusted', source: true, destination: false })]);
  });

  it('an XL710 source refuses nothing an X722 destination takes, but not the other way round', () => {
    const x722 = reduceCapture(parseCapture(buildOn({ device: 'x722' })).records).state;
    expect(compareVfToDestination(state, defaultDestinationFacts({ device: 'x722' }))).toEqual([]);
    const differences = compareVfToDestination(x722, defaultDestinationFacts({ device: 'xl710' }));
    expect(differences.map((d) => d.field)).toEqual(['capabilities.granted']);
    expect(differences[0]?.message).toMatch(/would not grant capabilities WB_ON_ITR, RSS_PCTYPE_V2, ENCAP_CSUM/);
  });
});

function buildOn(overrides: Partial<DestinationFacts>): Buffer {
  const pf = new RecordingPf(defaultDestinationFacts({ vsiId: 17, hostMac: SAMPLE_MAC, ...overrides }));
  iavfBringUp(pf, SAMPLE_MAC, IAVF_CAPS_LINUX_6_12);
  return pf.toBuffer();
}

describe('a RESET_VF with a payload', () => {
  it('is malformed by the kernel rules, answered with an error, and resets nothing', () => {
    const pf = new RecordingPf(defaultDestinationFacts({ vsiId: 17, hostMac: SAMPLE_MAC }));
    iavfBringUp(pf);
    pf.send({ opcode: Op.ADD_VLAN, vsiId: 17, vlanIds: [7] });
    const outcome = pf.sendRaw(Op.RESET_VF, Buffer.from([1, 0, 0, 0]));
    expect(outcome.status).toBe(Status.ERR_OPCODE_MISMATCH);
    const { records } = parseCapture(pf.toBuffer());
    const reduction = reduceCapture(records);
    expect([...reduction.state.vlans]).toEqual([7]);
    expect(reduction.counters.resets).toBe(0);
    expect(planReplay(reduction.state, defaultDestinationFacts({ vsiId: 17 })).length).toBeGreaterThan(5);
    expect(reduction.rejections).toEqual([
      expect.objectContaining({ name: 'RESET_VF', status: Status.ERR_OPCODE_MISMATCH, reason: expect.stringMatching(/virtchnl_vc_validate_vf_msg rejects it \(ERR_OPCODE_MISMATCH\).*exactly 0 bytes, got 4/) as unknown }),
    ]);
  });

  it('an empty RESET_VF still resets', () => {
    const pf = new RecordingPf(defaultDestinationFacts({ vsiId: 17 }));
    iavfBringUp(pf);
    pf.send({ opcode: Op.RESET_VF });
    const reduction = reduceCapture(parseCapture(pf.toBuffer()).records);
    expect(reduction.counters.resets).toBe(1);
    expect(reduction.state.active).toBe(false);
  });
});

describe('the reducer applies only what the PF applied', () => {
  it('a request the capture shows accepted but the kernel rejects changes nothing and is reported', () => {
    const pf = new RecordingPf(defaultDestinationFacts({ vsiId: 17 }));
    iavfBringUp(pf);
    const { records } = parseCapture(pf.toBuffer());
    // Forge a record pair: an RSS LUT declaring 0 entries, "accepted".
    const bad = Buffer.from([17, 0, 0, 0, 0]);
    const request = { ...records[0]!, index: 1000, direction: 0, descriptor: { ...records[0]!.descriptor, cookieHigh: Op.CONFIG_RSS_LUT }, payload: bad };
    const reply = { ...records[1]!, index: 1001, direction: 1, descriptor: { ...records[1]!.descriptor, cookieHigh: Op.CONFIG_RSS_LUT, cookieLow: 0, retval: 0 }, payload: Buffer.alloc(0) };
    const before = reduceCapture(records).state;
    const reduction = reduceCapture([...records, request, reply]);
    expect(reduction.state.rss.lut?.equals(before.rss.lut ?? Buffer.alloc(0))).toBe(true);
    expect(reduction.rejections).toEqual([expect.objectContaining({ recordIndex: 1000, name: 'CONFIG_RSS_LUT', reason: expect.stringMatching(/capture shows SUCCESS, but .*lut_entries must be at least 1/) as unknown })]);
  });

  it('every refused request is listed with the PF status', () => {
    const pf = new RecordingPf(defaultDestinationFacts({ vsiId: 17 }));
    iavfBringUp(pf);
    pf.send({ opcode: Op.CONFIG_RSS_HFUNC, vsiId: 17, algorithm: 0 });
    pf.send({ opcode: Op.ADD_VLAN, vsiId: 17, vlanIds: [4096] });
    const reduction = reduceCapture(parseCapture(pf.toBuffer()).records);
    expect(reduction.rejections.map((r) => [r.name, r.status])).toEqual([
      ['CONFIG_RSS_HFUNC', Status.ERR_NOT_SUPPORTED],
      ['ADD_VLAN', Status.ERR_PARAM],
    ]);
    expect(reduction.state.rss.hfunc).toBeNull();
  });
});

describe('opcodes and lengths as the kernel judges them', () => {
  it.each([0, 16, 17, 19, 34, 43, 49, 50, 58, 99])('opcode %i is ERR_PARAM whatever its payload', (opcode) => {
    const verdict = checkMessageFormat(opcode, Buffer.alloc(0), { major: 1, minor: 1 });
    expect(verdict.ok ? null : [verdict.error.code, verdict.error.status]).toEqual(['VF_BAD_OPCODE', Status.ERR_PARAM]);
  });

  it.each([
    ['CONFIG_RSS_HFUNC (18)', Op.CONFIG_RSS_HFUNC, encodeRequest({ opcode: Op.CONFIG_RSS_HFUNC, vsiId: 0, algorithm: 0 })],
    ['CONFIG_TX_QUEUE (4)', Op.CONFIG_TX_QUEUE, Buffer.alloc(24)],
    ['GET_SUPPORTED_RXDIDS (44)', Op.GET_SUPPORTED_RXDIDS, Buffer.alloc(0)],
  ])('%s is well formed but i40e does not implement it: NOT_SUPPORTED', (_name, opcode, payload) => {
    expect(checkMessageFormat(opcode, payload, { major: 1, minor: 1 }).ok).toBe(true);
    const result = validateVfRequest(opcode, payload, defaultRequestContext());
    expect(result.ok ? null : [result.error.code, result.error.status]).toEqual(['VF_UNSUPPORTED_OPCODE', Status.ERR_NOT_SUPPORTED]);
  });

  it.each([
    ['5 bytes', Buffer.from([0, 0, 0, 0, 0])],
    ['6 bytes', Buffer.from([0, 0, 0, 0, 0, 0])],
  ])('a CONFIG_RSS_KEY declaring 0 bytes is ERR_OPCODE_MISMATCH with %s', (_name, payload) => {
    for (const opcode of [Op.CONFIG_RSS_KEY, Op.CONFIG_RSS_LUT]) {
      const verdict = checkMessageFormat(opcode, payload, { major: 1, minor: 1 });
      expect(verdict.ok ? null : verdict.error.status).toBe(Status.ERR_OPCODE_MISMATCH);
    }
  });

  it('GET_VF_RESOURCES carries a bitmap from a 1.1 VF only', () => {
    expect(checkMessageFormat(Op.GET_VF_RESOURCES, Buffer.alloc(4), { major: 1, minor: 1 }).ok).toBe(true);
    expect(checkMessageFormat(Op.GET_VF_RESOURCES, Buffer.alloc(0), { major: 1, minor: 0 }).ok).toBe(true);
    expect(checkMessageFormat(Op.GET_VF_RESOURCES, Buffer.alloc(4), null).ok).toBe(false);
    expect(checkMessageFormat(Op.GET_VF_RESOURCES, Buffer.alloc(0), { major: 1, minor: 1 }).ok).toBe(false);
  });

  it('an untrusted VF promiscuous request: SUCCESS, asked recorded, nothing applied', () => {
    const facts = defaultDestinationFacts({ vsiId: 3 });
    let vf = freshVfState();
    vf = applyVfRequest(vf, Op.VERSION, encodeRequest({ opcode: Op.VERSION, version: { major: 1, minor: 1 } }), facts).state;
    vf = applyVfRequest(vf, Op.GET_VF_RESOURCES, encodeRequest({ opcode: Op.GET_VF_RESOURCES, caps: IAVF_CAPS }), facts).state;
    const outcome = applyVfRequest(vf, Op.CONFIG_PROMISCUOUS_MODE, encodeRequest({ opcode: Op.CONFIG_PROMISCUOUS_MODE, vsiId: 3, flags: PromiscFlag.MULTICAST }), facts);
    expect(outcome.status).toBe(Status.SUCCESS);
    expect(outcome.state.promisc).toEqual({ unicast: false, multicast: false });
    expect(outcome.state.promiscRequested).toEqual({ unicast: false, multicast: true });
  });
});
