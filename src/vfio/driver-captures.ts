/**
 * Captures of current drivers, derived message for message from their sources: there is no
 * XL710 here to record a real guest on. Linux `iavf` of the 6.1 and 6.12 series, from probe to
 * up and then `ip link set ... mtu`, `ethtool -L`, a VLAN, `ethtool -X` and promiscuous mode;
 * DPDK 24.11's `iavf` PMD at start-up. The PF's side is nicmig's i40e model (i40e 6.12,
 * pf-model.ts), with the link EVENTs i40e_vc_process_vf_msg() sends after GET_VF_RESOURCES
 * and ENABLE_QUEUES.
 *
 * Each builder returns the capture and its transcript: a header saying what the capture was
 * derived from and which runtime values were chosen, then every record with the driver code
 * that sends it. scripts/build-captures.js writes both to fixtures/captures/ (`<name>.cap`,
 * `<name>.txt`); test/unit/vfio/fixtures.test.ts fails when they differ from what this module
 * builds.
 */
import { createHash } from 'node:crypto';
import { parseCapture } from './capture.js';
import { describeRecord, formatRecordLine } from './describe-record.js';
import { defaultDestinationFacts, type DestinationFacts } from './facts.js';
import type { QueuePairInfo, VectorMap, VfRequest } from './messages.js';
import { Cap, MacType, Op, opcodeName, PromiscFlag, Status, statusName } from './opcodes.js';
import type { PfOutcome } from './pf-model.js';
import { RecordingPf } from './recorder.js';

export interface DriverCapture {
  /** file name without extension */
  name: string;
  capture: Buffer;
  /** the header and the annotated records, for `<name>.txt` */
  transcript: string;
}

const START_NS = 1_700_000_000_000_000_000n;
const MS = 1_000_000n;
/** the speed i40e reports for an XL710 port at 40G, in Mbps (link_event_adv) */
const LINK_MBPS = 40_000;

/**
 * Drives the PF model as a driver would and notes why each message is sent. A request the PF
 * refuses is a mistake in the derivation, not a scenario: it throws.
 */
class DriverTrace {
  readonly pf: RecordingPf;
  private readonly notes = new Map<number, string>();
  private readonly phases: { at: number; title: string }[] = [];

  constructor(facts: DestinationFacts) {
    this.pf = new RecordingPf(facts, { startNs: START_NS, notifyLinkMbps: LINK_MBPS });
  }

  /** A heading before the next record (what the user or the system did). */
  phase(title: string): this {
    this.phases.push({ at: this.pf.writer.recordCount, title });
    return this;
  }

  wait(ms: number): this {
    this.pf.wait(BigInt(Math.round(ms * 1000)) * (MS / 1000n));
    return this;
  }

  send(request: VfRequest, why: string): PfOutcome {
    this.notes.set(this.pf.writer.recordCount, why);
    const outcome = this.pf.send(request);
    if (outcome.status !== Status.SUCCESS) {
      throw new Error(`the PF model refused ${opcodeName(request.opcode)} (${statusName(outcome.status)}: ${outcome.error?.message ?? ''}) in a derived capture`);
    }
    return outcome;
  }

  finish(name: string, header: readonly string[]): DriverCapture {
    const capture = this.pf.toBuffer();
    const { records, error } = parseCapture(capture);
    if (error) throw error;
    const first = records[0]?.timestampNs ?? 0n;
    const lines = [...header, ''];
    for (const record of records) {
      for (const p of this.phases.filter((x) => x.at === record.index)) lines.push('', `== ${p.title} ==`);
      lines.push(formatRecordLine(describeRecord(record, first)));
      const why = this.notes.get(record.index);
      if (why) lines.push(`        ^ ${why}`);
    }
    return { name, capture, transcript: `${lines.join('\n')}\n` };
  }
}

/** Deterministic bytes standing in for a random source (netdev_rss_key_fill, rte_rand). */
function pseudoRandom(label: string, length: number): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; out.length * 32 < length; i++) out.push(createHash('sha256').update(`${label}/${i}`).digest());
  return Buffer.concat(out).subarray(0, length);
}

const lut = (entries: number, queues: number): Buffer => Buffer.from(Array.from({ length: entries }, (_, i) => i % queues));

// ------------------------------------------------------------------------------------------
// Linux iavf

/** What differs between the two kernel series, from their iavf sources. */
interface LinuxIavf {
  kernel: '6.1' | '6.12';
  /** the Debian source package read */
  source: string;
  /** the vf_cap_flags of iavf_send_vf_config_msg() */
  caps: number;
  /** rxq.databuffer_size and rxq.max_pkt_size of iavf_configure_queues() for an MTU */
  rxBuffers(mtu: number, maxFrame: number): { databufferSize: number; maxPktSize: number };
  /** where the buffer sizes come from, for the header */
  rxNote: string;
}

const align = (value: number, to: number): number => Math.ceil(value / to) * to;

/** The capability bitmap Linux 6.1's iavf asks for (iavf_send_vf_config_msg, 6.1.176): 0x1abd80f9. */
export const IAVF_CAPS_LINUX_6_1 =
  Cap.L2 |
  Cap.RSS_PF |
  Cap.RSS_AQ |
  Cap.RSS_REG |
  Cap.VLAN |
  Cap.WB_ON_ITR |
  Cap.RSS_PCTYPE_V2 |
  Cap.ENCAP |
  Cap.VLAN_V2 |
  Cap.ENCAP_CSUM |
  Cap.REQ_QUEUES |
  Cap.ADQ |
  Cap.USO |
  Cap.FDIR_PF |
  Cap.ADV_RSS_PF |
  Cap.ADV_LINK_SPEED;

/**
 * What Linux 6.12's iavf asks for (iavf_send_vf_config_msg, 6.12.95): 6.1's bits and TC_U32 and
 * CRC, 0x1abd8cf9. i40e grants L2, ADV_LINK_SPEED, VLAN, RSS_PF, ENCAP, REQ_QUEUES and ADQ of it
 * on an XL710 (RSS_PCTYPE_V2, ENCAP_CSUM and WB_ON_ITR too on an X722).
 */
export const IAVF_CAPS_LINUX_6_12 = IAVF_CAPS_LINUX_6_1 | Cap.TC_U32 | Cap.CRC;

const LINUX: Readonly<Record<LinuxIavf['kernel'], LinuxIavf>> = {
  '6.1': {
    kernel: '6.1',
    source: 'Linux 6.1.176 (Debian linux-source-6.1 6.1.176-1, bookworm)',
    caps: IAVF_CAPS_LINUX_6_1,
    // iavf_configure_rx(): 1536-byte buffers up to MTU 1500 (x86, 4 KiB pages: the 2K page
    // half fits 1536 + NET_SKB_PAD), 3072 above; iavf_configure_queues(): max frame 1536 up
    // to MTU 1500, else vf_res->max_mtu (at most IAVF_MAX_RXBUFFER 9728)
    rxBuffers: (mtu, maxFrame) => (mtu <= 1500 ? { databufferSize: 1536, maxPktSize: 1536 } : { databufferSize: 3072, maxPktSize: Math.min(maxFrame || 9728, 9728) }),
    rxNote: 'iavf_configure_rx(), iavf_configure_queues()',
  },
  '6.12': {
    kernel: '6.12',
    source: 'Linux 6.12.95 (Debian linux-source-6.12 6.12.95-1~bpo12+1, bookworm-backports: the kernel of src/vfio/kernel-reference.ts)',
    caps: IAVF_CAPS_LINUX_6_12,
    // libeth_rx_hw_len_mtu(): MTU + 26 (Ethernet, two VLAN tags, FCS) rounded up to 128,
    // at most LIBETH_RX_PAGE_LEN(64) = 3712 on x86 with 4 KiB pages; iavf_configure_queues():
    // max frame min_not_zero(vf_res->max_mtu, LIBIE_MAX_RX_FRM_LEN = 16382), whatever the MTU
    rxBuffers: (mtu, maxFrame) => ({ databufferSize: Math.min(align(mtu + 26, 128), 3712), maxPktSize: Math.min(maxFrame || 16382, 16382) }),
    rxNote: 'libeth_rx_hw_len_mtu(): MTU + 26 up to a multiple of 128, at most a 4 KiB page less headroom and skb_shared_info; iavf_configure_queues(): vf_res->max_mtu at any MTU',
  },
};

/** The guest and its VF as the Linux captures have them. */
const LINUX_GUEST = {
  mac: 'fa:16:3e:5d:2a:71',
  /** the IPv6 solicited-node group of fe80::f816:3eff:fe5d:2a71 (EUI-64 of the MAC) */
  solicitedNode: '33:33:ff:5d:2a:71',
  allNodes: '33:33:00:00:00:01',
  allHosts: '01:00:5e:00:00:01',
  vlan: 100,
  ringLen: 512,
};

/** The source host of the driver captures: an untrusted XL710 VF whose MAC the host set. */
function sourceFacts(vsiId: number, vfId: number, hostMac: string): DestinationFacts {
  return defaultDestinationFacts({ device: 'xl710', vsiId, vfId, trusted: false, hostMac, numQueuePairs: 16, defaultQueuePairs: 4, maxVectors: 5 });
}

/**
 * The rings of one `iavf_setup_all_*_resources()`: each (re)open allocates them anew, so a
 * reset moves them. 512 descriptors: a TX ring of 8 KiB, an RX ring of 16 KiB (32-byte
 * descriptors), page aligned, as dma_alloc_coherent() gives them (guest-physical, no vIOMMU).
 */
function linuxRings(generation: number, queue: number): { tx: bigint; rx: bigint } {
  const base = 0x1_1a00_0000n + BigInt(generation) * 0x10_0000n;
  return { tx: base + BigInt(queue) * 0x2000n, rx: base + 0x8_0000n + BigInt(queue) * 0x4000n };
}

/** iavf_configure_queues(): one pair per active queue. */
function linuxQueuePairs(vsiId: number, queues: number, generation: number, rx: { databufferSize: number; maxPktSize: number }): QueuePairInfo[] {
  return Array.from({ length: queues }, (_, q) => {
    const ring = linuxRings(generation, q);
    return {
      txq: { vsiId, queueId: q, ringLen: LINUX_GUEST.ringLen, headwbEnabled: 0, dmaRingAddr: ring.tx, dmaHeadwbAddr: 0n },
      rxq: { vsiId, queueId: q, ringLen: LINUX_GUEST.ringLen, hdrSize: 0, splithdrEnabled: 0, databufferSize: rx.databufferSize, maxPktSize: rx.maxPktSize, crcDisable: 0, rxdid: 0, flags: 0, dmaRingAddr: ring.rx, rxSplitPos: 0 },
    };
  });
}

/**
 * iavf_map_queues(): the queue vectors first (vector v + 1 serves queue v, round robin when
 * there are fewer vectors than queues; Rx ITR index 0, Tx 1), the admin-queue vector 0 last.
 */
function linuxIrqMap(vsiId: number, queues: number, maxVectors: number): VectorMap[] {
  const qVectors = Math.min(queues + 1, maxVectors) - 1;
  const masks = Array.from({ length: qVectors }, () => 0);
  for (let q = 0; q < queues; q++) masks[q % qVectors] = (masks[q % qVectors] ?? 0) | (1 << q);
  const vectors: VectorMap[] = masks.map((mask, v) => ({ vsiId, vectorId: v + 1, rxqMap: mask, txqMap: mask, rxitrIdx: 0, txitrIdx: 1 }));
  vectors.push({ vsiId, vectorId: 0, rxqMap: 0, txqMap: 0, rxitrIdx: 0, txitrIdx: 0 });
  return vectors;
}

/**
 * Linux iavf on an untrusted XL710 VF: probe, `ip link set eth0 up`, `ip link set eth0 mtu
 * 9000`, `ethtool -L eth0 combined 2`, `ip link add link eth0 name eth0.100 type vlan id 100`,
 * `ethtool -X eth0 equal 1`, `ip link set eth0 promisc on`.
 */
export function buildLinuxIavfCapture(kernel: LinuxIavf['kernel']): DriverCapture {
  const k = LINUX[kernel];
  const g = LINUX_GUEST;
  const facts = sourceFacts(17, 3, g.mac);
  const t = new DriverTrace(facts);
  const vsi = facts.vsiId;
  const key = pseudoRandom('netdev_rss_key', 52);
  let mtu = 1500;
  let queues = 4;
  let generation = 0;
  const maxFrame = (): number => t.pf.state.resources?.maxMtu ?? 0;
  const maxVectors = (): number => t.pf.state.resources?.maxVectors ?? 5;
  const rssLutSize = (): number => t.pf.state.resources?.rssLutSize ?? 64;

  t.phase('probe (modprobe iavf): the watchdog walks __IAVF_STARTUP .. __IAVF_INIT_CONFIG_ADAPTER, then __IAVF_DOWN');
  t.send({ opcode: Op.VERSION, version: { major: 1, minor: 1 } }, 'iavf_startup() -> iavf_send_api_ver(): VIRTCHNL_VERSION 1.1');
  t.wait(30);
  t.send(
    { opcode: Op.GET_VF_RESOURCES, caps: k.caps },
    `iavf_init_version_check() -> iavf_send_vf_config_msg(): the ${kernel} bitmap (PF_IS_V11); the reply is polled by iavf_init_get_resources(); i40e then sends the link (ignored: not __IAVF_RUNNING)`,
  );
  // __IAVF_INIT_EXTENDED_CAPS sends nothing: i40e never grants VLAN_V2, so
  // iavf_send_vf_offload_vlan_v2_msg() returns -EOPNOTSUPP before sending.
  t.wait(3);
  t.send(
    { opcode: Op.CONFIG_IRQ_MAP, vectors: linuxIrqMap(vsi, queues, maxVectors()) },
    'iavf_init_config_adapter() -> iavf_map_rings_to_vectors() set IAVF_FLAG_AQ_MAP_VECTORS; the watchdog in __IAVF_DOWN sends iavf_map_queues()',
  );
  t.wait(20);
  t.send({ opcode: Op.CONFIG_RSS_KEY, vsiId: vsi, key }, 'iavf_init_rss() -> iavf_config_rss(): RSS_PF granted, so IAVF_FLAG_AQ_SET_RSS_KEY | _LUT (the key: netdev_rss_key_fill())');
  t.wait(20);
  t.send({ opcode: Op.CONFIG_RSS_LUT, vsiId: vsi, lut: lut(rssLutSize(), queues) }, 'iavf_set_rss_lut(): iavf_fill_rss_lut(), entry i = i % num_active_queues');

  const up = (why: string): void => {
    const rx = k.rxBuffers(mtu, maxFrame());
    t.send({ opcode: Op.CONFIG_VSI_QUEUES, vsiId: vsi, queuePairs: linuxQueuePairs(vsi, queues, generation, rx) }, `iavf_configure_queues(): ${why}`);
    t.wait(20);
    const all = 2 ** queues - 1;
    t.send({ opcode: Op.ENABLE_QUEUES, vsiId: vsi, rxQueues: all, txQueues: all }, 'iavf_up_complete() -> iavf_enable_queues(); i40e then sends the link, which turns the carrier on');
  };

  t.wait(3000).phase('ip link set eth0 up: iavf_open()');
  t.send(
    {
      opcode: Op.ADD_ETH_ADDR,
      vsiId: vsi,
      addrs: [
        { addr: g.mac, type: MacType.PRIMARY },
        { addr: g.allNodes, type: MacType.EXTRA },
        { addr: g.allHosts, type: MacType.EXTRA },
      ],
    },
    'iavf_add_ether_addrs(): the primary (iavf_open), ff02::1 (joined by IPv6 at registration, synced by iavf_set_rx_mode()) and 224.0.0.1 (IPv4 ip_mc_up() at NETDEV_UP; the watchdog had found crit_lock held and came back 20 ms later)',
  );
  t.wait(20);
  up('4 pairs of 512 descriptors, ring addresses of this open');
  t.wait(2000);
  t.send(
    { opcode: Op.ADD_ETH_ADDR, vsiId: vsi, addrs: [{ addr: g.solicitedNode, type: MacType.EXTRA }] },
    "IPv6 addrconf on carrier up joins the link-local address's solicited-node group; iavf_set_rx_mode() only flags it, the next 2 s watchdog tick sends it",
  );
  t.wait(2000);
  t.send({ opcode: Op.GET_STATS, vsiId: vsi, rxQueues: 0, txQueues: 0 }, 'iavf_watchdog_task(): nothing pending while __IAVF_RUNNING, so iavf_request_stats() (queue maps ignored; on the stack, uninitialised: zero here)');

  /** What iavf_reset_task() and the watchdog send after any VF reset it asked for itself. */
  const afterReset = (why: string): void => {
    generation++;
    t.wait(150);
    t.send(
      { opcode: Op.GET_VF_RESOURCES, caps: k.caps },
      'iavf_reset_task() set IAVF_FLAG_AQ_GET_CONFIG: GET_VF_RESOURCES with the bitmap, and no VERSION before it (i40e keeps the version); the link that follows is ignored (IAVF_FLAG_QUEUES_DISABLED)',
    );
    t.wait(20);
    t.send({ opcode: Op.CONFIG_IRQ_MAP, vectors: linuxIrqMap(vsi, queues, maxVectors()) }, `IAVF_FLAG_AQ_MAP_VECTORS from iavf_reset_task(): ${why}`);
    t.wait(20);
    t.send(
      {
        opcode: Op.ADD_ETH_ADDR,
        vsiId: vsi,
        addrs: [
          { addr: g.allNodes, type: MacType.EXTRA },
          { addr: g.allHosts, type: MacType.EXTRA },
          { addr: g.solicitedNode, type: MacType.EXTRA },
          { addr: g.mac, type: MacType.PRIMARY },
        ],
      },
      'every filter again: iavf_reset_task() took the primary out of the list and the GET_VF_RESOURCES completion added it back at the tail (iavf_add_filter), then marked all for adding',
    );
    t.wait(20);
    up(`MTU ${mtu}, ${queues} pairs, rings allocated anew by the reset`);
    t.wait(20);
    t.send({ opcode: Op.CONFIG_RSS_KEY, vsiId: vsi, key }, 'iavf_reset_task() -> iavf_init_rss(): the same boot-time key');
    t.wait(20);
    t.send({ opcode: Op.CONFIG_RSS_LUT, vsiId: vsi, lut: lut(rssLutSize(), queues) }, `iavf_fill_rss_lut() again: i % ${queues} (a LUT set with ethtool -X does not survive a reset)`);
  };

  t.wait(3000).phase('ip link set eth0 mtu 9000: iavf_change_mtu() schedules a VF reset (IAVF_FLAG_RESET_NEEDED)');
  mtu = 9000;
  t.send({ opcode: Op.RESET_VF }, 'iavf_reset_task() -> iavf_request_reset(): no reply; i40e resets the VF without RESET_IMPENDING');
  afterReset('the same 4 queue vectors');
  t.wait(2000);
  t.send({ opcode: Op.GET_STATS, vsiId: vsi, rxQueues: 0, txQueues: 0 }, 'iavf_request_stats() on the idle watchdog tick');

  t.wait(3000).phase('ethtool -L eth0 combined 2: iavf_set_channels() sets num_req_queues and IAVF_FLAG_REINIT_ITR_NEEDED, then a VF reset (no REQUEST_QUEUES: iavf has not sent it since Linux 5.8)');
  queues = 2;
  t.send({ opcode: Op.RESET_VF }, 'iavf_reset_task() -> iavf_request_reset()');
  afterReset('iavf_reinit_interrupt_scheme() gave 2 queues 3 vectors');
  t.wait(2000);
  t.send({ opcode: Op.GET_STATS, vsiId: vsi, rxQueues: 0, txQueues: 0 }, 'iavf_request_stats() on the idle watchdog tick');

  t.wait(3000).phase(`ip link add link eth0 name eth0.${g.vlan} type vlan id ${g.vlan}; ip link set eth0.${g.vlan} up`);
  t.send(
    { opcode: Op.ADD_VLAN, vsiId: vsi, vlanIds: [g.vlan] },
    'iavf_vlan_rx_add_vid() -> iavf_add_vlan() schedules IAVF_FLAG_AQ_ADD_VLAN_FILTER: ADD_VLAN, not ADD_VLAN_V2 (i40e grants VLAN, never VLAN_V2); the VLAN device shares the MAC and the groups, so no new MAC filter',
  );

  t.wait(1500).phase('ethtool -X eth0 equal 1 (Debian 12 ethtool 6.1: input_xfrm 0, so no CONFIG_RSS_HFUNC)');
  t.send({ opcode: Op.CONFIG_RSS_KEY, vsiId: vsi, key }, 'iavf_set_rxfh() -> iavf_config_rss(): RSS_PF flags both key and LUT; sent on the next watchdog tick');
  t.wait(20);
  t.send({ opcode: Op.CONFIG_RSS_LUT, vsiId: vsi, lut: lut(rssLutSize(), 1) }, 'the indirection table ethtool computed: every entry queue 0');

  t.wait(1700).phase('ip link set eth0 promisc on');
  t.send(
    { opcode: Op.CONFIG_PROMISCUOUS_MODE, vsiId: vsi, flags: PromiscFlag.UNICAST | PromiscFlag.MULTICAST },
    'iavf_set_rx_mode() flags IAVF_FLAG_AQ_CONFIGURE_PROMISC_MODE; iavf_set_promiscuous() on the next tick: IFF_PROMISC is unicast and multicast. Untrusted VF: i40e answers SUCCESS and applies nothing',
  );

  const rxLow = k.rxBuffers(1500, maxFrame());
  const rxJumbo = k.rxBuffers(9000, maxFrame());
  return t.finish(`linux-${kernel}-iavf`, [
    `linux-${kernel}-iavf.cap: what Linux ${kernel}'s iavf sends on an untrusted XL710 VF, and what i40e answers.`,
    '',
    'Derived from the sources, not recorded (there is no XL710 here):',
    `  - the guest: ${k.source},`,
    "    drivers/net/ethernet/intel/iavf/: iavf_main.c (the watchdog's init states, the order of",
    '    iavf_process_aq_command(), iavf_open, iavf_reset_task, iavf_change_mtu), iavf_virtchnl.c',
    '    (every message body), iavf_ethtool.c (iavf_set_channels, iavf_set_rxfh)',
    '  - the PF: nicmig\'s i40e model (src/vfio/pf-model.ts, i40e 6.12), plus the link EVENT',
    '    i40e_vc_process_vf_msg() sends after GET_VF_RESOURCES and ENABLE_QUEUES (40000 Mbps in',
    '    link_event_adv: the VF asked for ADV_LINK_SPEED)',
    '  - the guest\'s network stack (net/ipv4/igmp.c, net/ipv6/addrconf.c, mcast.c of 6.12): the',
    '    multicast groups an interface joins when it comes up',
    'Runtime values chosen (a real guest\'s differ in these, not in the order or the layouts):',
    '  - VF 3, VSI 17, 4 queue pairs granted, 5 MSI-X vectors, untrusted, MAC fa:16:3e:5d:2a:71',
    '    set by the host; max frame 9706 as the model reports it (XL710 firmware may report 9728)',
    '  - guest: 4 vCPUs (so 4 active queues), x86_64 with 4 KiB pages, IPv4 and IPv6 on, no',
    '    addresses configured yet; interface brought up 3 s after probe',
    `  - Rx buffer/max frame: ${rxLow.databufferSize}/${rxLow.maxPktSize} at MTU 1500, ${rxJumbo.databufferSize}/${rxJumbo.maxPktSize} at MTU 9000 (${k.rxNote})`,
    '  - ring addresses: page-aligned guest-physical addresses, new ones after each reset; the RSS',
    '    key stands in for the random boot-time netdev_rss_key',
    '  - timing: the watchdog\'s 30/1/20 ms steps while commands are pending, 2 s when idle',
    'Order races resolved one way (both outcomes occur on real guests):',
    '  - after iavf_open(), 224.0.0.1 joins before the watchdog\'s first pass, so the first',
    '    ADD_ETH_ADDR carries three addresses (or it arrives in a second ADD_ETH_ADDR)',
    'Regenerate: npm run build && node scripts/build-captures.js (src/vfio/driver-captures.ts).',
  ]);
}

// ------------------------------------------------------------------------------------------
// DPDK iavf PMD

/**
 * The vf_cap_flags DPDK 24.11's iavf_get_vf_resource() asks for: IAVF_BASIC_OFFLOAD_CAPS (L2,
 * VLAN, RSS_PF, WB_ON_ITR, RX_POLLING) and ADV_LINK_SPEED, RX_FLEX_DESC, FDIR_PF, ADV_RSS_PF,
 * FSUB_PF (bit 14), REQ_QUEUES, USO, CRC, VLAN_V2, LARGE_NUM_QPAIRS (bit 9), QOS (bit 29),
 * INLINE_IPSEC_CRYPTO (bit 8), CAP_PTP (bit 31). Bits Linux 6.12's header does not name are
 * printed as numbers.
 */
export const DPDK_24_11_CAPS =
  (Cap.L2 |
    Cap.VLAN |
    Cap.RSS_PF |
    Cap.WB_ON_ITR |
    Cap.RX_POLLING |
    Cap.ADV_LINK_SPEED |
    Cap.RX_FLEX_DESC |
    Cap.FDIR_PF |
    Cap.ADV_RSS_PF |
    0x4000 |
    Cap.REQ_QUEUES |
    Cap.USO |
    Cap.CRC |
    Cap.VLAN_V2 |
    0x200 |
    0x2000_0000 |
    0x100 |
    0x8000_0000) >>>
  0;

/**
 * The hash types iavf_config_rss_hf() enables for rss_hf RTE_ETH_RSS_IP: it widens IPv4 and
 * IPv6 to every IPv4/IPv6 type, then keeps the PF's types that map to one (pctypes 29-36 and
 * 39-46; not L2 payload, 63).
 */
function dpdkHena(pfCaps: bigint): bigint {
  let mapped = 0n;
  for (const pctype of [29, 30, 31, 32, 33, 34, 35, 36, 39, 40, 41, 42, 43, 44, 45, 46]) mapped |= 1n << BigInt(pctype);
  return pfCaps & mapped;
}

/**
 * DPDK 24.11's iavf PMD on an untrusted XL710 VF: probe (rte_eal_init), then an l3fwd-style
 * rte_eth_dev_configure (4 Rx and 4 Tx queues, RSS on IP, no VLAN offloads), queue setup
 * with 1024 descriptors and 2048-byte mbufs, and rte_eth_dev_start.
 */
export function buildDpdkIavfCapture(): DriverCapture {
  const facts = sourceFacts(19, 5, 'fa:16:3e:0c:91:4e');
  const t = new DriverTrace(facts);
  const vsi = facts.vsiId;
  const queues = 4;
  const ringLen = 1024;

  t.phase('probe: rte_eal_init() -> iavf_dev_init() -> iavf_init_vf()');
  t.send({ opcode: Op.VERSION, version: { major: 1, minor: 1 } }, 'iavf_check_api_version(): polled for the reply');
  t.send(
    { opcode: Op.GET_VF_RESOURCES, caps: DPDK_24_11_CAPS },
    'iavf_get_vf_resource(); i40e grants none of RX_FLEX_DESC, VLAN_V2, QOS, PTP, so no GET_SUPPORTED_RXDIDS, GET_OFFLOAD_VLAN_V2_CAPS, QoS or PTP messages follow',
  );
  t.wait(1);
  t.send({ opcode: Op.SET_RSS_HENA, hena: 0n }, 'iavf_default_rss_disable(): RSS_PF granted, so hena 0 to clear the PF\'s default RSS');
  t.send({ opcode: Op.GET_STATS, vsiId: vsi, rxQueues: 0, txQueues: 0 }, 'iavf_dev_stats_reset() -> iavf_query_stats(): the offsets stats start from');

  t.wait(200).phase('rte_eth_dev_configure(port, 4, 4, {mq_mode RSS, rss_hf RTE_ETH_RSS_IP, no VLAN offloads}) -> iavf_dev_configure()');
  t.send({ opcode: Op.DISABLE_VLAN_STRIPPING }, 'iavf_dev_init_vlan() -> iavf_dev_vlan_offload_set(): VLAN (not VLAN_V2) granted and RTE_ETH_RX_OFFLOAD_VLAN_STRIP off');
  t.send({ opcode: Op.CONFIG_RSS_LUT, vsiId: vsi, lut: lut(64, queues) }, 'iavf_init_rss() -> iavf_configure_rss_lut(): entry i = i % 4 (the LUT goes before the key)');
  t.send({ opcode: Op.CONFIG_RSS_KEY, vsiId: vsi, key: pseudoRandom('rte_rand', 52) }, 'iavf_configure_rss_key(): no key given, so 52 rte_rand() bytes');
  const caps = t.send({ opcode: Op.GET_RSS_HENA_CAPS }, 'iavf_config_rss_hf() -> iavf_get_hena_caps() (ADV_RSS_PF not granted)');
  const pfHena = caps.reply?.readBigUInt64LE(0) ?? 0n;
  t.send({ opcode: Op.SET_RSS_HENA, hena: dpdkHena(pfHena) }, "iavf_set_hena(): the PF's types that RTE_ETH_RSS_IP (widened to every IPv4 and IPv6 type) maps to");

  t.wait(300).phase('rte_eth_rx/tx_queue_setup() x 4 (1024 descriptors, 2048-byte mbufs), rte_eth_dev_start() -> iavf_dev_start()');
  const queuePairs: QueuePairInfo[] = Array.from({ length: queues }, (_, q) => ({
    txq: { vsiId: vsi, queueId: q, ringLen, headwbEnabled: 0, dmaRingAddr: 0x1_4000_0000n + BigInt(q) * 0x1_0000n, dmaHeadwbAddr: 0n },
    rxq: { vsiId: vsi, queueId: q, ringLen, hdrSize: 0, splithdrEnabled: 0, databufferSize: 2048, maxPktSize: 1500 + 26, crcDisable: 0, rxdid: 0, flags: 0, dmaRingAddr: 0x1_4020_0000n + BigInt(q) * 0x2_1000n, rxSplitPos: 0 },
  }));
  t.send({ opcode: Op.CONFIG_VSI_QUEUES, vsiId: vsi, queuePairs }, 'iavf_configure_queues(): max_pkt_len = MTU 1500 + IAVF_ETH_OVERHEAD 26; rx_buf_len 2048 (data room less headroom); rxdid 0 (no RX_FLEX_DESC)');
  t.send(
    { opcode: Op.CONFIG_IRQ_MAP, vectors: [{ vsiId: vsi, vectorId: 0, rxqMap: 2 ** queues - 1, txqMap: 0, rxitrIdx: 0, txitrIdx: 0 }] },
    'iavf_config_rx_queues_irqs() -> iavf_config_irq_map(): Rx interrupts off and no WB_ON_ITR, so one vector, vector 0 (IAVF_MISC_VEC_ID), for every Rx queue',
  );
  t.send({ opcode: Op.ADD_ETH_ADDR, vsiId: vsi, addrs: [{ addr: facts.hostMac ?? '', type: MacType.PRIMARY }] }, 'iavf_add_del_all_mac_addr(): the one address, first so PRIMARY; no multicast list, so no second ADD_ETH_ADDR');
  for (let q = 0; q < queues; q++) {
    t.send({ opcode: Op.ENABLE_QUEUES, vsiId: vsi, rxQueues: 0, txQueues: 1 << q }, `iavf_start_queues() -> iavf_dev_tx_queue_start(${q}) -> iavf_switch_queue(): one queue per message; i40e sends the link after each`);
  }
  for (let q = 0; q < queues; q++) {
    t.send({ opcode: Op.ENABLE_QUEUES, vsiId: vsi, rxQueues: 1 << q, txQueues: 0 }, `iavf_dev_rx_queue_start(${q}) -> iavf_switch_queue()`);
  }
  t.send({ opcode: Op.CONFIG_PROMISCUOUS_MODE, vsiId: vsi, flags: 0 }, 'rte_eth_dev_start() -> eth_dev_config_restore(): promiscuous off, so iavf_dev_promiscuous_disable()');
  t.send({ opcode: Op.CONFIG_PROMISCUOUS_MODE, vsiId: vsi, flags: 0 }, 'and all-multicast off: iavf_dev_allmulticast_disable()');

  return t.finish('dpdk-24.11-iavf', [
    "dpdk-24.11-iavf.cap: what DPDK 24.11's iavf PMD sends at start-up on an untrusted XL710 VF, and what i40e answers.",
    '',
    'Derived from the sources, not recorded (there is no XL710 here):',
    '  - DPDK v24.11.6: drivers/net/iavf/iavf_ethdev.c (iavf_dev_init, iavf_init_vf, iavf_dev_configure,',
    '    iavf_init_rss, iavf_config_rss_hf, iavf_dev_start), iavf_vchnl.c (every message body),',
    '    iavf_rxtx.c (queue start), lib/ethdev/rte_ethdev.c (rte_eth_dev_start restores promiscuous',
    '    and all-multicast off after the PMD\'s start)',
    "  - the PF: nicmig's i40e model (src/vfio/pf-model.ts, i40e 6.12), plus the link EVENT",
    '    i40e_vc_process_vf_msg() sends after GET_VF_RESOURCES and each ENABLE_QUEUES',
    'The application (l3fwd-style; testpmd would also call rte_eth_promiscuous_enable() after start):',
    '  - rte_eth_dev_configure(): 4 Rx and 4 Tx queues, mq_mode RTE_ETH_MQ_RX_RSS, rss_hf',
    '    RTE_ETH_RSS_IP, no key, no VLAN offloads, MTU 1500, Rx interrupts and LSC interrupts off',
    '  - rte_eth_rx_queue_setup()/rte_eth_tx_queue_setup(): 1024 descriptors each, an mbuf pool of',
    '    RTE_MBUF_DEFAULT_BUF_SIZE (2048-byte data room)',
    '  - rte_eth_dev_start()',
    'Runtime values chosen:',
    '  - VF 5, VSI 19, 4 queue pairs granted (so no REQUEST_QUEUES: DPDK asks only above that),',
    '    5 MSI-X vectors, untrusted, MAC fa:16:3e:0c:91:4e set by the host',
    '  - ring addresses: IOVAs of the ring memzones in a hugepage at 0x140000000 (each ring is',
    '    reserved for 4096 descriptors); the RSS key stands in for rte_rand() bytes',
    'Regenerate: npm run build && node scripts/build-captures.js (src/vfio/driver-captures.ts).',
  ]);
}

/** The driver captures of fixtures/captures/, by file name: `.cap` and its `.txt` transcript. */
export function buildDriverCaptures(): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const c of [buildLinuxIavfCapture('6.1'), buildLinuxIavfCapture('6.12'), buildDpdkIavfCapture()]) {
    out[`${c.name}.cap`] = c.capture;
    out[`${c.name}.txt`] = Buffer.from(c.transcript, 'utf8');
  }
  return out;
}
