// Orchestrator time inside the guest's downtime, from QEMU's own event timestamps:
// (source MIGRATION pre-switchover -> source MIGRATION device)
//   + (destination MIGRATION completed -> destination RESUME),
// for nicmig's plain strategy and for a minimal script that does nothing but send
// migrate-continue and cont, measured in the same run on the same QEMU hosts.
// Needs `npm run build` and qemu-system-x86_64.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseInventory } from '../../dist/inventory/inventory.js';
import { QemuHost } from '../../dist/hosts/qemu-host.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration } from '../../dist/migration/orchestrator.js';
import { PlainStrategy } from '../../dist/migration/strategy.js';
import { DemoLab } from '../../dist/lab/demo-lab.js';
import { VfReplayStrategy } from '../../dist/migration/vf-replay.js';
import { minimalMigration } from '../lib/minimal-migration.js';

const QEMU = process.env.NICMIG_QEMU ?? 'qemu-system-x86_64';
const RUNS = Number(process.env.BENCH_RUNS ?? 9);

const baselineWindowsSink = [];

/** Until the VM's QEMU on the host it left is gone: a QEMU still exiting answers the next probe as unknown. */
async function untilGone(host) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { presence, monitor } = await host.probeVm('vm1');
    monitor?.disconnect();
    if (presence.state === 'gone') return;
    if (Date.now() > deadline) throw new Error(`vm1 still ${presence.state} on ${host.name} 30 s after it migrated away`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const round3 = (x) => Math.round(x * 1000) / 1000;

/** The simulator: a VF whose admin log since its last reset holds `history` messages. */
async function simulatorWindows(history, runs) {
  const results = [];
  for (let run = 0; run < runs; run++) {
    const lab = await DemoLab.start({ memoryMiB: 64, dirtyPagesPerSecond: 2000 });
    try {
      const guest = lab.device('hostA').guest;
      // MAC filter churn: each add and delete is a request and a reply in the log.
      for (let i = 0; guest && i < history / 4; i++) {
        const mac = `01:00:5e:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
        guest.addMacs([mac]);
        guest.delMacs([mac]);
      }
      const captured = lab.device('hostA').vf.log.length;
      const migration = new Migration(
        { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS } },
        { hosts: lab.hosts, strategy: new VfReplayStrategy(), journalDir: path.join(lab.dir, 'journal'), onEvent: () => {} },
      );
      const summary = await migration.run();
      results.push({ window: summary.orchestratorDowntimeMs, captured, replayed: summary.replay.replayed, verified: summary.replay.verified });
    } finally {
      await lab.close();
    }
  }
  return results;
}

async function main() {
  const sim = await simulatorWindows(10_000, 5);
  const simRows = [
    { metric: 'simulator, VF history 10,000: in-downtime time', value: round3(median(sim.map((r) => r.window))), unit: 'ms' },
    { metric: 'simulator, VF history 10,000: messages replayed', value: median(sim.map((r) => r.replayed)), unit: 'messages', baseline: median(sim.map((r) => r.captured)), ratio: round3(median(sim.map((r) => r.replayed)) / median(sim.map((r) => r.captured))) },
  ];
  console.log(`bench/migrate: simulator, vm1 with a VF whose log holds ~10,000 messages, ${sim.length} runs`);
  console.log(`  windows: ${sim.map((r) => r.window).join(' ')} ms; verified: ${sim.every((r) => r.verified)}`);
  if (spawnSync(QEMU, ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.log(`bench/migrate: ${QEMU} not found, real-QEMU part skipped`);
    console.log(`BENCH ${JSON.stringify({ name: 'migrate', rows: simRows })}`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-bench-migrate-'));
  const inventory = parseInventory(
    JSON.stringify({
      stateDir: path.join(dir, 'state'),
      hosts: { hostA: { runDir: path.join(dir, 'hostA') }, hostB: { runDir: path.join(dir, 'hostB') } },
      vms: [{ name: 'vm1', memoryMiB: 64 }],
    }),
    path.join(dir, 'config.yaml'),
  );
  const hosts = new Map([...inventory.hosts.values()].map((config) => [config.name, new QemuHost(config, inventory.vms)]));
  const nicmig = [];
  const windows = [];
  const baseline = [];
  let where = 'hostA';
  try {
    const first = await hosts.get('hostA').startVm('vm1', { paused: false, incoming: false });
    first.monitor.client.destroy();
    for (let run = 0; run < RUNS * 2; run++) {
      const to = where === 'hostA' ? 'hostB' : 'hostA';
      if (run % 2 === 0) {
        const migration = new Migration(
          { vm: 'vm1', to, options: { ...DEFAULT_MIGRATION_OPTIONS } },
          { hosts, strategy: new PlainStrategy(), journalDir: path.join(dir, 'journal'), onEvent: () => {} },
        );
        const summary = await migration.run();
        nicmig.push(summary.orchestratorDowntimeMs);
        windows.push(summary.orchestratorWindowsMs);
      } else {
        const source = await hosts.get(where).connectVm('vm1');
        const result = await minimalMigration({ source, destinationHost: hosts.get(to), vm: 'vm1' });
        baselineWindowsSink.push(result.windows);
        baseline.push(result.orchestratorDowntimeMs);
      }
      await untilGone(hosts.get(where));
      where = to;
    }
  } finally {
    for (const host of ['hostA', 'hostB']) {
      const pidFile = path.join(dir, host, 'vm1.pid');
      if (fs.existsSync(pidFile)) {
        try {
          process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const base = median(baseline);
  const ours = median(nicmig);
  const rows = [
    ...simRows,
    { metric: 'in-downtime time, minimal script (baseline)', value: round3(base), unit: 'ms' },
    { metric: 'in-downtime time, nicmig plain strategy', value: round3(ours), unit: 'ms', baseline: round3(base), ratio: round3(ours / base) },
  ];
  console.log(`bench/migrate: 64 MiB VM back and forth between two QEMU 7.2 processes, ${RUNS} runs each, medians`);
  console.log(`  baseline runs: ${baseline.map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`  nicmig runs:   ${nicmig.map((x) => x.toFixed(2)).join(' ')}`);
  const parts = (list) => `switchover ${median(list.map((w) => w.switchover)).toFixed(3)} ms + resume ${median(list.map((w) => w.resume)).toFixed(3)} ms`;
  console.log(`  baseline windows (medians): ${parts(baselineWindowsSink)}`);
  console.log(`  nicmig windows (medians):   ${parts(windows)}`);
  for (const row of rows) console.log(`  ${row.metric.padEnd(46)} ${String(row.value).padStart(8)} ${row.unit}${row.ratio ? `   x${row.ratio}` : ''}`);
  console.log(`BENCH ${JSON.stringify({ name: 'migrate', rows })}`);
}

await main();
