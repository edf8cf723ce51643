/** `vf state` and `vf plan` as text for a terminal. */
import type { VfStateJson } from './json.js';
import type { PlannedMessage } from './plan.js';
import type { Rejection, ReductionNote } from './reduce.js';
import { statusName } from './opcodes.js';

function queues(bitmap: number): string {
  const ids: number[] = [];
  for (let bit = 0; bit < 32; bit++) if (((bitmap >>> bit) & 1) === 1) ids.push(bit);
  return ids.length === 0 ? 'none' : ids.join(',');
}

export function formatState(s: VfStateJson): string {
  const lines: string[] = [];
  const v = (x: { major: number; minor: number } | null): string => (x ? `${x.major}.${x.minor}` : '-');
  lines.push(`version      ${v(s.version)} (VF ${v(s.vfVersion)}, PF ${v(s.pfVersion)})${s.active ? ', active' : ', not active'}`);
  lines.push(`vsi          ${s.vsiId ?? '-'}`);
  if (s.resources) {
    const r = s.resources;
    lines.push(`resources    ${r.numQueuePairs} queue pairs, ${r.maxVectors} vectors, MTU <= ${r.maxMtu}, RSS key ${r.rssKeySize} B, LUT ${r.rssLutSize}, default MAC ${r.defaultMac}`);
    lines.push(`capabilities ${s.capabilities.grantedNames.join(' ') || 'none'} (asked: ${s.capabilities.requestedNames.join(' ') || 'none'})`);
  }
  lines.push(`queue pairs  ${s.queuePairs.length === 0 ? 'none configured' : ''}`);
  for (const q of s.queuePairs) {
    lines.push(`  ${q.queueId}: tx ring ${String(q.tx.ringLen)} @ ${String(q.tx.dmaRingAddr)}; rx ring ${String(q.rx.ringLen)} @ ${String(q.rx.dmaRingAddr)}, buffer ${String(q.rx.databufferSize)}, max packet ${String(q.rx.maxPktSize)}`);
  }
  lines.push(`enabled      rx ${queues(s.enabledQueues.rx)}; tx ${queues(s.enabledQueues.tx)}`);
  lines.push(`irq map      ${s.irqMap.map((m) => `v${m.vectorId}: rx ${queues(m.rxqMap)} tx ${queues(m.txqMap)}`).join('; ') || 'none'}`);
  lines.push(`MAC filters  ${s.macs.map((m) => `${m.addr} (${m.type})`).join(', ') || 'none'}`);
  lines.push(`VLAN filters ${s.vlans.join(', ') || 'none'}`);
  const asked = s.promiscRequested;
  const differs = asked.unicast !== s.promisc.unicast || asked.multicast !== s.promisc.multicast;
  lines.push(
    `promiscuous  unicast ${s.promisc.unicast ? 'on' : 'off'}, multicast ${s.promisc.multicast ? 'on' : 'off'}${differs ? ` (asked: unicast ${asked.unicast ? 'on' : 'off'}, multicast ${asked.multicast ? 'on' : 'off'}; an untrusted VF applies nothing)` : ''}`,
  );
  lines.push(
    `RSS          key ${s.rss.key ? `${s.rss.key.length / 2} bytes` : 'not set'}, LUT ${s.rss.lut ? `${s.rss.lut.length / 2} entries` : 'not set'}, HENA ${s.rss.hena ?? 'not set'}, hash function ${s.rss.hfunc ?? 'not set'}`,
  );
  lines.push(`VLAN strip   ${s.vlanStripping === null ? 'PF default' : s.vlanStripping ? 'on' : 'off'}`);
  for (const u of s.unmodelled) lines.push(`unmodelled   ${u.name} x${u.count} (cannot be replayed)`);
  if (s.counters) {
    const c = s.counters;
    lines.push(`counters     ${c.messages} records: ${c.requests} requests, ${c.replies} replies, ${c.events} events; ${c.applied} applied, ${c.rejected} rejected, ${c.resets} resets`);
    if (c.unanswered || c.unmatchedReplies || c.malformed) lines.push(`anomalies    ${c.unanswered} unanswered, ${c.unmatchedReplies} unmatched replies, ${c.malformed} malformed`);
  }
  return lines.join('\n');
}

export function formatPlan(messages: readonly PlannedMessage[], stateSize: number, historyLength: number): string {
  const lines = messages.map((m, i) => `${String(i + 1).padStart(3)}  ${m.name.padEnd(24)} ${String(m.payload.length).padStart(5)} bytes`);
  lines.push(`${messages.length} messages rebuild a state of ${stateSize} entries; replaying the whole log since the last reset would take ${historyLength}`);
  return lines.join('\n');
}

/** `vf state --explain`: the requests that changed nothing, then the anomalies. */
export function formatRejections(rejections: readonly Rejection[], notes: readonly ReductionNote[]): string {
  const lines = [`not applied  ${rejections.length === 0 ? 'none' : `${rejections.length} request${rejections.length === 1 ? '' : 's'}`}`];
  for (const r of rejections) lines.push(`  record ${r.recordIndex} ${r.name}: ${r.status === null ? 'no reply' : statusName(r.status)}: ${r.reason}`);
  for (const n of notes) lines.push(`note         record ${n.recordIndex}: ${n.message}`);
  return lines.join('\n');
}
