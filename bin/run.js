#!/usr/bin/env node
// Fast paths that answer without loading oclif (most of the CLI's start-up time), for what
// scripts and ansible tasks call often:
// - `nicmig --version`;
// - `nicmig <command> --help` when stdout is not a terminal: the page oclif rendered at build
//   time for that case (scripts/build-help-cache.js; a test keeps them equal).
// Everything else, and any terminal, goes through oclif.
const args = process.argv.slice(2);
const fast = await fastPath(args);
if (!fast) {
  const { execute } = await import('@oclif/core');
  await execute({ dir: import.meta.url });
}

async function fastPath(argv) {
  if (argv.length === 1 && argv[0] === '--version') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    process.stdout.write(`${pkg.name}/${pkg.version} ${process.platform}-${process.arch} node-${process.version}\n`);
    return true;
  }
  const last = argv[argv.length - 1];
  if (argv.length < 2 || last !== '--help' || process.stdout.isTTY) return false;
  if (process.env.NICMIG_NO_HELP_CACHE || process.env.OCLIF_COLUMNS || process.env.FORCE_COLOR) return false;
  const words = argv.slice(0, -1);
  if (!words.every((word) => /^[a-z][a-z0-9-]*$/.test(word))) return false;
  const { readFileSync } = await import('node:fs');
  try {
    process.stdout.write(readFileSync(new URL(`../dist/help-cache/${words.join(':')}.txt`, import.meta.url), 'utf8'));
    return true;
  } catch {
    return false;
  }
}
