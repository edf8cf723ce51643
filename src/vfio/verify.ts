/**
 * Read-back check: two VF states compared field by field, VSI ids aside, every difference
 * in words an operator understands. The source is what the guest had; the destination
 * what the new VF has after the replay.
 */
import { sortedMacs } from './json.js';
import { capabilityNames } from './opcodes.js';
import { negotiatedVersion, type VfState } from './state.js';
import { hex64 } from './wire.js';

export type JsonScalar = string | number | boolean | null;

export interface StateDifference {
  /** dotted path, e.g. `macs.02:00:00:00:00:01`, `queuePairs.0.rx.ringLen` */
  field: string;
  source: JsonScalar;
  destination: JsonScalar;
  message: string;
}

function show(value: unknown): JsonScalar {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint') return hex64(value);
  if (Buffer.isBuffer(value)) return value.toString('hex');
  if (typeof value === 'object') return JSON.stringify(value);
  return value as JsonScalar;
}

function same(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (a && b && typeof a === 'object' && typeof b === 'object') return JSON.stringify(a) === JSON.stringify(b);
  return a === b;
}

function queueSet(bitmap: number): string {
  const ids: number[] = [];
  for (let bit = 0; bit < 32; bit++) if (((bitmap >>> bit) & 1) === 1) ids.push(bit);
  return ids.length === 0 ? 'none' : ids.join(', ');
}

export function compareStates(source: VfState, destination: VfState): StateDifference[] {
  const out: StateDifference[] = [];
  const diff = (field: string, a: unknown, b: unknown, message: (s: JsonScalar, d: JsonScalar) => string): void => {
    if (same(a, b)) return;
    const s = show(a);
    const d = show(b);
    out.push({ field, source: s, destination: d, message: message(s, d) });
  };
  const v = (x: { major: number; minor: number } | null): string | null => (x ? `${x.major}.${x.minor}` : null);

  diff('version', v(negotiatedVersion(source)), v(negotiatedVersion(destination)), (s, d) => `virtchnl version is ${d ?? 'not negotiated'} on the destination, ${s ?? 'not negotiated'} on the source`);
  diff('active', source.active, destination.active, (s) => (s ? 'the destination VF is not active (GET_VF_RESOURCES did not complete)' : 'the destination VF is active but the source VF was not'));
  diff('capabilities.requested', source.requestedCaps, destination.requestedCaps, (s, d) => `the VF asked for capabilities ${s} on the source but ${d} on the destination`);
  const rs = source.resources;
  const rd = destination.resources;
  if (rs && rd) {
    diff('capabilities.granted', rs.capFlags, rd.capFlags, () => {
      const lost = capabilityNames((rs.capFlags & ~rd.capFlags) >>> 0);
      const gained = capabilityNames((rd.capFlags & ~rs.capFlags) >>> 0);
      return `granted capabilities differ${lost.length ? `: missing on the destination ${lost.join(', ')}` : ''}${gained.length ? `; extra on the destination ${gained.join(', ')}` : ''}`;
    });
    diff('resources.numQueuePairs', rs.numQueuePairs, rd.numQueuePairs, (s, d) => `the destination VF has ${d} queue pairs, the source VF had ${s}`);
    diff('resources.maxVectors', rs.maxVectors, rd.maxVectors, (s, d) => `the destination VF has ${d} interrupt vectors, the source VF had ${s}`);
    diff('resources.maxMtu', rs.maxMtu, rd.maxMtu, (s, d) => `the destination allows an MTU up to ${d}, the source up to ${s}`);
    diff('resources.rssKeySize', rs.rssKeySize, rd.rssKeySize, (s, d) => `the RSS key size is ${d} bytes on the destination, ${s} on the source`);
    diff('resources.rssLutSize', rs.rssLutSize, rd.rssLutSize, (s, d) => `the RSS LUT size is ${d} entries on the destination, ${s} on the source`);
  } else if (rs || rd) {
    out.push({ field: 'resources', source: show(rs ? 'granted' : null), destination: show(rd ? 'granted' : null), message: rs ? 'the destination VF got no resources' : 'the source VF had no resources' });
  }

  for (const id of new Set([...source.queuePairs.keys(), ...destination.queuePairs.keys()])) {
    const a = source.queuePairs.get(id);
    const b = destination.queuePairs.get(id);
    if (!a || !b) {
      out.push({ field: `queuePairs.${id}`, source: a ? 'configured' : null, destination: b ? 'configured' : null, message: `queue pair ${id} is ${a ? 'not configured on the destination' : 'configured on the destination but was not on the source'}` });
      continue;
    }
    for (const side of ['tx', 'rx'] as const) {
      const fields = new Set([...Object.keys(a[side]), ...Object.keys(b[side])]);
      for (const name of fields) {
        const x = (a[side] as unknown as Record<string, unknown>)[name];
        const y = (b[side] as unknown as Record<string, unknown>)[name];
        diff(`queuePairs.${id}.${side}.${name}`, x, y, (s, d) => `${side.toUpperCase()} queue ${id}: ${name} is ${d} on the destination, ${s} on the source`);
      }
    }
  }

  for (const id of new Set([...source.irqMap.keys(), ...destination.irqMap.keys()])) {
    const a = source.irqMap.get(id);
    const b = destination.irqMap.get(id);
    if (!a || !b) {
      out.push({ field: `irqMap.${id}`, source: show(a ?? null), destination: show(b ?? null), message: `interrupt vector ${id} is ${a ? 'not mapped on the destination' : 'mapped on the destination but was not on the source'}` });
      continue;
    }
    diff(`irqMap.${id}.rxqMap`, a.rxqMap, b.rxqMap, () => `interrupt vector ${id} serves RX queues ${queueSet(b.rxqMap)} on the destination, ${queueSet(a.rxqMap)} on the source`);
    diff(`irqMap.${id}.txqMap`, a.txqMap, b.txqMap, () => `interrupt vector ${id} serves TX queues ${queueSet(b.txqMap)} on the destination, ${queueSet(a.txqMap)} on the source`);
    diff(`irqMap.${id}.rxitrIdx`, a.rxitrIdx, b.rxitrIdx, (s, d) => `interrupt vector ${id} uses RX ITR index ${d} on the destination, ${s} on the source`);
    diff(`irqMap.${id}.txitrIdx`, a.txitrIdx, b.txitrIdx, (s, d) => `interrupt vector ${id} uses TX ITR index ${d} on the destination, ${s} on the source`);
  }

  diff('enabledQueues.rx', source.enabledQueues.rx, destination.enabledQueues.rx, () => `enabled RX queues are ${queueSet(destination.enabledQueues.rx)} on the destination, ${queueSet(source.enabledQueues.rx)} on the source`);
  diff('enabledQueues.tx', source.enabledQueues.tx, destination.enabledQueues.tx, () => `enabled TX queues are ${queueSet(destination.enabledQueues.tx)} on the destination, ${queueSet(source.enabledQueues.tx)} on the source`);

  for (const { addr, type } of sortedMacs(source)) {
    const other = destination.macs.get(addr);
    if (other === undefined) out.push({ field: `macs.${addr}`, source: type, destination: null, message: `MAC filter ${addr} (${type}) is missing on the destination` });
    else if (other !== type) out.push({ field: `macs.${addr}`, source: type, destination: other, message: `MAC filter ${addr} is ${other} on the destination, ${type} on the source` });
  }
  for (const { addr, type } of sortedMacs(destination)) {
    if (!source.macs.has(addr)) out.push({ field: `macs.${addr}`, source: null, destination: type, message: `MAC filter ${addr} (${type}) is on the destination but not on the source` });
  }
  for (const id of [...source.vlans].sort((a, b) => a - b)) {
    if (!destination.vlans.has(id)) out.push({ field: `vlans.${id}`, source: true, destination: false, message: `VLAN filter ${id} is missing on the destination` });
  }
  for (const id of [...destination.vlans].sort((a, b) => a - b)) {
    if (!source.vlans.has(id)) out.push({ field: `vlans.${id}`, source: false, destination: true, message: `VLAN filter ${id} is on the destination but not on the source` });
  }
  const onOff = (x: JsonScalar): string => (x ? 'on' : 'off');
  diff('promisc.unicast', source.promisc.unicast, destination.promisc.unicast, (s, d) => `unicast promiscuous mode is ${onOff(d)} on the destination, ${onOff(s)} on the source`);
  diff('promisc.multicast', source.promisc.multicast, destination.promisc.multicast, (s, d) => `multicast promiscuous mode is ${onOff(d)} on the destination, ${onOff(s)} on the source`);
  diff('promiscRequested.unicast', source.promiscRequested.unicast, destination.promiscRequested.unicast, (s, d) => `the guest's unicast promiscuous request is ${onOff(d)} on the destination, ${onOff(s)} on the source`);
  diff('promiscRequested.multicast', source.promiscRequested.multicast, destination.promiscRequested.multicast, (s, d) => `the guest's multicast promiscuous request is ${onOff(d)} on the destination, ${onOff(s)} on the source`);
  const setOr = (x: JsonScalar): string => (x === null ? 'not set' : String(x));
  diff('rss.key', source.rss.key, destination.rss.key, (s, d) => `the RSS key differs (destination ${setOr(d)}, source ${setOr(s)})`);
  diff('rss.lut', source.rss.lut, destination.rss.lut, (s, d) => `the RSS lookup table differs (destination ${setOr(d)}, source ${setOr(s)})`);
  diff('rss.hena', source.rss.hena, destination.rss.hena, (s, d) => `the RSS hash-enable bits are ${setOr(d)} on the destination, ${setOr(s)} on the source`);
  diff('rss.hfunc', source.rss.hfunc, destination.rss.hfunc, (s, d) => `the RSS hash function is ${setOr(d)} on the destination, ${setOr(s)} on the source`);
  const strip = (x: JsonScalar): string => (x === null ? 'left at the PF default' : x ? 'on' : 'off');
  diff('vlanStripping', source.vlanStripping, destination.vlanStripping, (s, d) => `VLAN stripping is ${strip(d)} on the destination, ${strip(s)} on the source`);
  return out;
}
