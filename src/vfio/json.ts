/**
 * The operator-facing JSON of a VF state (docs/vf-state.md: a stable contract) and of
 * decoded messages. 64-bit values are "0x" + 16 hex digits; byte arrays are hex strings.
 */
import type { ReductionCounters } from './reduce.js';
import { capabilityNames, opcodeName } from './opcodes.js';
import { negotiatedVersion, type RxQueueConfig, type TxQueueConfig, type VfState } from './state.js';
import type { MacTypeName } from './opcodes.js';
import { hex64 } from './wire.js';

/** bigint -> "0x...", Buffer -> hex, recursively; other values as they are. */
export function toJsonValue(value: unknown): unknown {
  if (typeof value === 'bigint') return hex64(value);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (value instanceof Map) return [...value].map(([k, v]) => [toJsonValue(k), toJsonValue(v)]);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonValue(v)]));
  return value;
}

export interface MacJson {
  addr: string;
  type: MacTypeName;
}

export interface VfStateJson {
  version: { major: number; minor: number } | null;
  vfVersion: { major: number; minor: number } | null;
  pfVersion: { major: number; minor: number } | null;
  active: boolean;
  vsiId: number | null;
  capabilities: { requested: number | null; requestedNames: string[]; granted: number | null; grantedNames: string[] };
  resources: { numQueuePairs: number; maxVectors: number; maxMtu: number; rssKeySize: number; rssLutSize: number; defaultMac: string } | null;
  queuePairs: { queueId: number; tx: Record<string, unknown>; rx: Record<string, unknown> }[];
  irqMap: { vectorId: number; rxqMap: number; txqMap: number; rxitrIdx: number; txitrIdx: number }[];
  enabledQueues: { rx: number; tx: number };
  macs: MacJson[];
  vlans: number[];
  promisc: { unicast: boolean; multicast: boolean };
  /** what the guest asked for (the PF applies nothing for an untrusted VF) */
  promiscRequested: { unicast: boolean; multicast: boolean };
  rss: { key: string | null; lut: string | null; hena: string | null; hfunc: number | null };
  vlanStripping: boolean | null;
  requestedQueuePairs: number | null;
  unmodelled: { opcode: number; name: string; count: number }[];
  counters?: ReductionCounters;
}

const macTypeRank: Record<MacTypeName, number> = { primary: 0, legacy: 1, extra: 2 };

/** MAC filters in a stable order: primary first, then by type and address. */
export function sortedMacs(state: VfState): MacJson[] {
  return [...state.macs]
    .map(([addr, type]) => ({ addr, type }))
    .sort((a, b) => macTypeRank[a.type] - macTypeRank[b.type] || (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
}

function txJson(tx: TxQueueConfig): Record<string, unknown> {
  return { queueId: tx.queueId, ringLen: tx.ringLen, headwbEnabled: tx.headwbEnabled, dmaRingAddr: hex64(tx.dmaRingAddr), dmaHeadwbAddr: hex64(tx.dmaHeadwbAddr) };
}

function rxJson(rx: RxQueueConfig): Record<string, unknown> {
  return {
    queueId: rx.queueId,
    ringLen: rx.ringLen,
    hdrSize: rx.hdrSize,
    splithdrEnabled: rx.splithdrEnabled,
    databufferSize: rx.databufferSize,
    maxPktSize: rx.maxPktSize,
    crcDisable: rx.crcDisable,
    rxdid: rx.rxdid,
    flags: rx.flags,
    dmaRingAddr: hex64(rx.dmaRingAddr),
    rxSplitPos: rx.rxSplitPos,
  };
}

export function stateToJson(state: VfState, counters?: ReductionCounters): VfStateJson {
  const r = state.resources;
  return {
    version: negotiatedVersion(state),
    vfVersion: state.vfVersion && { ...state.vfVersion },
    pfVersion: state.pfVersion && { ...state.pfVersion },
    active: state.active,
    vsiId: r?.vsiId ?? null,
    capabilities: {
      requested: state.requestedCaps,
      requestedNames: state.requestedCaps === null ? [] : capabilityNames(state.requestedCaps),
      granted: r?.capFlags ?? null,
      grantedNames: r ? capabilityNames(r.capFlags) : [],
    },
    resources: r && { numQueuePairs: r.numQueuePairs, maxVectors: r.maxVectors, maxMtu: r.maxMtu, rssKeySize: r.rssKeySize, rssLutSize: r.rssLutSize, defaultMac: r.defaultMac },
    queuePairs: [...state.queuePairs]
      .sort(([a], [b]) => a - b)
      .map(([queueId, pair]) => ({ queueId, tx: txJson(pair.tx), rx: rxJson(pair.rx) })),
    irqMap: [...state.irqMap].sort(([a], [b]) => a - b).map(([vectorId, v]) => ({ vectorId, ...v })),
    enabledQueues: { ...state.enabledQueues },
    macs: sortedMacs(state),
    vlans: [...state.vlans].sort((a, b) => a - b),
    promisc: { ...state.promisc },
    promiscRequested: { ...state.promiscRequested },
    rss: {
      key: state.rss.key?.toString('hex') ?? null,
      lut: state.rss.lut?.toString('hex') ?? null,
      hena: state.rss.hena === null ? null : hex64(state.rss.hena),
      hfunc: state.rss.hfunc,
    },
    vlanStripping: state.vlanStripping,
    requestedQueuePairs: state.requestedQueuePairs,
    unmodelled: [...state.unmodelled].sort(([a], [b]) => a - b).map(([opcode, count]) => ({ opcode, name: opcodeName(opcode), count })),
    ...(counters ? { counters: { ...counters } } : {}),
  };
}
