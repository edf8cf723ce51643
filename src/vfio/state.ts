/**
 * The VF's admin state as the PF holds it, and the one transition function that moves it
 * when the PF accepts a message. The reducer (reduce.ts) and the PF model (pf-model.ts)
 * both call `applyAccepted`, so a capture and a replay cannot disagree on what a message
 * does.
 */
import type { ApiVersion, PfReply, RxQueueInfo, TxQueueInfo, VfRequest } from './messages.js';
import { macTypeNames, Op, PromiscFlag, VSI_TYPE_SRIOV, type MacTypeName } from './opcodes.js';

export type TxQueueConfig = Omit<TxQueueInfo, 'vsiId'>;
export type RxQueueConfig = Omit<RxQueueInfo, 'vsiId'>;

export interface QueuePairConfig {
  tx: TxQueueConfig;
  rx: RxQueueConfig;
}

export interface VectorConfig {
  rxqMap: number;
  txqMap: number;
  rxitrIdx: number;
  txitrIdx: number;
}

/** What the PF granted in its GET_VF_RESOURCES reply. */
export interface VfResources {
  vsiId: number;
  numQueuePairs: number;
  maxVectors: number;
  maxMtu: number;
  /** granted capabilities (the reply's vf_cap_flags) */
  capFlags: number;
  rssKeySize: number;
  rssLutSize: number;
  defaultMac: string;
}

export interface RssState {
  key: Buffer | null;
  lut: Buffer | null;
  hena: bigint | null;
  hfunc: number | null;
}

export interface VfState {
  /**
   * version the VF announced in VERSION. A VF reset keeps it: i40e keeps vf->vf_ver and
   * judges GET_VF_RESOURCES' length by it, and Linux iavf re-initialises after a reset
   * without sending VERSION again (iavf_reset_task sets only IAVF_FLAG_AQ_GET_CONFIG)
   */
  vfVersion: ApiVersion | null;
  /** version the PF answered; kept across VF resets like vfVersion */
  pfVersion: ApiVersion | null;
  /** after a successful GET_VF_RESOURCES; most opcodes need it */
  active: boolean;
  /** capabilities the VF asked for; null for a 1.0 VF (no bitmap) or before the request */
  requestedCaps: number | null;
  resources: VfResources | null;
  /** by queue id */
  queuePairs: Map<number, QueuePairConfig>;
  /** by vector id */
  irqMap: Map<number, VectorConfig>;
  enabledQueues: { rx: number; tx: number };
  /** MAC filters the VF added, by address */
  macs: Map<string, MacTypeName>;
  vlans: Set<number>;
  /** promiscuous modes the PF applied (an untrusted VF's request applies nothing) */
  promisc: { unicast: boolean; multicast: boolean };
  /** promiscuous modes the guest last asked for and was answered SUCCESS (what a replay sends) */
  promiscRequested: { unicast: boolean; multicast: boolean };
  rss: RssState;
  /** null: never set since the last reset (the PF default applies) */
  vlanStripping: boolean | null;
  /** queue pairs granted by REQUEST_QUEUES; kept by the PF across the reset that follows */
  requestedQueuePairs: number | null;
  /** accepted messages of opcodes this model cannot rebuild, by opcode */
  unmodelled: Map<number, number>;
}

export function freshVfState(requestedQueuePairs: number | null = null): VfState {
  return {
    vfVersion: null,
    pfVersion: null,
    active: false,
    requestedCaps: null,
    resources: null,
    queuePairs: new Map(),
    irqMap: new Map(),
    enabledQueues: { rx: 0, tx: 0 },
    macs: new Map(),
    vlans: new Set(),
    promisc: { unicast: false, multicast: false },
    promiscRequested: { unicast: false, multicast: false },
    rss: { key: null, lut: null, hena: null, hfunc: null },
    vlanStripping: null,
    requestedQueuePairs,
    unmodelled: new Map(),
  };
}

export function cloneVfState(state: VfState): VfState {
  return {
    vfVersion: state.vfVersion && { ...state.vfVersion },
    pfVersion: state.pfVersion && { ...state.pfVersion },
    active: state.active,
    requestedCaps: state.requestedCaps,
    resources: state.resources && { ...state.resources },
    queuePairs: new Map([...state.queuePairs].map(([id, pair]) => [id, { tx: { ...pair.tx }, rx: { ...pair.rx } }])),
    irqMap: new Map([...state.irqMap].map(([id, vector]) => [id, { ...vector }])),
    enabledQueues: { ...state.enabledQueues },
    macs: new Map(state.macs),
    vlans: new Set(state.vlans),
    promisc: { ...state.promisc },
    promiscRequested: { ...state.promiscRequested },
    rss: { ...state.rss },
    vlanStripping: state.vlanStripping,
    requestedQueuePairs: state.requestedQueuePairs,
    unmodelled: new Map(state.unmodelled),
  };
}

/**
 * A VF reset: the PF wipes the VF's configuration. A queue request survives, and so does
 * the virtchnl version the VF announced (i40e_reset_vf never clears vf->vf_ver).
 */
export function resetVfState(draft: VfState): void {
  Object.assign(draft, freshVfState(draft.requestedQueuePairs), { vfVersion: draft.vfVersion, pfVersion: draft.pfVersion });
}

/** The state after a VF reset, `state` itself untouched. */
export function afterVfReset(state: VfState): VfState {
  const next = cloneVfState(state);
  resetVfState(next);
  return next;
}

export function macTypeName(type: number): MacTypeName {
  return macTypeNames[type] ?? 'legacy';
}

/** The negotiated version: the lower of what the VF announced and the PF answered. */
export function negotiatedVersion(state: VfState): ApiVersion | null {
  const { vfVersion: vf, pfVersion: pf } = state;
  if (!vf || !pf) return vf ?? pf;
  return vf.major < pf.major || (vf.major === pf.major && vf.minor <= pf.minor) ? { ...vf } : { ...pf };
}

function withoutVsi<T extends { vsiId: number }>(info: T): Omit<T, 'vsiId'> {
  const { vsiId: _vsiId, ...rest } = info;
  return rest;
}

/** What of the PF's policy decides what an accepted message applies. */
export interface ApplyPolicy {
  /**
   * `ip link set PF vf N trust on`: i40e answers an untrusted VF's CONFIG_PROMISCUOUS_MODE
   * with SUCCESS and applies nothing (i40e_vc_config_promiscuous_mode_msg, "Lie to the VF
   * on purpose").
   */
  trusted: boolean;
}

/**
 * The transition: what a request the PF accepted (status SUCCESS) does to the VF's state.
 * `reply` is the PF's decoded reply where it carries facts (VERSION, GET_VF_RESOURCES).
 * Mutates `draft`: callers own the copy.
 */
export function applyAccepted(draft: VfState, request: VfRequest, reply: PfReply | null, policy: ApplyPolicy = { trusted: true }): void {
  if ('opaque' in request) {
    draft.unmodelled.set(request.opcode, (draft.unmodelled.get(request.opcode) ?? 0) + 1);
    return;
  }
  switch (request.opcode) {
    case Op.VERSION:
      draft.vfVersion = { ...request.version };
      if (reply && 'version' in reply) draft.pfVersion = { ...reply.version };
      return;
    case Op.RESET_VF:
      resetVfState(draft);
      return;
    case Op.GET_VF_RESOURCES: {
      draft.requestedCaps = request.caps;
      if (reply && 'resource' in reply) {
        const r = reply.resource;
        const vsi = r.vsis.find((v) => v.vsiType === VSI_TYPE_SRIOV) ?? r.vsis[0];
        draft.resources = {
          vsiId: vsi?.vsiId ?? 0,
          numQueuePairs: r.numQueuePairs,
          maxVectors: r.maxVectors,
          maxMtu: r.maxMtu,
          capFlags: r.vfCapFlags,
          rssKeySize: r.rssKeySize,
          rssLutSize: r.rssLutSize,
          defaultMac: vsi?.defaultMacAddr ?? '00:00:00:00:00:00',
        };
      }
      draft.active = true;
      return;
    }
    case Op.CONFIG_VSI_QUEUES:
      for (const pair of request.queuePairs) draft.queuePairs.set(pair.txq.queueId, { tx: withoutVsi(pair.txq), rx: withoutVsi(pair.rxq) });
      return;
    case Op.CONFIG_IRQ_MAP:
      for (const v of request.vectors) draft.irqMap.set(v.vectorId, { rxqMap: v.rxqMap, txqMap: v.txqMap, rxitrIdx: v.rxitrIdx, txitrIdx: v.txitrIdx });
      return;
    case Op.ENABLE_QUEUES:
      draft.enabledQueues = { rx: (draft.enabledQueues.rx | request.rxQueues) >>> 0, tx: (draft.enabledQueues.tx | request.txQueues) >>> 0 };
      return;
    case Op.DISABLE_QUEUES:
      draft.enabledQueues = { rx: (draft.enabledQueues.rx & ~request.rxQueues) >>> 0, tx: (draft.enabledQueues.tx & ~request.txQueues) >>> 0 };
      return;
    case Op.ADD_ETH_ADDR:
      for (const a of request.addrs) draft.macs.set(a.addr, macTypeName(a.type));
      return;
    case Op.DEL_ETH_ADDR:
      for (const a of request.addrs) draft.macs.delete(a.addr);
      return;
    case Op.ADD_VLAN:
      for (const id of request.vlanIds) draft.vlans.add(id);
      // i40e_vc_add_vlan_msg() turns stripping on for the VSI whatever the VF set before
      // (i40e_vlan_stripping_enable, Linux 6.1 and 6.12); DEL_VLAN leaves it as it is.
      draft.vlanStripping = true;
      return;
    case Op.DEL_VLAN:
      for (const id of request.vlanIds) draft.vlans.delete(id);
      return;
    case Op.CONFIG_PROMISCUOUS_MODE: {
      const modes = { unicast: (request.flags & PromiscFlag.UNICAST) !== 0, multicast: (request.flags & PromiscFlag.MULTICAST) !== 0 };
      draft.promiscRequested = modes;
      if (policy.trusted) draft.promisc = { ...modes };
      return;
    }
    case Op.CONFIG_RSS_KEY:
      draft.rss = { ...draft.rss, key: Buffer.from(request.key) };
      return;
    case Op.CONFIG_RSS_LUT:
      draft.rss = { ...draft.rss, lut: Buffer.from(request.lut) };
      return;
    case Op.SET_RSS_HENA:
      draft.rss = { ...draft.rss, hena: request.hena };
      return;
    case Op.CONFIG_RSS_HFUNC:
      draft.rss = { ...draft.rss, hfunc: request.algorithm };
      return;
    case Op.ENABLE_VLAN_STRIPPING:
      draft.vlanStripping = true;
      return;
    case Op.DISABLE_VLAN_STRIPPING:
      draft.vlanStripping = false;
      return;
    case Op.REQUEST_QUEUES:
      // Only a granted request gets here (the PF answers a refused one with a counter-offer
      // and no reset): the PF resets the VF and keeps the number for the next resources.
      draft.requestedQueuePairs = request.numQueuePairs;
      resetVfState(draft);
      return;
    case Op.CONFIG_TX_QUEUE:
    case Op.CONFIG_RX_QUEUE:
      // Legacy single-queue messages: the i40e PF answers NOT_SUPPORTED; if a capture shows
      // one accepted, it is state this model cannot rebuild.
      draft.unmodelled.set(request.opcode, (draft.unmodelled.get(request.opcode) ?? 0) + 1);
      return;
    case Op.GET_STATS:
    case Op.GET_RSS_HENA_CAPS:
      return;
  }
}
