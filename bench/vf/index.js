#!/usr/bin/env node
// bench/vf: decode + reduce + plan of a 100,000-record admin-queue capture of MAC and VLAN
// churn (an untrusted VF, iavf bring-up then multicast joins/leaves and VLANs coming and
// going), against what a replay of the whole log would send (the approach of earlier work:
// every accepted message since the last reset, in order).
// Run after `npm run build`: node bench/vf/index.js [records] [runs]
import { parseCapture } from '../../dist/vfio/capture.js';
import { defaultDestinationFacts } from '../../dist/vfio/facts.js';
import { planReplay, stateSize } from '../../dist/vfio/plan.js';
import { reduceCapture } from '../../dist/vfio/reduce.js';
import { buildChurnCapture } from '../../dist/vfio/sample-captures.js';

const RECORDS = Number(process.argv[2] ?? 100_000);
const RUNS = Number(process.argv[3] ?? 7);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round2 = (x) => Math.round(x * 100) / 100;
const round4 = (x) => Math.round(x * 10_000) / 10_000;

const capture = buildChurnCapture(RECORDS, 1);
const destination = defaultDestinationFacts({ vsiId: 42 });

function once() {
  const t0 = performance.now();
  const { records, error } = parseCapture(capture);
  if (error) throw error;
  const t1 = performance.now();
  const reduction = reduceCapture(records);
  const t2 = performance.now();
  const plan = planReplay(reduction.state, destination);
  const t3 = performance.now();
  return { records: records.length, reduction, plan, decodeMs: t1 - t0, reduceMs: t2 - t1, planMs: t3 - t2, totalMs: t3 - t0 };
}

once(); // warm-up: JIT, and a check that the plan is valid
const runs = Array.from({ length: RUNS }, once);
const last = runs.at(-1);
const planLength = last.plan.length;
const wholeLog = last.reduction.counters.appliedSinceReset;
const planBytes = last.plan.reduce((n, m) => n + m.payload.length, 0);
const totalMs = median(runs.map((r) => r.totalMs));

const rows = [
  { metric: `decode+reduce+plan, ${last.records} records`, value: round2(totalMs), unit: 'ms' },
  { metric: 'decode (capture parse)', value: round2(median(runs.map((r) => r.decodeMs))), unit: 'ms' },
  { metric: 'reduce', value: round2(median(runs.map((r) => r.reduceMs))), unit: 'ms' },
  { metric: 'plan', value: round4(median(runs.map((r) => r.planMs))), unit: 'ms' },
  { metric: 'throughput', value: Math.round(last.records / (totalMs / 1000)), unit: 'records/s' },
  { metric: 'replay length (messages)', value: planLength, unit: 'messages', baseline: wholeLog, ratio: round4(planLength / wholeLog) },
  { metric: 'replay size', value: planBytes, unit: 'bytes' },
  { metric: 'state size', value: stateSize(last.reduction.state), unit: 'entries' },
];

console.log(`bench/vf: ${last.records} records (${(capture.length / 1e6).toFixed(1)} MB), median of ${RUNS} runs`);
console.log(`  ${'metric'.padEnd(42)} ${'value'.padStart(12)}  unit`);
for (const row of rows) {
  const vs = row.baseline === undefined ? '' : `   whole-log replay: ${row.baseline} (x${row.ratio})`;
  console.log(`  ${row.metric.padEnd(42)} ${String(row.value).padStart(12)}  ${row.unit}${vs}`);
}
const c = last.reduction.counters;
console.log(`  state: ${last.reduction.state.macs.size} MAC filters, ${last.reduction.state.vlans.size} VLAN filters; ${c.applied} applied, ${c.rejected} refused by the PF`);
console.log(`BENCH ${JSON.stringify({ name: 'vf', rows })}`);
