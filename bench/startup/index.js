#!/usr/bin/env node
// bench/startup: how long the CLI takes to start, against Node itself starting, measured in
// the same run: `nicmig --version` and `nicmig migrate --help` (the built bin/run.js, run with
// node) against `node -e 0`. Goal: under 2x node's own start-up. Wall-clock time of the whole
// process (spawn to exit), median of RUNS after one warm-up run each, runs interleaved so
// that a slow moment of the machine hits every command alike.
// Run after `npm run build`: node bench/startup/index.js [runs]
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RUNS = Number(process.argv[2] ?? 15);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'bin', 'run.js');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round1 = (x) => Math.round(x * 10) / 10;
const round2 = (x) => Math.round(x * 100) / 100;

const commands = [
  { metric: 'node -e 0', args: ['-e', '0'] },
  { metric: 'nicmig --version', args: [bin, '--version'] },
  { metric: 'nicmig migrate --help', args: [bin, 'migrate', '--help'] },
  // Not nicmig: the floor any oclif CLI pays, to tell nicmig's own cost from the framework's.
  { metric: 'import @oclif/core only', args: ['--input-type=module', '-e', "await import('@oclif/core')"] },
];

// Neither colour nor the terminal width nor an update check may vary between runs.
const env = { ...process.env, NO_COLOR: '1', COLUMNS: '100' };

function once(command) {
  const t0 = performance.now();
  const run = spawnSync(process.execPath, command.args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (run.status !== 0) throw new Error(`node ${command.args.join(' ')} exited ${run.status}: ${run.stderr}`);
  return ms;
}

for (const command of commands) once(command); // warm-up: the OS file cache
const times = new Map(commands.map((c) => [c.metric, []]));
for (let i = 0; i < RUNS; i++) for (const command of commands) times.get(command.metric).push(once(command));

const baseline = median(times.get('node -e 0'));
const rows = commands.map((command) => {
  const value = median(times.get(command.metric));
  return command.metric === 'node -e 0'
    ? { metric: command.metric, value: round1(value), unit: 'ms' }
    : { metric: command.metric, value: round1(value), unit: 'ms', baseline: round1(baseline), ratio: round2(value / baseline) };
});

console.log(`bench/startup: wall-clock time of a whole process, median of ${RUNS} runs, node ${process.version}`);
console.log(`  ${'command'.padEnd(28)} ${'median'.padStart(9)}  ${'min'.padStart(7)}  ${'max'.padStart(7)}   vs node -e 0`);
for (const row of rows) {
  const xs = times.get(row.metric);
  const vs = row.ratio === undefined ? '' : `x${row.ratio}${row.ratio > 2 ? '  (goal: under 2x)' : ''}`;
  console.log(`  ${row.metric.padEnd(28)} ${`${row.value} ms`.padStart(9)}  ${round1(Math.min(...xs)).toString().padStart(7)}  ${round1(Math.max(...xs)).toString().padStart(7)}   ${vs}`);
}
console.log(`BENCH ${JSON.stringify({ name: 'startup', rows })}`);
