#!/usr/bin/env node
// Renders every command's --help once, at build time, exactly as oclif prints it when stdout
// is not a terminal (80 columns, no colour), into dist/help-cache/<command id>.txt, so that
// bin/run.js can answer `nicmig <command> --help` in scripts without loading oclif.
// test/e2e/help-cache.test.ts checks every cached page against oclif's live output.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'oclif.manifest.json'), 'utf8'));
const out = path.join(root, 'dist', 'help-cache');
fs.mkdirSync(out, { recursive: true });
const env = { ...process.env, NICMIG_NO_HELP_CACHE: '1' };
delete env.OCLIF_COLUMNS;
delete env.FORCE_COLOR;
const ids = Object.keys(manifest.commands);
for (const id of ids) {
  const text = execFileSync(process.execPath, [path.join(root, 'bin', 'run.js'), ...id.split(':'), '--help'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  fs.writeFileSync(path.join(out, `${id}.txt`), text);
}
console.log(`help cache: ${ids.length} commands in ${path.relative(root, out)}`);
