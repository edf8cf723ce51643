// The downtime policy on the simulator (the real guest's side is in bench/guest): a 256 MiB
// simulated VM without VF, its vCPUs dirtying memory at two rates, migrated back and forth
// between two simulated hosts in this process, by `steps` (the default: --downtime-limit is a
// ceiling on the felt pause, approached from below, less the overhead measured on earlier
// migrations to the same host) and `fixed` (QEMU given --downtime-limit as is), taking turns.
// For each: the felt pause (STOP -> RESUME), QEMU's downtime, total time, pre-copy passes,
// and the limits QEMU got. Needs `npm run build`.
// BENCH_POLICY_RUNS (default 6) per policy and rate; BENCH_POLICY_DIRTY (pages/s, default
// "2000,30000"); BENCH_POLICY_LIMIT_MS (default 50).
import path from 'node:path';
import { DemoLab } from '../../dist/lab/demo-lab.js';
import { overheadFromHistory } from '../../dist/migration/downtime-policy.js';
import { switchoverHistory } from '../../dist/migration/journal.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration } from '../../dist/migration/orchestrator.js';
import { PlainStrategy } from '../../dist/migration/strategy.js';

const RUNS = Number(process.env.BENCH_POLICY_RUNS ?? 6);
const RATES = (process.env.BENCH_POLICY_DIRTY ?? '2000,30000').split(',').map(Number);
const LIMIT_MS = Number(process.env.BENCH_POLICY_LIMIT_MS ?? 50);
const MEMORY_MIB = 256;
const POLICIES = ['fixed', 'steps'];

const median = (values) => {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  return sorted.length === 0 ? null : sorted[Math.floor(sorted.length / 2)];
};
const round = (x, digits = 1) => (x === null || x === undefined ? null : Math.round(x * 10 ** digits) / 10 ** digits);

async function main() {
  const records = [];
  for (const rate of RATES) {
    const lab = await DemoLab.start({ memoryMiB: MEMORY_MIB, dirtyPagesPerSecond: rate, withVf: false });
    const journalDir = path.join(lab.dir, 'journal');
    let where = 'hostA';
    try {
      for (let run = 0; run < RUNS; run++) {
        for (const policy of run % 2 === 0 ? POLICIES : [...POLICIES].reverse()) {
          const to = where === 'hostA' ? 'hostB' : 'hostA';
          const record = { rate, policy, run };
          records.push(record);
          const migration = new Migration(
            {
              vm: 'vm1',
              to,
              spec: lab.inventory.vms.get('vm1'),
              options: {
                ...DEFAULT_MIGRATION_OPTIONS,
                downtimeLimitMs: LIMIT_MS,
                downtimePolicy: policy,
                // As `nicmig migrate` does: from the journals of earlier migrations to that host.
                downtimeOverhead: overheadFromHistory(switchoverHistory(journalDir, to)),
                timeoutMs: 120_000,
              },
            },
            { hosts: lab.hosts, strategy: new PlainStrategy(), journalDir, onEvent: () => undefined },
          );
          try {
            const s = await migration.run();
            Object.assign(record, {
              ok: true,
              measuredDowntimeMs: s.measuredDowntimeMs,
              downtimeMs: s.downtimeMs,
              totalTimeMs: s.totalTimeMs,
              passes: s.passes,
              limits: s.downtimePolicy?.steps.map((step) => step.limitMs),
              overheadMs: s.downtimePolicy?.overheadMs,
            });
            where = to;
          } catch (error) {
            Object.assign(record, { ok: false, problem: error instanceof Error ? error.message : String(error) });
          }
          console.log(`  ${JSON.stringify(record)}`);
        }
      }
    } finally {
      await lab.close();
    }
  }

  const metrics = [
    ['STOP -> RESUME', 'measuredDowntimeMs', 'ms'],
    ["QEMU's downtime", 'downtimeMs', 'ms'],
    ['total time', 'totalTimeMs', 'ms'],
    ['passes', 'passes', ''],
  ];
  const rows = [];
  const lines = [];
  for (const rate of RATES) {
    const cell = (policy) => records.filter((r) => r.rate === rate && r.policy === policy && r.ok);
    lines.push(`\nsimulator, ${rate} pages/s (${round((rate * 4096) / (1 << 20))} MiB/s), limit ${LIMIT_MS} ms, medians`);
    lines.push(`| metric | ${POLICIES.join(' | ')} |`, `|---|${POLICIES.map(() => '---:').join('|')}|`);
    const medians = new Map(POLICIES.map((policy) => [policy, Object.fromEntries(metrics.map(([, key]) => [key, median(cell(policy).map((r) => r[key]))]))]));
    for (const [label, key, unit] of metrics) lines.push(`| ${label}${unit ? ` (${unit})` : ''} | ${POLICIES.map((p) => round(medians.get(p)[key], 2) ?? '-').join(' | ')} |`);
    lines.push(`| migrated / runs | ${POLICIES.map((p) => `${cell(p).length}/${records.filter((r) => r.rate === rate && r.policy === p).length}`).join(' | ')} |`);
    lines.push(`limits QEMU got under steps, per run (ms; overhead subtracted): ${cell('steps').map((r) => `${(r.limits ?? []).join('>')}${r.overheadMs ? ` (-${r.overheadMs})` : ''}`).join(', ') || '-'}`);
    for (const [label, key, unit] of metrics) {
      const fixed = medians.get('fixed')[key];
      const steps = medians.get('steps')[key];
      rows.push({ metric: `simulator ${rate} pages/s, fixed: ${label}`, value: round(fixed, 2), unit });
      rows.push({ metric: `simulator ${rate} pages/s, steps: ${label}`, value: round(steps, 2), unit, ...(fixed ? { baseline: round(fixed, 2), ratio: steps === null ? null : round(steps / fixed, 3) } : {}) });
    }
  }
  const failed = records.filter((r) => !r.ok);
  console.log(lines.join('\n'));
  if (failed.length > 0) {
    console.log(`\nmigrations that failed: ${failed.length}`);
    for (const r of failed) console.log(`  ${r.rate} pages/s, ${r.policy}, run ${r.run + 1}: ${r.problem}`);
  }
  console.log(`BENCH ${JSON.stringify({ name: 'downtime-policy', rows })}`);
}

await main();
