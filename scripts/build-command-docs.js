#!/usr/bin/env node
// Writes docs/commands.md from the commands themselves (`oclif readme`), so the reference
// cannot drift from --help. Run `npm run build` first: oclif reads the built commands.
//   node scripts/build-command-docs.js            rewrite docs/commands.md
//   node scripts/build-command-docs.js --check    exit 1 (and show a diff) when it is stale
//   node scripts/build-command-docs.js --stdout   print what it would write
// Only the <!-- commands --> marker is filled: oclif's <!-- usage -->
// section prints this machine's platform and Node version, which would differ per machine.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(root, 'docs', 'commands.md');
const require = createRequire(import.meta.url);
const oclifBin = path.join(path.dirname(require.resolve('oclif/package.json')), 'bin', 'run.js');

/** The hand-written part; oclif fills in between the markers. */
const TEMPLATE = `# Command reference

Generated from the commands' own help by \`oclif readme\` (\`npm run docs\`, i.e.
\`node scripts/build-command-docs.js\`); do not edit by hand. \`test/e2e/docs.test.ts\` fails
when this file differs from what the built commands print. The operator guide
(\`docs/operator-guide.md\`) explains when to use which; exit codes are in
\`docs/exit-codes.md\`.

<!-- commands -->
<!-- commandsstop -->
`;

/** What docs/commands.md should contain, generated from the built commands. */
export function generateCommandDocs() {
  if (!fs.existsSync(path.join(root, 'dist', 'commands'))) throw new Error('no dist/commands: run `npm run build` first');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-command-docs-'));
  try {
    const file = path.join(work, 'commands.md');
    fs.writeFileSync(file, TEMPLATE);
    execFileSync(process.execPath, [oclifBin, 'readme', '--readme-path', file, '--no-source-links', '--no-aliases'], {
      cwd: root,
      // Fixed width and no colour, so every machine and terminal writes the same bytes.
      env: { ...process.env, COLUMNS: '100', NO_COLOR: '1', FORCE_COLOR: '0', OCLIF_SKIP_UPDATE_CHECK: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    return fs.readFileSync(file, 'utf8');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const mode = process.argv[2];
  const generated = generateCommandDocs();
  if (mode === '--stdout') {
    process.stdout.write(generated);
  } else if (mode === '--check') {
    const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
    if (current !== generated) {
      process.stderr.write(`${path.relative(root, target)} is stale: run \`npm run build && npm run docs\`\n`);
      process.exitCode = 1;
    } else {
      process.stdout.write(`${path.relative(root, target)} is up to date\n`);
    }
  } else {
    fs.writeFileSync(target, generated);
    process.stdout.write(`wrote ${path.relative(root, target)}\n`);
  }
}
