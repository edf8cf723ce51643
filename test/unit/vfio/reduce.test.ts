import { describe, expect, it } from '@jest/globals';
import { CaptureWriter, parseCapture } from '../../../src/vfio/capture.js';
import { describeRecord, formatRecordLine } from '../../../src/vfio/describe-record.js';
import { defaultDestinationFacts } from '../../../src/vfio/facts.js';
import { encodeRequest } from '../../../src/vfio/messages.js';
import { Op, Status } from '../../../src/vfio/opcodes.js';
import { applyVfRequest } from '../../../src/vfio/pf-model.js';
import { RecordingPf } from '../../../src/vfio/recorder.js';
import { planReplay } from '../../../src/vfio/plan.js';
import { reduceCapture } from '../../../src/vfio/reduce.js';
import { freshVfState } from '../../../src/vfio/state.js';

function activeVf(facts = defaultDestinationFacts({ vsiId: 7 })): RecordingPf {
  const pf = new RecordingPf(facts);
  pf.send({ opcode: Op.VERSION, version: { major: 1, minor: 1 } });
  pf.send({ opcode: Op.GET_VF_RESOURCES, caps: 0x1 });
  return pf;
}

describe('PF model', () => {
  it('acknowledges promiscuous mode on an untrusted VF without applying it, and applies it when trusted', () => {
    for (const trusted of [false, true]) {
      const pf = activeVf(defaultDestinationFacts({ vsiId: 7, trusted }));
      const outcome = pf.send({ opcode: Op.CONFIG_PROMISCUOUS_MODE, vsiId: 7, flags: 3 });
      expect(outcome.status).toBe(Status.SUCCESS);
      expect(pf.state.promisc).toEqual({ unicast: trusted, multicast: trusted });
    }
  });

  it('grants REQUEST_QUEUES with a reset and no reply, refuses too many with a counter-offer', () => {
    const pf = activeVf(defaultDestinationFacts({ vsiId: 7, numQueuePairs: 8, defaultQueuePairs: 4 }));
    const refused = pf.send({ opcode: Op.REQUEST_QUEUES, numQueuePairs: 12 });
    expect([refused.reset, refused.reply?.readUInt16LE(0)]).toEqual([false, 8]);
    expect(pf.state.active).toBe(true);
    const granted = pf.send({ opcode: Op.REQUEST_QUEUES, numQueuePairs: 6 });
    expect([granted.reset, granted.reply]).toEqual([true, null]);
    expect(pf.state.active).toBe(false);
    pf.send({ opcode: Op.VERSION, version: { major: 1, minor: 1 } });
    pf.send({ opcode: Op.GET_VF_RESOURCES, caps: 0x1 });
    expect(pf.state.resources?.numQueuePairs).toBe(6);
  });

  it('does not change the state it was given', () => {
    const state = freshVfState();
    applyVfRequest(state, Op.VERSION, encodeRequest({ opcode: Op.VERSION, version: { major: 1, minor: 1 } }), defaultDestinationFacts());
    expect(state.vfVersion).toBeNull();
  });
});

describe('reducer edge cases', () => {
  it('counts a request left unanswered, a reply with no request, and an accepted request whose bytes do not decode', () => {
    const w = new CaptureWriter();
    const version = encodeRequest({ opcode: Op.VERSION, version: { major: 1, minor: 1 } });
    w.request(1n, Op.VERSION, version); // never answered
    w.request(2n, Op.VERSION, version);
    w.reply(3n, Op.VERSION, 0, version);
    w.reply(4n, Op.ADD_VLAN, 0, Buffer.alloc(0)); // nothing waiting
    w.request(5n, Op.ADD_VLAN, Buffer.alloc(3)); // malformed, yet "accepted"
    w.reply(6n, Op.ADD_VLAN, 0, Buffer.alloc(0));
    const { state, counters, notes } = reduceCapture(parseCapture(w.toBuffer()).records);
    expect(counters).toMatchObject({ messages: 6, unanswered: 1, unmatchedReplies: 1, malformed: 1, applied: 1 });
    expect(notes.map((n) => n.recordIndex)).toEqual([0, 3, 5]);
    expect(state.vfVersion).toEqual({ major: 1, minor: 1 });
    expect(state.vlans.size).toBe(0);
  });

  it('a refused request does not change the state', () => {
    const pf = activeVf();
    pf.send({ opcode: Op.ADD_VLAN, vsiId: 7, vlanIds: [10] });
    pf.send({ opcode: Op.ADD_VLAN, vsiId: 8, vlanIds: [11] }); // another VSI: ERR_PARAM
    const { state, counters } = reduceCapture(parseCapture(pf.toBuffer()).records);
    expect([...state.vlans]).toEqual([10]);
    expect(counters.rejected).toBe(1);
  });

  it('an EVENT RESET_IMPENDING from the PF clears the state', () => {
    const pf = activeVf();
    pf.send({ opcode: Op.ADD_VLAN, vsiId: 7, vlanIds: [10] });
    pf.pfReset();
    const { state, counters } = reduceCapture(parseCapture(pf.toBuffer()).records);
    expect(state.vlans.size).toBe(0);
    expect(state.active).toBe(false);
    expect(counters.resets).toBe(1);
  });
});

describe('vf decode lines', () => {
  it('shows an undecodable payload with its field and offset instead of failing', () => {
    const bytes = new CaptureWriter().request(5n, Op.ADD_ETH_ADDR, Buffer.alloc(10)).toBuffer();
    const [record] = parseCapture(bytes).records;
    if (!record) throw new Error('no record');
    const d = describeRecord(record, 0n);
    expect(d.decodeError).toMatchObject({ code: 'VF_BAD_LENGTH', field: 'num_elements', offset: 2 });
    expect(formatRecordLine(d)).toMatch(/VF->PF {2}ADD_ETH_ADDR {2}undecodable: ADD_ETH_ADDR: num_elements must be at least 1/);
  });
});

describe('a VF reset keeps the version the VF announced (i40e keeps vf->vf_ver)', () => {
  /**
   * What Linux iavf does after any VF reset (ip link set mtu, ethtool -L): iavf_reset_task()
   * asks GET_VF_RESOURCES again with the 1.1 bitmap and never sends VERSION again.
   */
  function resetThenReinit(reset: (pf: RecordingPf) => void): RecordingPf {
    const pf = activeVf();
    pf.send({ opcode: Op.ADD_VLAN, vsiId: 7, vlanIds: [10] });
    reset(pf);
    const outcome = pf.send({ opcode: Op.GET_VF_RESOURCES, caps: 0x1 });
    expect(outcome.status).toBe(Status.SUCCESS);
    pf.send({ opcode: Op.ADD_VLAN, vsiId: 7, vlanIds: [20] });
    return pf;
  }

  it.each([
    ['RESET_VF from the guest', (pf: RecordingPf) => void pf.send({ opcode: Op.RESET_VF })],
    ['a reset by the PF', (pf: RecordingPf) => void pf.pfReset()],
  ])('after %s, the 4-byte GET_VF_RESOURCES is judged as 1.1, and the state plans a full replay', (_name, reset) => {
    const pf = resetThenReinit(reset);
    const { state, rejections } = reduceCapture(parseCapture(pf.toBuffer()).records);
    expect(rejections).toEqual([]);
    expect(state.vfVersion).toEqual({ major: 1, minor: 1 });
    expect([...state.vlans]).toEqual([20]);
    // Before: the reset dropped the version and the plan was empty.
    const plan = planReplay(state, defaultDestinationFacts({ vsiId: 9 }));
    expect(plan.map((m) => m.name)).toEqual(['VERSION', 'GET_VF_RESOURCES', 'ADD_VLAN', 'ENABLE_VLAN_STRIPPING']); // i40e strips once a VLAN is added
    expect(plan[1]?.payload.readUInt32LE(0)).toBe(0x1);
  });
});

describe('ADD_VLAN turns VLAN stripping on at the PF (i40e_vc_add_vlan_msg calls i40e_vlan_stripping_enable)', () => {
  it('stripping disabled, then a VLAN added: the PF strips, and so does the replay', () => {
    const pf = activeVf();
    pf.send({ opcode: Op.DISABLE_VLAN_STRIPPING });
    pf.send({ opcode: Op.ADD_VLAN, vsiId: 7, vlanIds: [10] });
    const { state } = reduceCapture(parseCapture(pf.toBuffer()).records);
    // Before: the state said "off" (the last explicit request), the replay sent DISABLE
    // after ADD_VLAN, and the destination ended without stripping while the source stripped.
    expect(state.vlanStripping).toBe(true);
    const plan = planReplay(state, defaultDestinationFacts({ vsiId: 9 }));
    expect(plan.map((m) => m.name)).toEqual(['VERSION', 'GET_VF_RESOURCES', 'ADD_VLAN', 'ENABLE_VLAN_STRIPPING']);
  });

  it('a later DISABLE_VLAN_STRIPPING still wins, and a refused ADD_VLAN changes nothing', () => {
    const pf = activeVf();
    pf.send({ opcode: Op.ADD_VLAN, vsiId: 7, vlanIds: [10] });
    pf.send({ opcode: Op.DISABLE_VLAN_STRIPPING });
    pf.send({ opcode: Op.ADD_VLAN, vsiId: 7, vlanIds: [4096] }); // refused: above 4095
    expect(reduceCapture(parseCapture(pf.toBuffer()).records).state.vlanStripping).toBe(false);
  });
});
