/**
 * What the PF on a host grants one VF: the destination's facts for the planner and the
 * compatibility check, and the policy of the PF model.
 */
import type { ApiVersion } from './messages.js';
import { Cap, I40E } from './opcodes.js';

export interface DestinationFacts {
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

export const DEFAULT_SUPPORTED_CAPS =
  Cap.L2 | Cap.RSS_AQ | Cap.RSS_REG | Cap.WB_ON_ITR | Cap.REQ_QUEUES | Cap.VLAN | Cap.RX_POLLING | Cap.RSS_PCTYPE_V2 | Cap.RSS_PF;

/** Capabilities a 1.0 VF gets without asking (it sends no bitmap). */
export const LEGACY_VF_CAPS = Cap.L2 | Cap.RSS_REG | Cap.VLAN;

export type ResolvedFacts = Required<Omit<DestinationFacts, 'portVlan' | 'hostMac'>> & Pick<DestinationFacts, 'portVlan' | 'hostMac'>;

export function resolveFacts(facts: DestinationFacts): ResolvedFacts {
  return {
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
