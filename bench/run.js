// Runs every benchmark (bench/<name>/index.js) one after another and prints one table of
// their figures and ratios against the baselines each measured in the same run.
// `npm run bench` builds first; a single one: `node bench/run.js qmp`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const only = process.argv.slice(2);
const names = fs
  .readdirSync(here, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(here, entry.name, 'index.js')))
  .map((entry) => entry.name)
  .filter((name) => only.length === 0 || only.includes(name))
  .sort();

const results = [];
let failed = false;
for (const name of names) {
  process.stderr.write(`\n== bench/${name}\n`);
  const run = spawnSync(process.execPath, [path.join(here, name, 'index.js')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  process.stderr.write(run.stdout);
  const line = run.stdout.split('\n').reverse().find((l) => l.startsWith('BENCH '));
  if (run.status !== 0 || !line) {
    failed = true;
    results.push({ name, error: `exit ${run.status}` });
    continue;
  }
  results.push(JSON.parse(line.slice('BENCH '.length)));
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`\nnicmig benchmarks, ${new Date().toISOString()}, node ${process.version}, ${os.cpus().length} x ${cpu}\n`);
console.log(`| bench | metric | value | unit | baseline | ratio |`);
console.log(`|---|---|---:|---|---:|---:|`);
for (const result of results) {
  if (result.error || result.skipped) {
    console.log(`| ${result.name} | ${result.error ?? `skipped: ${result.skipped}`} | | | | |`);
    continue;
  }
  for (const row of result.rows) {
    console.log(`| ${result.name} | ${row.metric} | ${row.value} | ${row.unit} | ${row.baseline ?? ''} | ${row.ratio ?? ''} |`);
  }
}
process.exitCode = failed ? 1 : 0;
