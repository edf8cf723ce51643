/**
 * Captures that follow what the Linux iavf driver sends, built from the documented layouts
 * through the PF model: the committed fixtures (scripts/build-captures.js writes them to
 * fixtures/captures/), the benchmark's 100,000-record churn, and test inputs.
 */
import type { DestinationFacts } from './facts.js';
import { defaultDestinationFacts } from './facts.js';
import type { QueuePairInfo, VectorMap } from './messages.js';
import { Cap, MacType, Op, PromiscFlag, RssAlgorithm } from './opcodes.js';
import { RecordingPf } from './recorder.js';
import { RECORD_HEADER_SIZE, parseCapture } from './capture.js';
import { buildDriverCaptures, IAVF_CAPS_LINUX_6_12 } from './driver-captures.js';

/** Capabilities the simulated guest asks for (those the reference names). */
export const IAVF_CAPS = Cap.L2 | Cap.RSS_PF | Cap.RSS_AQ | Cap.RSS_REG | Cap.VLAN | Cap.WB_ON_ITR | Cap.REQ_QUEUES | Cap.RSS_PCTYPE_V2 | Cap.RX_POLLING;

/** What Linux 6.12's iavf asks GET_VF_RESOURCES for (defined with the driver captures). */
export { IAVF_CAPS_LINUX_6_12 };

export const SAMPLE_MAC = '52:54:00:a1:b2:c3';
/** The source host of the fixtures: a trusted VF whose MAC the host set. */
export const SAMPLE_FACTS: DestinationFacts = defaultDestinationFacts({ vsiId: 17, trusted: true, numQueuePairs: 4, vfId: 3, hostMac: SAMPLE_MAC });
const START_NS = 1_700_000_000_000_000_000n;

/** Deterministic key and LUT, as iavf fills them (netdev_rss_key_fill is random; ours is fixed). */
export function sampleRssKey(): Buffer {
  return Buffer.from(Array.from({ length: 52 }, (_, i) => (i * 37 + 11) & 0xff));
}

function queuePair(vsiId: number, queueId: number, maxPktSize = 1526): QueuePairInfo {
  const base = 0x1_2340_0000n + BigInt(queueId) * 0x10000n;
  return {
    txq: { vsiId, queueId, ringLen: 512, headwbEnabled: 0, dmaRingAddr: base, dmaHeadwbAddr: 0n },
    rxq: {
      vsiId,
      queueId,
      ringLen: 512,
      hdrSize: 0,
      splithdrEnabled: 0,
      databufferSize: 3072,
      maxPktSize,
      crcDisable: 0,
      rxdid: 1,
      flags: 0,
      dmaRingAddr: base + 0x8000n,
      rxSplitPos: 0,
    },
  };
}

/**
 * The iavf bring-up: VERSION, GET_VF_RESOURCES, then (iavf_process_aq_command's order)
 * the primary MAC, the IRQ map (one vector per queue pair plus vector 0 for the admin
 * queue, listed last), the queues, ENABLE_QUEUES, then RSS.
 */
export function iavfBringUp(pf: RecordingPf, mac = SAMPLE_MAC, caps: number = IAVF_CAPS, maxPktSize = 1526): void {
  pf.send({ opcode: Op.VERSION, version: { major: 1, minor: 1 } });
  pf.send({ opcode: Op.GET_VF_RESOURCES, caps });
  const resources = pf.state.resources;
  if (!resources) throw new Error('GET_VF_RESOURCES was refused');
  const { vsiId, numQueuePairs } = resources;
  const vectors = Math.min(numQueuePairs, resources.maxVectors - 1);
  pf.send({ opcode: Op.ADD_ETH_ADDR, vsiId, addrs: [{ addr: mac, type: MacType.PRIMARY }] });
  const vecmap: VectorMap[] = [];
  for (let v = 0; v < vectors; v++) {
    let bitmap = 0;
    for (let q = v; q < numQueuePairs; q += vectors) bitmap |= 1 << q;
    vecmap.push({ vsiId, vectorId: v + 1, rxqMap: bitmap, txqMap: bitmap, rxitrIdx: 0, txitrIdx: 1 });
  }
  vecmap.push({ vsiId, vectorId: 0, rxqMap: 0, txqMap: 0, rxitrIdx: 0, txitrIdx: 0 });
  pf.send({ opcode: Op.CONFIG_IRQ_MAP, vectors: vecmap });
  pf.send({ opcode: Op.CONFIG_VSI_QUEUES, vsiId, queuePairs: Array.from({ length: numQueuePairs }, (_, q) => queuePair(vsiId, q, maxPktSize)) });
  const all = 2 ** numQueuePairs - 1;
  pf.send({ opcode: Op.ENABLE_QUEUES, vsiId, rxQueues: all, txQueues: all });
  pf.send({ opcode: Op.GET_RSS_HENA_CAPS });
  pf.send({ opcode: Op.SET_RSS_HENA, hena: 0x0000_0000_0000_7ff8n });
  pf.send({ opcode: Op.CONFIG_RSS_KEY, vsiId, key: sampleRssKey() });
  pf.send({ opcode: Op.CONFIG_RSS_LUT, vsiId, lut: Buffer.from(Array.from({ length: resources.rssLutSize }, (_, i) => i % numQueuePairs)) });
  pf.linkChange(true);
}

/** fixtures/captures/iavf-init.cap: one bring-up and nothing else. */
export function buildInitCapture(): Buffer {
  const pf = new RecordingPf(SAMPLE_FACTS, { startNs: START_NS });
  iavfBringUp(pf);
  return pf.toBuffer();
}

/**
 * fixtures/captures/iavf-runtime.cap: bring-up, then what a running guest does: multicast
 * and VLAN filters, VLAN stripping, promiscuous mode on and off, stats, a request the PF
 * refuses, a MAC change, link flaps, a VF reset in the middle with a second bring-up, and
 * more changes after it.
 */
export function buildRuntimeCapture(): Buffer {
  const pf = new RecordingPf(SAMPLE_FACTS, { startNs: START_NS });
  const vsi = SAMPLE_FACTS.vsiId;
  iavfBringUp(pf);
  pf.wait(2_000_000_000n);
  pf.send({ opcode: Op.ADD_ETH_ADDR, vsiId: vsi, addrs: [{ addr: '33:33:00:00:00:01', type: MacType.EXTRA }, { addr: '01:00:5e:00:00:01', type: MacType.EXTRA }] });
  pf.send({ opcode: Op.ADD_VLAN, vsiId: vsi, vlanIds: [100] });
  pf.send({ opcode: Op.ENABLE_VLAN_STRIPPING });
  pf.send({ opcode: Op.GET_STATS, vsiId: vsi, rxQueues: 0, txQueues: 0 });
  pf.send({ opcode: Op.CONFIG_PROMISCUOUS_MODE, vsiId: vsi, flags: PromiscFlag.UNICAST | PromiscFlag.MULTICAST });
  pf.send({ opcode: Op.ADD_VLAN, vsiId: vsi, vlanIds: [4096] }); // refused: VLAN id above 4095
  pf.linkChange(false);
  pf.linkChange(true);
  pf.send({ opcode: Op.CONFIG_PROMISCUOUS_MODE, vsiId: vsi, flags: 0 });
  pf.wait(5_000_000_000n);
  // The guest resets its VF (ethtool -r, a driver reload): everything goes.
  pf.send({ opcode: Op.RESET_VF });
  pf.wait(100_000_000n);
  iavfBringUp(pf);
  pf.send({ opcode: Op.ADD_ETH_ADDR, vsiId: vsi, addrs: [{ addr: '33:33:00:00:00:01', type: MacType.EXTRA }, { addr: '33:33:ff:a1:b2:c3', type: MacType.EXTRA }] });
  pf.send({ opcode: Op.ADD_VLAN, vsiId: vsi, vlanIds: [100, 200, 300] });
  pf.send({ opcode: Op.DEL_VLAN, vsiId: vsi, vlanIds: [300] });
  // ip link set dev eth0 address 02:00:00:00:00:01: iavf deletes the old primary, adds the new
  pf.send({ opcode: Op.DEL_ETH_ADDR, vsiId: vsi, addrs: [{ addr: SAMPLE_MAC, type: MacType.PRIMARY }] });
  pf.send({ opcode: Op.ADD_ETH_ADDR, vsiId: vsi, addrs: [{ addr: '02:00:00:00:00:01', type: MacType.PRIMARY }] });
  pf.send({ opcode: Op.DISABLE_VLAN_STRIPPING });
  pf.send({ opcode: Op.DISABLE_QUEUES, vsiId: vsi, rxQueues: 0x8, txQueues: 0x8 });
  pf.send({ opcode: Op.CONFIG_RSS_HFUNC, vsiId: vsi, algorithm: RssAlgorithm.TOEPLITZ_ASYMMETRIC });
  pf.send({ opcode: Op.GET_STATS, vsiId: vsi, rxQueues: 0, txQueues: 0 });
  return pf.toBuffer();
}

/**
 * fixtures/captures/request-queues.cap: bring-up with 4 queue pairs, REQUEST_QUEUES 8 (the
 * PF resets the VF: EVENT RESET_IMPENDING), a second bring-up with 8, a refused request
 * for 32 (the PF offers 16), and a PF-initiated reset with a third bring-up.
 */
export function buildRequestQueuesCapture(): Buffer {
  const facts = defaultDestinationFacts({ vsiId: 17, trusted: false, numQueuePairs: 16, defaultQueuePairs: 4, maxVectors: 9, vfId: 3, hostMac: SAMPLE_MAC });
  const pf = new RecordingPf(facts, { startNs: START_NS });
  iavfBringUp(pf);
  pf.send({ opcode: Op.REQUEST_QUEUES, numQueuePairs: 8 });
  iavfBringUp(pf);
  pf.send({ opcode: Op.REQUEST_QUEUES, numQueuePairs: 32 });
  pf.wait(1_000_000_000n);
  pf.pfReset();
  iavfBringUp(pf);
  pf.send({ opcode: Op.ADD_VLAN, vsiId: 17, vlanIds: [42] });
  return pf.toBuffer();
}

/**
 * fixtures/captures/iavf-linux-6.12.cap: what a Linux 6.12 iavf sends on an untrusted XL710
 * VF whose PF grants what i40e 6.12 grants (GET_VF_RESOURCES with IAVF_CAPS_LINUX_6_12),
 * then `ip link set eth0 mtu 9000` (iavf resets its VF and brings it up again with
 * 9018-byte frames), `ip link add link eth0 ... type vlan id 10` (ADD_VLAN: i40e grants no
 * VLAN_V2) and `ethtool -X eth0 equal 2` (CONFIG_RSS_LUT). With `promisc`, also
 * `ip link set eth0 promisc on` (an untrusted VF: i40e answers SUCCESS and applies nothing).
 */
export function buildLinux612Capture(options: { promisc?: boolean } = {}): Buffer {
  const facts = defaultDestinationFacts({ vsiId: 17, trusted: false, numQueuePairs: 4, vfId: 3, hostMac: SAMPLE_MAC, device: 'xl710' });
  const pf = new RecordingPf(facts, { startNs: START_NS });
  iavfBringUp(pf, SAMPLE_MAC, IAVF_CAPS_LINUX_6_12);
  pf.wait(3_000_000_000n);
  pf.send({ opcode: Op.RESET_VF });
  pf.wait(100_000_000n);
  iavfBringUp(pf, SAMPLE_MAC, IAVF_CAPS_LINUX_6_12, 9018);
  pf.send({ opcode: Op.ADD_VLAN, vsiId: 17, vlanIds: [10] });
  if (options.promisc) pf.send({ opcode: Op.CONFIG_PROMISCUOUS_MODE, vsiId: 17, flags: PromiscFlag.UNICAST | PromiscFlag.MULTICAST });
  pf.send({ opcode: Op.CONFIG_RSS_LUT, vsiId: 17, lut: Buffer.from(Array.from({ length: 64 }, (_, i) => i % 2)) });
  return pf.toBuffer();
}

/** fixtures/captures/truncated.cap: the runtime capture cut 5 bytes into record 20's payload. */
export function buildTruncatedCapture(): Buffer {
  const full = buildRuntimeCapture();
  const { records } = parseCapture(full);
  const record = records.find((r) => r.index >= 20 && r.payload.length > 5);
  if (!record) throw new Error('runtime capture too short');
  return full.subarray(0, record.offset + RECORD_HEADER_SIZE + 5);
}

/** The committed fixtures, by file name; the driver captures with their transcripts (driver-captures.ts). */
export function buildFixtureCaptures(): Record<string, Buffer> {
  return {
    'iavf-init.cap': buildInitCapture(),
    'iavf-runtime.cap': buildRuntimeCapture(),
    'request-queues.cap': buildRequestQueuesCapture(),
    'iavf-linux-6.12.cap': buildLinux612Capture(),
    'truncated.cap': buildTruncatedCapture(),
    ...buildDriverCaptures(),
  };
}

/** xorshift32: the same churn on every run. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/**
 * A guest churning MAC and VLAN filters (multicast joins and leaves, VLAN
 * interfaces coming and going) on an untrusted VF, until the capture holds `records`
 * records. Some requests exceed the untrusted limits and are refused, as they would be.
 */
export function buildChurnCapture(records: number, seed = 1): Buffer {
  const facts = defaultDestinationFacts({ vsiId: 17, trusted: false, numQueuePairs: 4, vfId: 3, hostMac: SAMPLE_MAC });
  const pf = new RecordingPf(facts, { startNs: START_NS, stepNs: 1_000n });
  const rand = random(seed);
  iavfBringUp(pf);
  // Every request below adds two records (request, reply); an extra link event makes the
  // count come out exact.
  if ((records - pf.writer.recordCount) % 2 === 1) pf.linkChange(true);
  const vsi = facts.vsiId;
  const groupMac = (n: number): string => `01:00:5e:00:00:${n.toString(16).padStart(2, '0')}`;
  while (pf.writer.recordCount < records) {
    const pick = rand();
    const n = Math.floor(rand() * 40);
    if (pick < 0.35) pf.send({ opcode: Op.ADD_ETH_ADDR, vsiId: vsi, addrs: [{ addr: groupMac(n), type: MacType.EXTRA }] });
    else if (pick < 0.6) {
      const present = [...pf.state.macs.keys()].filter((m) => m.startsWith('01:'));
      const victim = present[Math.floor(rand() * present.length)];
      if (victim) pf.send({ opcode: Op.DEL_ETH_ADDR, vsiId: vsi, addrs: [{ addr: victim, type: MacType.EXTRA }] });
    } else if (pick < 0.8) pf.send({ opcode: Op.ADD_VLAN, vsiId: vsi, vlanIds: [1 + n] });
    else pf.send({ opcode: Op.DEL_VLAN, vsiId: vsi, vlanIds: [1 + n] });
  }
  return pf.toBuffer();
}
