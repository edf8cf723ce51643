/**
 * What the PF on a host grants one VF: the destination's facts for the planner and the
 * compatibility check, and the policy of the PF model, per device family as i40e decides
 * it (docs/virtchnl-kernel.md has the table with its source lines).
 */
import type { ApiVersion } from './messages.js';
import { Cap, I40E } from './opcodes.js';

/**
 * The i40e device families whose PF policy differs: XL710/X710/XXV710 (MAC type XL710) and
 * X722 (MAC type X722, which i40e_sw_init gives RSS_AQ, WB_ON_ITR,
 * MULTI_TCP_UDP_RSS_PCTYPE and OUTER_UDP_CSUM).
 */
export type PfDevice = 'xl710' | 'x722';

export interface DestinationFacts {
  /** the PF's device family; default xl710 */
  device?: PfDevice;
  /** the destination VF's VSI id; every vsi_id of the plan is rewritten to it */
  vsiId: number;
  /** the version the destination PF answers VERSION with */
  apiVersion: ApiVersion;
  /** `ip link set PF vf N trust on` */
  trusted: boolean;
  /** filter limits for an untrusted VF on that PF (current i40e: 18 and 16) */
  maxMacFilters: number;
  maxVlanFilters: number;
  /** port VLAN the host set on the destination VF, if any */
  portVlan?: number | null;
  /** the most queue pairs the destination VF can have (REQUEST_QUEUES up to this) */
  numQueuePairs: number;
  /** MAC the host set on the destination VF, if any */
  hostMac?: string | null;
  /** queue pairs GET_VF_RESOURCES grants before any REQUEST_QUEUES; default numQueuePairs */
  defaultQueuePairs?: number;
  /** MSI-X vectors of the VF; default 5 (XL710) */
  maxVectors?: number;
  /** capabilities the PF can grant; default every flag but RDMA */
  supportedCaps?: number;
  rssKeySize?: number;
  rssLutSize?: number;
  maxMtu?: number;
  /** the VF's number under its PF (descriptor param0 of the PF's messages) */
  vfId?: number;
}

/**
 * Every capability a current i40e PF may grant a VF (RDMA aside: it needs the PF's RDMA
 * client). `supportedCaps` narrows this for an older or restricted PF; what a VF actually
 * gets for its request is `grantCapabilities`.
 */
export const DEFAULT_SUPPORTED_CAPS =
  Cap.L2 |
  Cap.RSS_AQ |
  Cap.RSS_REG |
  Cap.WB_ON_ITR |
  Cap.REQ_QUEUES |
  Cap.ADV_LINK_SPEED |
  Cap.VLAN |
  Cap.RX_POLLING |
  Cap.RSS_PCTYPE_V2 |
  Cap.RSS_PF |
  Cap.ENCAP |
  Cap.ENCAP_CSUM |
  Cap.ADQ;

/** What i40e takes as the request of a 1.0 VF, which sends no bitmap (i40e_vc_get_vf_resources_msg). */
export const LEGACY_VF_CAPS = Cap.L2 | Cap.RSS_REG | Cap.VLAN;

/** Hardware capabilities of a device family that decide a grant (i40e_sw_init, I40E_HW_CAP_*). */
export const DEVICE_HW_CAPS: Readonly<Record<PfDevice, { rssAq: boolean; wbOnItr: boolean; rssPctypeV2: boolean; outerUdpCsum: boolean }>> = {
  xl710: { rssAq: false, wbOnItr: false, rssPctypeV2: false, outerUdpCsum: false },
  x722: { rssAq: true, wbOnItr: true, rssPctypeV2: true, outerUdpCsum: true },
};

/**
 * What i40e answers GET_RSS_HENA_CAPS with on `device`: i40e_pf_get_default_rss_hena(), the
 * expanded set where the hardware has MULTI_TCP_UDP_RSS_PCTYPE (X722).
 */
export function defaultRssHena(device: PfDevice = 'xl710'): bigint {
  return DEVICE_HW_CAPS[device].rssPctypeV2 ? I40E.DEFAULT_RSS_HENA_EXPANDED : I40E.DEFAULT_RSS_HENA;
}

/** One rule of i40e's grant, with where it comes from. */
export interface GrantRule {
  cap: keyof typeof Cap;
  rule: string;
  /** i40e_virtchnl_pf.c, i40e_vc_get_vf_resources_msg (Linux 6.12) */
  source: string;
}

/** The rules of `grantCapabilities`, for docs and `vf plan --explain`-style output. */
export const GRANT_RULES: readonly GrantRule[] = [
  { cap: 'L2', rule: 'always', source: 'vfres->vf_cap_flags = VIRTCHNL_VF_OFFLOAD_L2' },
  { cap: 'ADV_LINK_SPEED', rule: 'always, asked or not', source: 'vfres->vf_cap_flags |= VIRTCHNL_VF_CAP_ADV_LINK_SPEED' },
  { cap: 'VLAN', rule: 'always, asked or not, unless the host set a port VLAN', source: 'if (!vsi->info.pvid) ... VIRTCHNL_VF_OFFLOAD_VLAN' },
  { cap: 'RDMA', rule: 'asked and the PF has an RDMA client (never modelled)', source: 'i40e_vf_client_capable() && driver_caps & VIRTCHNL_VF_OFFLOAD_IWARP' },
  { cap: 'RSS_PF', rule: 'asked; exactly one RSS mode is granted', source: 'if (driver_caps & VIRTCHNL_VF_OFFLOAD_RSS_PF) ... RSS_PF' },
  { cap: 'RSS_AQ', rule: 'RSS_PF not asked, RSS_AQ asked, device X722', source: 'else if (I40E_HW_CAP_RSS_AQ && driver_caps & RSS_AQ) ... RSS_AQ' },
  { cap: 'RSS_REG', rule: 'neither of the above, asked or not', source: 'else vfres->vf_cap_flags |= VIRTCHNL_VF_OFFLOAD_RSS_REG' },
  { cap: 'RSS_PCTYPE_V2', rule: 'asked, device X722', source: 'I40E_HW_CAP_MULTI_TCP_UDP_RSS_PCTYPE && driver_caps & RSS_PCTYPE_V2' },
  { cap: 'ENCAP', rule: 'asked', source: 'if (driver_caps & VIRTCHNL_VF_OFFLOAD_ENCAP)' },
  { cap: 'ENCAP_CSUM', rule: 'asked, device X722', source: 'I40E_HW_CAP_OUTER_UDP_CSUM && driver_caps & ENCAP_CSUM' },
  { cap: 'RX_POLLING', rule: 'asked (the PF refuses GET_VF_RESOURCES in MFP mode)', source: 'if (driver_caps & VIRTCHNL_VF_OFFLOAD_RX_POLLING)' },
  { cap: 'WB_ON_ITR', rule: 'asked, device X722', source: 'I40E_HW_CAP_WB_ON_ITR && driver_caps & WB_ON_ITR' },
  { cap: 'REQ_QUEUES', rule: 'asked', source: 'if (driver_caps & VIRTCHNL_VF_OFFLOAD_REQ_QUEUES)' },
  { cap: 'ADQ', rule: 'asked', source: 'if (driver_caps & VIRTCHNL_VF_OFFLOAD_ADQ)' },
];

/**
 * What i40e grants a VF that asks for `requested` (null: a 1.0 VF, no bitmap), on a PF of
 * `device`, with or without a port VLAN; then narrowed by `supported`. Bits i40e never
 * grants (CRC, TC_U32, VLAN_V2, USO, FDIR_PF, ADV_RSS_PF, RX_FLEX_DESC, ...) are dropped.
 */
export function grantCapabilities(requested: number | null, device: PfDevice = 'xl710', options: { portVlan?: number | null; supported?: number } = {}): number {
  const asked = requested ?? LEGACY_VF_CAPS;
  const has = (bit: number): boolean => (asked & bit) !== 0;
  const hw = DEVICE_HW_CAPS[device];
  let granted = Cap.L2 | Cap.ADV_LINK_SPEED;
  if (options.portVlan === undefined || options.portVlan === null) granted |= Cap.VLAN;
  if (has(Cap.RSS_PF)) granted |= Cap.RSS_PF;
  else if (hw.rssAq && has(Cap.RSS_AQ)) granted |= Cap.RSS_AQ;
  else granted |= Cap.RSS_REG;
  if (hw.rssPctypeV2 && has(Cap.RSS_PCTYPE_V2)) granted |= Cap.RSS_PCTYPE_V2;
  if (has(Cap.ENCAP)) granted |= Cap.ENCAP;
  if (hw.outerUdpCsum && has(Cap.ENCAP_CSUM)) granted |= Cap.ENCAP_CSUM;
  if (has(Cap.RX_POLLING)) granted |= Cap.RX_POLLING;
  if (hw.wbOnItr && has(Cap.WB_ON_ITR)) granted |= Cap.WB_ON_ITR;
  if (has(Cap.REQ_QUEUES)) granted |= Cap.REQ_QUEUES;
  if (has(Cap.ADQ)) granted |= Cap.ADQ;
  return (granted & (options.supported ?? DEFAULT_SUPPORTED_CAPS)) >>> 0;
}

export type ResolvedFacts = Required<Omit<DestinationFacts, 'portVlan' | 'hostMac'>> & Pick<DestinationFacts, 'portVlan' | 'hostMac'>;

export function resolveFacts(facts: DestinationFacts): ResolvedFacts {
  return {
    device: 'xl710',
    defaultQueuePairs: facts.numQueuePairs,
    maxVectors: 5,
    supportedCaps: DEFAULT_SUPPORTED_CAPS,
    rssKeySize: I40E.RSS_KEY_SIZE,
    rssLutSize: I40E.RSS_LUT_SIZE,
    maxMtu: I40E.DEFAULT_MAX_MTU,
    vfId: 0,
    ...facts,
  };
}

/** A current-kernel i40e destination, for tests and the CLI's defaults. */
export function defaultDestinationFacts(overrides: Partial<DestinationFacts> = {}): DestinationFacts {
  return {
    vsiId: 1,
    apiVersion: { major: 1, minor: 1 },
    trusted: false,
    maxMacFilters: I40E.MAX_UNTRUSTED_MACS,
    maxVlanFilters: I40E.MAX_UNTRUSTED_VLANS,
    numQueuePairs: 4,
    ...overrides,
  };
}
