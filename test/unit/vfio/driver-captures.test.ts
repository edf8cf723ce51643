/**
 * The captures of current drivers (fixtures/captures/linux-6.1-iavf.cap, linux-6.12-iavf.cap,
 * dpdk-24.11-iavf.cap, derived from the drivers' sources by src/vfio/driver-captures.ts): each
 * decodes, reduces to the state the driver left, and plans onto a default destination, and the
 * plan rebuilds that state. The message sequences are written out here a second time, from the
 * drivers' code, so that a change to the builder has to agree with them.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCapture, type CaptureRecord } from '../../../src/vfio/capture.js';
import { describeRecord } from '../../../src/vfio/describe-record.js';
import { DPDK_24_11_CAPS, IAVF_CAPS_LINUX_6_1, IAVF_CAPS_LINUX_6_12 } from '../../../src/vfio/driver-captures.js';
import { defaultDestinationFacts, type DestinationFacts } from '../../../src/vfio/facts.js';
import { stateToJson } from '../../../src/vfio/json.js';
import { capabilityNames, EventCode, Op, opcodeName, Status } from '../../../src/vfio/opcodes.js';
import { applyVfRequest } from '../../../src/vfio/pf-model.js';
import { compareVfToDestination, planReplay } from '../../../src/vfio/plan.js';
import { reduceCapture } from '../../../src/vfio/reduce.js';
import { freshVfState, type VfState } from '../../../src/vfio/state.js';
import { compareStates } from '../../../src/vfio/verify.js';

const fixture = (name: string): CaptureRecord[] => {
  const { records, error } = parseCapture(readFileSync(join(process.cwd(), 'fixtures/captures', name)), { file: name });
  expect(error).toBeNull();
  return records;
};
const requests = (records: CaptureRecord[]): string[] => records.filter((r) => r.direction === 0).map((r) => opcodeName(r.descriptor.cookieHigh));

/** Plays a plan through the PF model of `facts` on a fresh VF; every message must be accepted. */
function replay(state: VfState, facts: DestinationFacts): VfState {
  let vf = freshVfState();
  for (const m of planReplay(state, facts)) {
    const outcome = applyVfRequest(vf, m.opcode, m.payload, facts);
    expect({ name: m.name, status: outcome.status }).toEqual({ name: m.name, status: Status.SUCCESS });
    vf = outcome.state;
  }
  return vf;
}

/** What iavf sends after a VF reset it asked for (iavf_reset_task and the watchdog): no VERSION. */
const AFTER_RESET = ['GET_VF_RESOURCES', 'CONFIG_IRQ_MAP', 'ADD_ETH_ADDR', 'CONFIG_VSI_QUEUES', 'ENABLE_QUEUES', 'CONFIG_RSS_KEY', 'CONFIG_RSS_LUT', 'GET_STATS'];

const LINUX_REQUESTS = [
  // probe: __IAVF_STARTUP, __IAVF_INIT_VERSION_CHECK, then __IAVF_DOWN (IRQ map and RSS)
  'VERSION',
  'GET_VF_RESOURCES',
  'CONFIG_IRQ_MAP',
  'CONFIG_RSS_KEY',
  'CONFIG_RSS_LUT',
  // ip link set up: filters, queues, enable; the solicited-node group; stats when idle
  'ADD_ETH_ADDR',
  'CONFIG_VSI_QUEUES',
  'ENABLE_QUEUES',
  'ADD_ETH_ADDR',
  'GET_STATS',
  // mtu 9000, then ethtool -L combined 2: RESET_VF and the re-init, each
  'RESET_VF',
  ...AFTER_RESET,
  'RESET_VF',
  ...AFTER_RESET,
  'ADD_VLAN',
  // ethtool -X: iavf_config_rss() flags the key and the LUT
  'CONFIG_RSS_KEY',
  'CONFIG_RSS_LUT',
  'CONFIG_PROMISCUOUS_MODE',
];

describe.each([
  ['linux-6.1-iavf.cap', IAVF_CAPS_LINUX_6_1, { databufferSize: 3072, maxPktSize: 9706 }],
  ['linux-6.12-iavf.cap', IAVF_CAPS_LINUX_6_12, { databufferSize: 3712, maxPktSize: 9706 }],
] as const)('%s: Linux iavf from probe to up, then mtu, ethtool -L, a VLAN, ethtool -X, promiscuous mode', (name, caps, jumboRx) => {
  const records = fixture(name);
  // The header says the source VF was untrusted: its promiscuous request applied nothing.
  const reduction = reduceCapture(records, { sourceTrusted: false });
  const { state } = reduction;

  it('decodes, every record, in the order the driver sends', () => {
    expect(records.map((r) => describeRecord(r, 0n).decodeError).filter((e) => e !== null)).toEqual([]);
    expect(requests(records)).toEqual(LINUX_REQUESTS);
    // VERSION once: iavf_reset_task() re-initialises with GET_VF_RESOURCES alone
    expect(requests(records).filter((n) => n === 'VERSION')).toHaveLength(1);
    // no REQUEST_QUEUES for ethtool -L: iavf has not sent it since Linux 5.8
    expect(requests(records)).not.toContain('REQUEST_QUEUES');
  });

  it('every request is answered SUCCESS but RESET_VF, which has none; i40e sends the link after GET_VF_RESOURCES and ENABLE_QUEUES', () => {
    expect(reduction.rejections).toEqual([]);
    expect(reduction.counters).toMatchObject({ unanswered: 0, unmatchedReplies: 0, malformed: 0, resets: 2, events: 6 });
    const events = records.filter((r) => r.descriptor.cookieHigh === Op.EVENT);
    expect(events.map((r) => opcodeName(records[r.index - 2]?.descriptor.cookieHigh ?? 0))).toEqual(['GET_VF_RESOURCES', 'ENABLE_QUEUES', 'GET_VF_RESOURCES', 'ENABLE_QUEUES', 'GET_VF_RESOURCES', 'ENABLE_QUEUES']);
    expect(events.every((r) => r.payload.readInt32LE(0) === EventCode.LINK_CHANGE && r.payload.readUInt32LE(4) === 40_000)).toBe(true);
  });

  it('reduces to what the guest left: 2 queue pairs of MTU 9000 buffers, every filter, the VLAN, the -X LUT, promiscuous asked but not applied', () => {
    const json = stateToJson(state);
    expect(json).toMatchObject({ version: { major: 1, minor: 1 }, active: true, vsiId: 17, enabledQueues: { rx: 3, tx: 3 }, vlans: [100], vlanStripping: true }); // i40e_vc_add_vlan_msg turns stripping on
    expect(state.requestedCaps).toBe(caps);
    expect(capabilityNames(state.resources?.capFlags ?? 0).sort()).toEqual(['ADQ', 'ADV_LINK_SPEED', 'ENCAP', 'L2', 'REQ_QUEUES', 'RSS_PF', 'VLAN']);
    expect(json.queuePairs.map((q) => [q.queueId, q.rx.databufferSize, q.rx.maxPktSize, q.rx.ringLen])).toEqual([
      [0, jumboRx.databufferSize, jumboRx.maxPktSize, 512],
      [1, jumboRx.databufferSize, jumboRx.maxPktSize, 512],
    ]);
    expect(json.irqMap.map((v) => [v.vectorId, v.rxqMap, v.txqMap])).toEqual([
      [0, 0, 0],
      [1, 1, 1],
      [2, 2, 2],
    ]);
    expect(json.macs).toEqual([
      { addr: 'fa:16:3e:5d:2a:71', type: 'primary' },
      { addr: '01:00:5e:00:00:01', type: 'extra' },
      { addr: '33:33:00:00:00:01', type: 'extra' },
      { addr: '33:33:ff:5d:2a:71', type: 'extra' },
    ]);
    expect(state.rss.lut?.equals(Buffer.alloc(64, 0))).toBe(true);
    expect(state.rss.key).toHaveLength(52);
    expect(json.promiscRequested).toEqual({ unicast: true, multicast: true });
    expect(json.promisc).toEqual({ unicast: false, multicast: false });
  });

  it('vf plan accepts it for the default destination; the plan rebuilds the state on a new VSI, shorter than the log since the reset', () => {
    const facts = defaultDestinationFacts({ vsiId: 17 });
    expect(compareVfToDestination(state, defaultDestinationFacts())).toEqual([]);
    const plan = planReplay(state, defaultDestinationFacts({ vsiId: 42 }));
    expect(plan.map((m) => m.name)).toEqual(['VERSION', 'GET_VF_RESOURCES', 'CONFIG_VSI_QUEUES', 'CONFIG_IRQ_MAP', 'ADD_ETH_ADDR', 'ADD_VLAN', 'CONFIG_PROMISCUOUS_MODE', 'CONFIG_RSS_KEY', 'CONFIG_RSS_LUT', 'ENABLE_VLAN_STRIPPING', 'ENABLE_QUEUES']);
    expect(plan[1]?.payload.readUInt32LE(0)).toBe(caps);
    expect(plan.at(-1)?.payload.readUInt16LE(0)).toBe(42);
    expect(compareStates(state, replay(state, facts))).toEqual([]);
    expect(plan.length).toBeLessThan(reduction.counters.appliedSinceReset); // the whole-log replay since the last reset
  });

  it('read as a trusted source, the promiscuous mode it applied is refused for an untrusted destination, with the difference named', () => {
    const trusted = reduceCapture(records).state;
    expect(compareVfToDestination(trusted, defaultDestinationFacts()).map((d) => d.field)).toEqual(['trusted']);
    expect(compareStates(trusted, replay(trusted, defaultDestinationFacts({ vsiId: 17, trusted: true })))).toEqual([]);
  });
});

describe('dpdk-24.11-iavf.cap: DPDK iavf PMD start-up', () => {
  const records = fixture('dpdk-24.11-iavf.cap');
  const reduction = reduceCapture(records, { sourceTrusted: false });
  const { state } = reduction;

  it('decodes, every record, in the order the PMD sends', () => {
    expect(records.map((r) => describeRecord(r, 0n).decodeError).filter((e) => e !== null)).toEqual([]);
    expect(requests(records)).toEqual([
      // iavf_dev_init
      'VERSION',
      'GET_VF_RESOURCES',
      'SET_RSS_HENA',
      'GET_STATS',
      // iavf_dev_configure
      'DISABLE_VLAN_STRIPPING',
      'CONFIG_RSS_LUT',
      'CONFIG_RSS_KEY',
      'GET_RSS_HENA_CAPS',
      'SET_RSS_HENA',
      // iavf_dev_start, one ENABLE_QUEUES per queue, then rte_eth_dev_start's restore
      'CONFIG_VSI_QUEUES',
      'CONFIG_IRQ_MAP',
      'ADD_ETH_ADDR',
      ...Array.from({ length: 8 }, () => 'ENABLE_QUEUES'),
      'CONFIG_PROMISCUOUS_MODE',
      'CONFIG_PROMISCUOUS_MODE',
    ]);
    expect(records[2]?.payload.readUInt32LE(0)).toBe(DPDK_24_11_CAPS);
    // bits Linux 6.12's header does not name: INLINE_IPSEC_CRYPTO, LARGE_NUM_QPAIRS, FSUB_PF, QOS, PTP
    expect(capabilityNames(DPDK_24_11_CAPS).filter((n) => n.startsWith('0x'))).toEqual(['0x100', '0x200', '0x4000', '0x20000000', '0x80000000']);
  });

  it('every request is answered SUCCESS, and the state is the started port', () => {
    expect(reduction.rejections).toEqual([]);
    expect(reduction.counters).toMatchObject({ unanswered: 0, unmatchedReplies: 0, malformed: 0, resets: 0, events: 9 });
    const json = stateToJson(state);
    expect(json).toMatchObject({ vsiId: 19, enabledQueues: { rx: 15, tx: 15 }, vlanStripping: false, vlans: [], macs: [{ addr: 'fa:16:3e:0c:91:4e', type: 'primary' }] });
    expect(capabilityNames(state.resources?.capFlags ?? 0).sort()).toEqual(['ADV_LINK_SPEED', 'L2', 'REQ_QUEUES', 'RSS_PF', 'RX_POLLING', 'VLAN']);
    expect(json.queuePairs.map((q) => [q.rx.ringLen, q.rx.databufferSize, q.rx.maxPktSize])).toEqual(Array.from({ length: 4 }, () => [1024, 2048, 1526]));
    expect(json.irqMap).toEqual([{ vectorId: 0, rxqMap: 15, txqMap: 0, rxitrIdx: 0, txitrIdx: 0 }]);
    // i40e's I40E_DEFAULT_RSS_HENA less L2 payload: what RTE_ETH_RSS_IP maps to
    expect(json.rss.hena).toBe('0x00007a1e80000000');
    expect(json.promiscRequested).toEqual({ unicast: false, multicast: false });
  });

  it('vf plan accepts it for the default destination, and the plan rebuilds the state', () => {
    expect(compareVfToDestination(reduceCapture(records).state, defaultDestinationFacts())).toEqual([]);
    const plan = planReplay(state, defaultDestinationFacts());
    expect(plan.map((m) => m.name)).toEqual(['VERSION', 'GET_VF_RESOURCES', 'CONFIG_VSI_QUEUES', 'CONFIG_IRQ_MAP', 'ADD_ETH_ADDR', 'CONFIG_RSS_KEY', 'CONFIG_RSS_LUT', 'SET_RSS_HENA', 'DISABLE_VLAN_STRIPPING', 'ENABLE_QUEUES']);
    expect(compareStates(state, replay(state, defaultDestinationFacts({ vsiId: 19 })))).toEqual([]);
  });
});
