#!/usr/bin/env node
// A longer fuzz run on demand, over the same targets CI runs briefly (test/unit/fuzz):
//   npm run fuzz -- --runs 20000                 a fresh random seed, printed first
//   npm run fuzz -- --runs 20000 --seed 1234     replay a run (a failure prints its seed and path)
//   npm run fuzz -- --runs 5000 --target qmp     one target: capture, inventory, journal, qmp
// Property of every target: no crash, no hang (a per-input time bound), a typed error every time.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TARGETS = ['capture', 'inventory', 'journal', 'qmp'];

function usage(message) {
  process.stderr.write(`${message}\nusage: npm run fuzz -- --runs N [--seed S] [--target ${TARGETS.join('|')}]... [--per-input-ms MS]\n`);
  process.exit(2);
}

const options = { runs: 10_000, seed: undefined, targets: [], perInputMs: undefined };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const flag = argv[i];
  const value = argv[i + 1];
  const integer = (name) => {
    if (value === undefined || !/^-?\d+$/.test(value)) usage(`${flag} takes an integer (${name})`);
    i++;
    return Number(value);
  };
  if (flag === '--runs') options.runs = integer('how many inputs per property');
  else if (flag === '--seed') options.seed = integer('the seed to replay');
  else if (flag === '--per-input-ms') options.perInputMs = integer('the time bound of one input');
  else if (flag === '--target') {
    if (!TARGETS.includes(value)) usage(`--target takes one of ${TARGETS.join(', ')}`);
    options.targets.push(value);
    i++;
  } else usage(`unknown argument '${flag}'`);
}
if (options.runs < 1) usage('--runs must be at least 1');
const seed = options.seed ?? crypto.randomInt(0, 2 ** 31 - 1);
const targets = options.targets.length > 0 ? options.targets : TARGETS;

process.stdout.write(`fuzz: seed ${seed}, ${options.runs} runs per property, targets ${targets.join(', ')}\n`);
process.stdout.write(`fuzz: replay with  npm run fuzz -- --runs ${options.runs} --seed ${seed}${options.targets.map((t) => ` --target ${t}`).join('')}\n`);
const result = spawnSync(
  process.execPath,
  [
    path.join(root, 'node_modules', 'jest', 'bin', 'jest.js'),
    // The paths first: --selectProjects would take them as project names.
    ...targets.map((target) => `test/unit/fuzz/${target}.test.ts`),
    '--selectProjects',
    'unit',
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: {
      ...process.env,
      NODE_OPTIONS: [process.env.NODE_OPTIONS, '--experimental-vm-modules'].filter(Boolean).join(' '),
      NICMIG_FUZZ_SEED: String(seed),
      NICMIG_FUZZ_RUNS: String(options.runs),
      ...(options.perInputMs === undefined ? {} : { NICMIG_FUZZ_PER_INPUT_MS: String(options.perInputMs) }),
    },
  },
);
process.stdout.write(`fuzz: seed ${seed} ${result.status === 0 ? 'passed' : 'FAILED'}\n`);
process.exit(result.status ?? 1);
