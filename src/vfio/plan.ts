/**
 * The replay planner: from a VF's state and the destination's facts, the shortest message
 * list that rebuilds that state on a fresh destination VF. It reads the state, never the
 * history, so its length is bounded by the state's size.
 *
 * Order (docs/vf-state.md explains it):
 *   VERSION, GET_VF_RESOURCES             the PF makes the VF ACTIVE; nothing else before
 *   [REQUEST_QUEUES, VERSION, GET_VF_RESOURCES]
 *                                         only when the queue count differs from the
 *                                         destination's default; the PF resets the VF
 *   CONFIG_VSI_QUEUES, CONFIG_IRQ_MAP     rings and interrupts, before any enable
 *   ADD_ETH_ADDR (primary first), ADD_VLAN   filters, split to <= 4096 bytes
 *   CONFIG_PROMISCUOUS_MODE               if the guest asked (an untrusted PF applies nothing)
 *   CONFIG_RSS_KEY, CONFIG_RSS_LUT, SET_RSS_HENA, CONFIG_RSS_HFUNC   if set
 *   ENABLE/DISABLE_VLAN_STRIPPING         if the guest set it
 *   ENABLE_QUEUES                         last: no packet flows before everything is in place
 */
import { VfIncompatibleError } from './errors.js';
import { grantCapabilities, resolveFacts, type DestinationFacts, type ResolvedFacts } from './facts.js';
import { sortedMacs } from './json.js';
import { encodeRequest, Size, type ApiVersion, type VfRequest } from './messages.js';
import { isV11 } from './validate.js';
import { AQ_MAX_BUFFER, capabilityNames, MacType, Op, opcodeName, PromiscFlag } from './opcodes.js';
import { negotiatedVersion, type VfState } from './state.js';
import { isMulticastMac } from './wire.js';

export interface PlannedMessage {
  opcode: number;
  name: string;
  payload: Buffer;
}

/** How many elements of `element` bytes fit a list message under the 4096-byte buffer. */
export function maxListElements(header: number, element: number): number {
  return Math.floor((AQ_MAX_BUFFER - header) / element) - 1;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function compareVersion(a: ApiVersion, b: ApiVersion): number {
  return a.major - b.major || a.minor - b.minor;
}

const macTypeCode = { legacy: MacType.LEGACY, primary: MacType.PRIMARY, extra: MacType.EXTRA } as const;

/**
 * One way the destination VF cannot hold what the source VF holds: `field` names it,
 * `source` what the source VF holds, `destination` what the destination PF grants or allows.
 */
export interface DestinationDifference {
  field: string;
  source: string | number | boolean | null;
  destination: string | number | boolean | null;
  message: string;
}

/**
 * What the source VF holds (capabilities, queue pairs, MSI-X vectors, RSS sizes, filters,
 * MTU, port VLAN, trust, host MAC) against what the destination PF would grant its VF, from
 * the destination host's facts; empty when the state can be rebuilt there. Pure: preflight
 * calls it with the destination's facts before the guest stops.
 */
export function compareVfToDestination(state: VfState, facts: DestinationFacts): DestinationDifference[] {
  const f = resolveFacts(facts);
  const out: DestinationDifference[] = [];
  const add = (field: string, source: DestinationDifference['source'], destination: DestinationDifference['destination'], message: string): void => {
    out.push({ field, source, destination, message });
  };
  for (const [opcode, count] of state.unmodelled) {
    add(`unmodelled.${opcodeName(opcode)}`, count, null, `the guest used ${opcodeName(opcode)} (${count} accepted message${count === 1 ? '' : 's'}), which nicmig cannot rebuild`);
  }
  const version = negotiatedVersion(state);
  if (version && compareVersion(version, f.apiVersion) > 0) {
    add('version', `${version.major}.${version.minor}`, `${f.apiVersion.major}.${f.apiVersion.minor}`, `the guest driver negotiated virtchnl ${version.major}.${version.minor}; the destination PF speaks only ${f.apiVersion.major}.${f.apiVersion.minor}`);
  }
  const r = state.resources;
  if (r) {
    if (r.numQueuePairs > f.numQueuePairs) add('resources.numQueuePairs', r.numQueuePairs, f.numQueuePairs, `the VF has ${r.numQueuePairs} queue pairs; the destination VF can have at most ${f.numQueuePairs}`);
    if (r.maxVectors > f.maxVectors) add('resources.maxVectors', r.maxVectors, f.maxVectors, `the VF has ${r.maxVectors} interrupt vectors; the destination VF has ${f.maxVectors}`);
    const destinationGrant = grantCapabilities(state.requestedCaps, f.device, { portVlan: f.portVlan, supported: f.supportedCaps });
    const missingCaps = (r.capFlags & ~destinationGrant) >>> 0;
    if (missingCaps !== 0) {
      add(
        'capabilities.granted',
        capabilityNames(r.capFlags).join(' '),
        capabilityNames(destinationGrant).join(' '),
        `the destination PF (${f.device}) would not grant capabilities ${capabilityNames(missingCaps).join(', ')} that the guest was given for the same request`,
      );
    }
    if (r.maxMtu > f.maxMtu) add('resources.maxMtu', r.maxMtu, f.maxMtu, `the guest may use an MTU up to ${r.maxMtu}; the destination allows ${f.maxMtu}`);
  }
  if (!f.trusted && state.macs.size > f.maxMacFilters) {
    add('macs', state.macs.size, f.maxMacFilters, `the VF holds ${state.macs.size} MAC filters; an untrusted VF on the destination may hold ${f.maxMacFilters} (set trust on, or raise the limit)`);
  }
  if (!f.trusted && state.vlans.size > f.maxVlanFilters) {
    add('vlans', state.vlans.size, f.maxVlanFilters, `the VF holds ${state.vlans.size} VLAN filters; an untrusted VF on the destination may hold ${f.maxVlanFilters} (set trust on)`);
  }
  if (f.portVlan !== undefined && f.portVlan !== null && state.vlans.size > 0) {
    add('portVlan', null, f.portVlan, `the destination VF has port VLAN ${f.portVlan}, which refuses the guest's ${state.vlans.size} VLAN filter${state.vlans.size === 1 ? '' : 's'}`);
  }
  if (!f.trusted && (state.promisc.unicast || state.promisc.multicast)) {
    // Only what the source PF applied: an untrusted source VF's request applied nothing,
    // and an untrusted destination answers the replayed request the same way.
    const modes = [state.promisc.unicast ? 'unicast' : '', state.promisc.multicast ? 'multicast' : ''].filter(Boolean).join(' and ');
    add('trusted', true, false, `the source PF applied ${modes} promiscuous mode (a trusted VF); an untrusted destination VF would answer the request and apply nothing`);
  }
  if (!f.trusted && f.hostMac) {
    const host = f.hostMac.toLowerCase();
    for (const [addr] of state.macs) {
      if (!isMulticastMac(addr) && addr !== host) add(`macs.${addr}`, addr, host, `the destination host set the VF's MAC to ${host}; an untrusted VF cannot use unicast MAC ${addr}`);
    }
  }
  if (state.rss.key && state.rss.key.length !== f.rssKeySize) add('rss.keySize', state.rss.key.length, f.rssKeySize, `the RSS key is ${state.rss.key.length} bytes; the destination PF takes ${f.rssKeySize}`);
  if (state.rss.lut && state.rss.lut.length !== f.rssLutSize) add('rss.lutSize', state.rss.lut.length, f.rssLutSize, `the RSS LUT has ${state.rss.lut.length} entries; the destination PF takes ${f.rssLutSize}`);
  const usedVector = Math.max(-1, ...state.irqMap.keys());
  if (usedVector >= f.maxVectors && !(r && r.maxVectors > f.maxVectors)) add('irqMap', usedVector, f.maxVectors, `the guest maps interrupt vector ${usedVector}; the destination VF has ${f.maxVectors} vectors`);
  return out;
}

/** Why the state cannot be rebuilt on the destination, one sentence each; empty when it can. */
export function checkCompatibility(state: VfState, facts: DestinationFacts): string[] {
  return compareVfToDestination(state, facts).map((d) => d.message);
}

/**
 * The replay plan. Throws VfIncompatibleError (with every reason) when the destination
 * cannot take the state.
 */
export function planReplay(state: VfState, facts: DestinationFacts): PlannedMessage[] {
  const reasons = checkCompatibility(state, facts);
  if (reasons.length > 0) throw new VfIncompatibleError(reasons);
  return buildPlan(state, resolveFacts(facts)).map((request) => ({ opcode: request.opcode, name: opcodeName(request.opcode), payload: encodeRequest(request) }));
}

function buildPlan(state: VfState, f: ResolvedFacts): VfRequest[] {
  const vsiId = f.vsiId;
  const plan: VfRequest[] = [];
  if (!state.vfVersion) return plan;
  const version = { ...state.vfVersion };
  const handshake = (): void => {
    plan.push({ opcode: Op.VERSION, version });
    // A bitmap only from a VF that announced exactly 1.1 (the kernel's VF_IS_V11).
    if (state.active) plan.push({ opcode: Op.GET_VF_RESOURCES, caps: isV11(version) ? (state.requestedCaps ?? 0) : null });
  };
  handshake();
  if (!state.active) return plan;

  const wantedQueues = state.resources?.numQueuePairs;
  if (wantedQueues !== undefined && wantedQueues !== f.defaultQueuePairs) {
    plan.push({ opcode: Op.REQUEST_QUEUES, numQueuePairs: wantedQueues });
    handshake();
  }

  const pairs = [...state.queuePairs].sort(([a], [b]) => a - b);
  for (const group of chunks(pairs, maxListElements(Size.VSI_QUEUE_CONFIG_HEADER, Size.QUEUE_PAIR_INFO))) {
    plan.push({ opcode: Op.CONFIG_VSI_QUEUES, vsiId, queuePairs: group.map(([, p]) => ({ txq: { vsiId, ...p.tx }, rxq: { vsiId, ...p.rx } })) });
  }
  const vectors = [...state.irqMap].sort(([a], [b]) => a - b);
  for (const group of chunks(vectors, maxListElements(Size.IRQ_MAP_HEADER, Size.VECTOR_MAP))) {
    plan.push({ opcode: Op.CONFIG_IRQ_MAP, vectors: group.map(([vectorId, v]) => ({ vsiId, vectorId, ...v })) });
  }
  const macs = sortedMacs(state);
  for (const group of chunks(macs, maxListElements(Size.LIST_HEADER, Size.ETHER_ADDR))) {
    plan.push({ opcode: Op.ADD_ETH_ADDR, vsiId, addrs: group.map((m) => ({ addr: m.addr, type: macTypeCode[m.type] })) });
  }
  const vlans = [...state.vlans].sort((a, b) => a - b);
  for (const group of chunks(vlans, maxListElements(Size.LIST_HEADER, Size.VLAN_ID))) plan.push({ opcode: Op.ADD_VLAN, vsiId, vlanIds: group });
  const promisc = state.promiscRequested;
  if (promisc.unicast || promisc.multicast) {
    plan.push({ opcode: Op.CONFIG_PROMISCUOUS_MODE, vsiId, flags: (promisc.unicast ? PromiscFlag.UNICAST : 0) | (promisc.multicast ? PromiscFlag.MULTICAST : 0) });
  }
  if (state.rss.key) plan.push({ opcode: Op.CONFIG_RSS_KEY, vsiId, key: state.rss.key });
  if (state.rss.lut) plan.push({ opcode: Op.CONFIG_RSS_LUT, vsiId, lut: state.rss.lut });
  if (state.rss.hena !== null) plan.push({ opcode: Op.SET_RSS_HENA, hena: state.rss.hena });
  if (state.rss.hfunc !== null) plan.push({ opcode: Op.CONFIG_RSS_HFUNC, vsiId, algorithm: state.rss.hfunc });
  if (state.vlanStripping !== null) plan.push({ opcode: state.vlanStripping ? Op.ENABLE_VLAN_STRIPPING : Op.DISABLE_VLAN_STRIPPING });
  if (state.enabledQueues.rx !== 0 || state.enabledQueues.tx !== 0) {
    plan.push({ opcode: Op.ENABLE_QUEUES, vsiId, rxQueues: state.enabledQueues.rx, txQueues: state.enabledQueues.tx });
  }
  return plan;
}

/** The state's size in entries: what bounds the plan's length. */
export function stateSize(state: VfState): number {
  return (
    state.queuePairs.size +
    state.irqMap.size +
    state.macs.size +
    state.vlans.size +
    (state.promiscRequested.unicast || state.promiscRequested.multicast ? 1 : 0) +
    [state.rss.key, state.rss.lut, state.rss.hena, state.rss.hfunc, state.vlanStripping].filter((v) => v !== null).length +
    (state.enabledQueues.rx !== 0 || state.enabledQueues.tx !== 0 ? 1 : 0)
  );
}

