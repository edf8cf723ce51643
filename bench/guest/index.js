// A real Linux guest (test/helpers/guest/: Debian's kernel and busybox under TCG, its
// virtio-net on a tap on its host's bridge, hosts that are network namespaces joined by a
// fabric bridge, a UDP prober at 1 kHz in its own namespace) migrated back and forth on each
// installed QEMU version, its workload dirtying memory at two rates, by three drivers taking
// turns on the same guest:
//   minimal       the least a script can do (bench/lib/minimal-migration.js), QEMU given the limit
//   nicmig fixed  `nicmig migrate --downtime-policy fixed`: QEMU given the same limit
//   nicmig steps  `nicmig migrate` (the default policy): the limit is a ceiling on the felt pause
// For each: QEMU's downtime, STOP -> RESUME (QEMU's event timestamps), the longest gap between
// probe replies and the probes lost, the driver's own time inside the downtime, total time and
// pre-copy passes. After every migration the guest is asked from inside (serial console)
// whether it kept running (same boot id) with its memory intact; a guest that did not is
// counted, its probe figures left out of the medians, and booted again.
//
// QEMU 7.2 under TCG loses dirty pages (fixed in QEMU 9.0 by commit 03bfc2188f, "physmem: Fix
// migration dirty bitmap coherency with TCG memory access": the bitmap sync's fast path for a
// RAM block whose size is a multiple of 64 pages clears dirty bits without resetting the TCG
// TLB, so later stores through it are not logged), and a guest migrated out of it crashes or
// runs on corrupt memory. Its slow path does reset the TLB: on 7.2 this bench runs QEMU
// through a wrapper that gives the guest 8 KiB less than its whole MiB (BENCH_GUEST_QEMU72_RAM
// =plain runs it as is, to see the crashes).
//
// Needs `npm run build`, root (network namespaces), QEMU 7.2 and/or 10.0
// (scripts/install-qemu10.sh), apt access once for the guest image (cached in tmp/guest-cache).
// BENCH_GUEST_RUNS (default 4) migrations per driver and cell; BENCH_GUEST_DIRTY (MiB/s,
// default "4,96"); BENCH_GUEST_LIMIT_MS (default 50); BENCH_GUEST_QEMU ("7.2,10.0");
// BENCH_GUEST_STATE_DIR, where nicmig keeps its journals (default: the bench's temporary directory).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadInventory } from '../../dist/inventory/inventory.js';
import { QemuHost } from '../../dist/hosts/qemu-host.js';
import { loadGuestKit } from '../lib/guest-kit.js';
import { minimalMigration } from '../lib/minimal-migration.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const RUNS = Number(process.env.BENCH_GUEST_RUNS ?? 4);
const RATES = (process.env.BENCH_GUEST_DIRTY ?? '4,96').split(',').map(Number);
const LIMIT_MS = Number(process.env.BENCH_GUEST_LIMIT_MS ?? 50);
const WORKING_SET_MIB = Number(process.env.BENCH_GUEST_WSS_MIB ?? 96);
const MEMORY_MIB = 256;
const PROBE_HZ = 1000;
const MAC = '52:54:00:c0:ff:ee';
const GUEST = 'guest';
const UDP_PORT = 7;
const QEMU10_DIR = process.env.NICMIG_QEMU10_DIR ?? '/opt/qemu-10.0';
const DRIVERS = ['minimal', 'nicmig fixed', 'nicmig steps'];
const QEMU72_RAM = process.env.BENCH_GUEST_QEMU72_RAM ?? 'odd';

const median = (values) => {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  return sorted.length === 0 ? null : sorted[Math.floor(sorted.length / 2)];
};
const round = (x, digits = 1) => (x === null || x === undefined ? null : Math.round(x * 10 ** digits) / 10 ** digits);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function installedQemus() {
  const wanted = (process.env.BENCH_GUEST_QEMU ?? '7.2,10.0').split(',');
  const candidates = [
    { version: '7.2', binary: process.env.NICMIG_QEMU ?? 'qemu-system-x86_64' },
    { version: '10.0', binary: path.join(QEMU10_DIR, 'bin', 'qemu-system-x86_64') },
  ];
  const found = [];
  for (const candidate of candidates.filter((c) => wanted.includes(c.version))) {
    const out = spawnSync(candidate.binary, ['--version'], { encoding: 'utf8' });
    const version = out.status === 0 ? /version (\d+\.\d+)/.exec(out.stdout)?.[1] : undefined;
    if (version === candidate.version) found.push(candidate);
    else console.log(`bench/guest: QEMU ${candidate.version} not installed (${candidate.binary}${version ? ` is ${version}` : ' does not run'}): left out`);
  }
  return found;
}

/** nicmig migrate through the built CLI, as an operator runs it; its summary document. */
function nicmigMigrate(configFile, to, policy) {
  return new Promise((resolve) => {
    const args = [path.join(ROOT, 'bin', 'run.js'), 'migrate', GUEST, to, '--config', configFile, '--events', '--downtime-limit', String(LIMIT_MS), '--downtime-policy', policy];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => {
      const events = stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line));
      resolve({ code, summary: events.find((e) => e.type === 'summary'), stderr });
    });
  });
}

async function main() {
  const versions = installedQemus();
  if (versions.length === 0) {
    console.log(`BENCH ${JSON.stringify({ name: 'guest', skipped: 'no QEMU 7.2 or 10.0 installed' })}`);
    return;
  }
  if (spawnSync('ip', ['netns', 'add', `nicmig-bench-${process.pid}`]).status !== 0) {
    console.log(`BENCH ${JSON.stringify({ name: 'guest', skipped: 'cannot make network namespaces (needs root and iproute2)' })}`);
    return;
  }
  spawnSync('ip', ['netns', 'del', `nicmig-bench-${process.pid}`]);

  const kit = await loadGuestKit();
  const image = kit.guestImage();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-bench-guest-'));
  // nicmig's journals; BENCH_GUEST_STATE_DIR puts them elsewhere (on tmpfs: what the one fsync inside the downtime costs).
  const stateRoot = process.env.BENCH_GUEST_STATE_DIR ? fs.mkdtempSync(path.join(process.env.BENCH_GUEST_STATE_DIR, 'nicmig-bench-state-')) : dir;
  const fabric = new kit.GuestFabric(['hostA', 'hostB']);
  const guestConsole = await kit.GuestConsole.listen(path.join(dir, 'console.sock'));
  const records = [];
  const losses = [];
  let hosts = new Map();

  const killGuests = async () => {
    for (const host of hosts.values()) await host.stopVm(GUEST).catch(() => undefined);
  };
  // Interrupted: no QEMU, namespace or prober left behind (QEMU runs detached).
  const onSignal = () => {
    for (const host of ['hostA', 'hostB']) {
      try {
        process.kill(Number(fs.readFileSync(path.join(dir, host, `${GUEST}.pid`), 'utf8')), 'SIGKILL');
      } catch {
        // not running
      }
    }
    fabric.destroy();
    kit.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(stateRoot, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    for (const qemu of versions) {
      const stateDir = path.join(stateRoot, `state-${qemu.version}`);
      const qemuBinary = qemu.version === '7.2' && QEMU72_RAM === 'odd' ? kit.qemuWithGuestRamShort(dir, qemu.binary, MEMORY_MIB) : qemu.binary;
      if (qemuBinary !== qemu.binary) console.log(`bench/guest: QEMU 7.2 runs with the guest's RAM 8 KiB short of ${MEMORY_MIB} MiB (its TCG dirty-tracking bug; BENCH_GUEST_QEMU72_RAM=plain to run it as is)`);
      for (const rate of RATES) {
        const spec = kit.guestVmSpec({
          name: GUEST,
          image,
          address: `${kit.GUEST_SUBNET_PREFIX}.10/24`,
          mac: MAC,
          tap: fabric.tap,
          consoleArgs: guestConsole.qemuArgs(),
          memoryMiB: MEMORY_MIB,
          workingSetMiB: WORKING_SET_MIB,
          dirtyMiBPerSecond: rate,
          udpPort: UDP_PORT,
        });
        const hostEntry = (name) => ({ kind: 'qemu', migrationAddress: fabric.host(name).address, runDir: path.join(dir, name), qemuBinary, accel: 'tcg', netns: fabric.host(name).netns });
        const configFile = path.join(dir, `config-${qemu.version}-${rate}.yaml`);
        // JSON is YAML.
        fs.writeFileSync(configFile, JSON.stringify({ stateDir, hosts: { hostA: hostEntry('hostA'), hostB: hostEntry('hostB') }, vms: [spec] }));
        const inventory = loadInventory(configFile);
        hosts = new Map([...inventory.hosts.values()].map((config) => [config.name, new QemuHost(config, inventory.vms)]));

        let where = 'hostA';
        let booted;
        const boot = async () => {
          await killGuests();
          const ready = guestConsole.waitFor('ready', 180_000, 'guest agent ready (boot)');
          const started = performance.now();
          (await hosts.get('hostA').startVm(GUEST, { paused: false, incoming: false })).monitor.disconnect();
          await ready;
          where = 'hostA';
          booted = await guestConsole.request('status');
          console.log(`bench/guest: QEMU ${qemu.version}, ${rate} MiB/s: guest booted in ${Math.round(performance.now() - started)} ms`);
          // The workload's rate as the guest reaches it under TCG here.
          await sleep(2000);
          const later = await guestConsole.request('status');
          const achieved = ((later.generation - booted.generation) * 4096) / (1 << 20) / ((later.uptimeMs - booted.uptimeMs) / 1000);
          console.log(`  workload: asked ${rate} MiB/s, reached ${achieved.toFixed(1)} MiB/s over ${WORKING_SET_MIB} MiB`);
        };
        await boot();

        for (let run = 0; run < RUNS; run++) {
          // Each driver first as often as the others: the order turns every run.
          const order = DRIVERS.map((_, i) => DRIVERS[(i + run) % DRIVERS.length]);
          for (const driver of order) {
            const to = where === 'hostA' ? 'hostB' : 'hostA';
            const record = { qemu: qemu.version, rate, driver, run, hop: `${where} -> ${to}` };
            records.push(record);
            let prober;
            let stage = 'verify before';
            const consoleMark = guestConsole.log.length;
            try {
              const before = await guestConsole.request('verify', 60_000);
              stage = 'migrate';
              await sleep(1500);
              prober = await fabric.startProber(image.prober, `${kit.GUEST_SUBNET_PREFIX}.10`, UDP_PORT, PROBE_HZ);
              if (driver === 'minimal') {
                const source = await hosts.get(where).connectVm(GUEST);
                const machineType = await source.queryMachineType();
                Object.assign(record, await minimalMigration({ source, destinationHost: hosts.get(to), vm: GUEST, address: fabric.host(to).address, downtimeLimitMs: LIMIT_MS, autoConverge: true, machineType }));
              } else {
                const result = await nicmigMigrate(configFile, to, driver === 'nicmig fixed' ? 'fixed' : 'steps');
                const s = result.summary;
                if (result.code !== 0 || s?.status !== 'migrated') throw new Error(`nicmig migrate exit ${result.code} (${s?.status}): ${s?.error?.message ?? result.stderr.slice(-500)}`);
                Object.assign(record, {
                  measuredDowntimeMs: s.measuredDowntimeMs,
                  downtimeMs: s.downtimeMs,
                  orchestratorDowntimeMs: s.orchestratorDowntimeMs,
                  windows: s.orchestratorWindowsMs,
                  totalTimeMs: s.totalTimeMs,
                  passes: s.passes,
                  limits: s.downtimePolicy?.steps.map((step) => step.limitMs),
                  overheadMs: s.downtimePolicy?.overheadMs,
                });
              }
              where = to;
              record.migrated = true;
              stage = 'after the migration';
              // The guest answers from the destination once the fabric moved its MAC there.
              const port = fabric.host(to).fabricPort;
              const deadline = Date.now() + 10_000;
              while (fabric.fabricPortOf(MAC) !== port && Date.now() < deadline) await sleep(10);
              record.fabricMoved = fabric.fabricPortOf(MAC) === port;
              await sleep(300);
              const probe = await prober.stop();
              prober = undefined;
              Object.assign(record, { longestGapMs: probe.longestGapMs, lost: probe.lost, longestLossRun: probe.longestLossRun, duplicates: probe.duplicates });
              stage = 'verify after';
              const after = await guestConsole.request('verify', 60_000);
              const intact = after.boot === booted.boot && after.uptimeMs > before.uptimeMs && after.memory === after.sum && after.expected === after.sum;
              if (!intact) throw new Error(`the guest did not keep running intact: boot ${after.boot} (was ${booted.boot}), memory ${after.memory}/${after.expected}/${after.sum}`);
              record.ok = true;
            } catch (error) {
              record.ok = false;
              record.problem = `${stage}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
              // What the guest printed since (a kernel oops, if it crashed): its last lines.
              const printed = guestConsole.log.slice(consoleMark).split('\n').filter((line) => /\S/.test(line));
              record.console = printed.filter((line) => /RIP|panic|BUG|Oops|fault/i.test(line)).slice(0, 3).join(' | ') || printed.slice(-2).join(' | ');
              losses.push(record);
              await prober?.stop().catch(() => undefined);
              console.log(`  ${qemu.version} ${rate} MiB/s ${driver} run ${run + 1}: ${record.problem}${record.console ? `; the guest printed: ${record.console}` : ''}`);
              await boot();
              continue;
            }
            console.log(`  ${JSON.stringify(record)}`);
          }
        }
        await killGuests();
      }
    }
  } finally {
    await killGuests();
    await guestConsole.close();
    fabric.destroy();
    kit.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(stateRoot, { recursive: true, force: true });
  }

  // QEMU's and the driver's figures count for every migration that completed; the probes'
  // only where the guest kept running intact (a crashed guest answers no probe at all).
  const metrics = [
    ['STOP -> RESUME', 'measuredDowntimeMs', 'ms', 'migrated'],
    ["QEMU's downtime", 'downtimeMs', 'ms', 'migrated'],
    ['longest probe gap', 'longestGapMs', 'ms', 'ok'],
    ['probes lost', 'lost', 'probes', 'ok'],
    ['longest run of lost probes', 'longestLossRun', 'probes', 'ok'],
    ['in-downtime time', 'orchestratorDowntimeMs', 'ms', 'migrated'],
    ['total time', 'totalTimeMs', 'ms', 'migrated'],
    ['passes', 'passes', '', 'migrated'],
  ];
  const all = (version, rate, driver) => records.filter((r) => r.qemu === version && r.rate === rate && r.driver === driver);
  const lines = [];
  const rows = [];
  for (const qemu of versions) {
    for (const rate of RATES) {
      lines.push(`\nQEMU ${qemu.version}, workload ${rate} MiB/s over ${WORKING_SET_MIB} MiB, limit ${LIMIT_MS} ms, medians`);
      lines.push(`| metric | ${DRIVERS.join(' | ')} |`, `|---|${DRIVERS.map(() => '---:').join('|')}|`);
      const medians = new Map(DRIVERS.map((driver) => [driver, Object.fromEntries(metrics.map(([, key, , among]) => [key, median(all(qemu.version, rate, driver).filter((r) => r[among]).map((r) => r[key]))]))]));
      for (const [label, key, unit] of metrics) lines.push(`| ${label}${unit ? ` (${unit})` : ''} | ${DRIVERS.map((d) => round(medians.get(d)[key], 2) ?? '-').join(' | ')} |`);
      lines.push(`| migrated / runs | ${DRIVERS.map((d) => `${all(qemu.version, rate, d).filter((r) => r.migrated).length}/${all(qemu.version, rate, d).length}`).join(' | ')} |`);
      lines.push(`| guest intact after / migrated | ${DRIVERS.map((d) => `${all(qemu.version, rate, d).filter((r) => r.ok).length}/${all(qemu.version, rate, d).filter((r) => r.migrated).length}`).join(' | ')} |`);
      const steps = all(qemu.version, rate, 'nicmig steps')
        .filter((r) => r.migrated)
        .map((r) => `${(r.limits ?? []).join('>')}${r.overheadMs ? ` (-${r.overheadMs})` : ''}`);
      lines.push(`limits QEMU got under steps, per run (ms; overhead subtracted): ${steps.join(', ') || '-'}`);
      const windows = (driver, part) => round(median(all(qemu.version, rate, driver).filter((r) => r.migrated && r.windows).map((r) => r.windows[part])), 2);
      lines.push(`in-downtime time, pre-switchover -> device + completed -> RESUME (medians, ms): ${DRIVERS.map((d) => `${d} ${windows(d, 'switchover')} + ${windows(d, 'resume')}`).join('; ')}`);
      const base = medians.get('minimal');
      for (const driver of DRIVERS) {
        for (const [label, key, unit] of metrics.filter(([, key]) => ['measuredDowntimeMs', 'longestGapMs', 'orchestratorDowntimeMs', 'totalTimeMs'].includes(key))) {
          const value = medians.get(driver)[key];
          const baseline = driver === 'minimal' ? null : base[key];
          rows.push({
            metric: `QEMU ${qemu.version}, ${rate} MiB/s, ${driver}: ${label}`,
            value: round(value, 2),
            unit,
            ...(baseline ? { baseline: round(baseline, 2), ratio: value === null ? null : round(value / baseline, 3) } : {}),
          });
        }
      }
    }
  }
  console.log(lines.join('\n'));
  if (losses.length > 0) {
    console.log(`\nruns that failed or did not leave the guest running intact: ${losses.length}`);
    for (const r of losses) console.log(`  QEMU ${r.qemu}, ${r.rate} MiB/s, ${r.driver}, run ${r.run + 1} (${r.hop}): ${r.problem}${r.console ? `; the guest printed: ${r.console}` : ''}`);
  }
  console.log(`BENCH ${JSON.stringify({ name: 'guest', rows })}`);
}

await main();
