#!/usr/bin/env node
// Runs the jest suites whose path matches a pattern n times in a row, to hunt a flaky test:
//
//   npm run test:repeat -- <pattern> <n> [--keep-going] [--no-build] [-- <jest options>]
//
// e.g. `npm run test:repeat -- test/sim/conformance 10 --keep-going -- -t 'migrate_cancel'`.
// Builds once first (the e2e suites run the built CLI), unless --no-build. Stops at the first
// failing run unless --keep-going, which runs all n and counts. Prints one line per run and a
// closing summary; each run's whole jest output is kept in a log file, named on the line of a
// failed run. Exits 0 only when every run passed.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const usage = 'usage: npm run test:repeat -- <pattern> <n> [--keep-going] [--no-build] [-- <jest options, e.g. -t NAME>]';

const args = process.argv.slice(2);
const split = args.indexOf('--');
const own = split >= 0 ? args.slice(0, split) : args;
const jestOptions = split >= 0 ? args.slice(split + 1) : [];
const flags = new Set(own.filter((a) => a.startsWith('-')));
const positional = own.filter((a) => !a.startsWith('-'));
for (const flag of flags) {
  if (flag !== '--keep-going' && flag !== '--no-build') fail(`unknown option ${flag}`);
}
if (positional.length !== 2) fail('expected a test path pattern and a number of runs');
const [pattern, countText] = positional;
const count = Number(countText);
if (!Number.isInteger(count) || count < 1) fail(`the number of runs must be a positive integer, got '${countText}'`);

function fail(message) {
  process.stderr.write(`test:repeat: ${message}\n${usage}\n`);
  process.exit(2);
}

const jestBin = path.join(root, 'node_modules', 'jest', 'bin', 'jest.js');
const env = { ...process.env, NODE_OPTIONS: [process.env.NODE_OPTIONS, '--experimental-vm-modules'].filter(Boolean).join(' ') };

const listed = spawnSync(process.execPath, [jestBin, '--listTests', '--testPathPatterns', pattern], { cwd: root, env, encoding: 'utf8' });
const suites = listed.stdout.split('\n').filter((line) => line.trim() !== '');
if (listed.status !== 0 || suites.length === 0) fail(`no test suite matches '${pattern}'${listed.stderr ? `\n${listed.stderr}` : ''}`);
process.stdout.write(`${jestOptions.length > 0 ? `jest options: ${jestOptions.join(' ')}\n` : ''}${suites.length} suite(s) match '${pattern}':\n${suites.map((s) => `  ${path.relative(root, s)}`).join('\n')}\n`);

if (!flags.has('--no-build')) {
  process.stdout.write('building (npm run build) ...\n');
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (build.status !== 0) fail('npm run build failed');
}

const logDir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-test-repeat-${process.pid}-`));

/** One jest run; resolves with its exit code, its duration and the names of the failed tests. */
function runOnce(index) {
  const log = path.join(logDir, `run-${index}.log`);
  const results = path.join(logDir, `run-${index}.json`);
  const out = fs.openSync(log, 'w');
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [jestBin, '--testPathPatterns', pattern, ...jestOptions, '--json', '--outputFile', results], { cwd: root, env, stdio: ['ignore', out, out] });
    // Ctrl-C reaches jest through the process group; wait for it to end all the same.
    child.on('exit', (code, signal) => {
      fs.closeSync(out);
      const seconds = (performance.now() - started) / 1000;
      let summary = { passed: 0, failed: 0, failedNames: [] };
      try {
        const document = JSON.parse(fs.readFileSync(results, 'utf8'));
        const failedNames = document.testResults.flatMap((suite) => {
          const names = suite.assertionResults.filter((t) => t.status === 'failed').map((t) => `${path.relative(root, suite.name)}: ${t.fullName}`);
          // a suite that failed outside any test (did not compile, beforeAll threw)
          return names.length === 0 && suite.status === 'failed' ? [`${path.relative(root, suite.name)}: ${suite.message.split('\n').find((l) => l.trim() !== '') ?? 'suite failed'}`] : names;
        });
        summary = { passed: document.numPassedTests, failed: document.numFailedTests, failedNames };
      } catch {
        // no results file: jest itself failed; the log says why
      }
      resolve({ code: code ?? -1, signal, seconds, log, ...summary });
    });
  });
}

const outcomes = [];
for (let index = 1; index <= count; index++) {
  const outcome = await runOnce(index);
  outcomes.push(outcome);
  const ok = outcome.code === 0;
  const tests = `${outcome.passed} test(s) passed, ${outcome.failed} failed`;
  process.stdout.write(`run ${index}/${count}: ${ok ? 'passed' : 'FAILED'} in ${outcome.seconds.toFixed(1)} s (${tests})\n`);
  if (!ok) {
    for (const name of outcome.failedNames) process.stdout.write(`  failed: ${name}\n`);
    if (outcome.signal) process.stdout.write(`  jest ended by ${outcome.signal}\n`);
    process.stdout.write(`  jest output: ${outcome.log}\n`);
    if (!flags.has('--keep-going')) break;
  }
}

const passed = outcomes.filter((o) => o.code === 0).length;
const failed = outcomes.length - passed;
const seconds = outcomes.map((o) => o.seconds);
const notRun = count - outcomes.length;
process.stdout.write(
  `\n${passed} passed, ${failed} failed${notRun > 0 ? `, ${notRun} not run (stopped at the first failure; --keep-going runs them all)` : ''}` +
    ` ('${pattern}', runs of ${Math.min(...seconds).toFixed(1)}-${Math.max(...seconds).toFixed(1)} s)${failed > 0 ? `; logs in ${logDir}` : ''}\n`,
);
if (failed === 0) fs.rmSync(logDir, { recursive: true, force: true });
process.exit(failed === 0 ? 0 : 1);
