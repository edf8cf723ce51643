#!/usr/bin/env node
// Writes the admin-queue capture fixtures (fixtures/captures/*.cap) from the documented
// layouts, through the compiled PF model. Run `npm run build` first.
//   node scripts/build-captures.js [output-dir]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { buildFixtureCaptures } = await import(join(root, 'dist/vfio/sample-captures.js'));
const outDir = resolve(process.argv[2] ?? join(root, 'fixtures/captures'));
mkdirSync(outDir, { recursive: true });
for (const [name, bytes] of Object.entries(buildFixtureCaptures())) {
  writeFileSync(join(outDir, name), bytes);
  process.stdout.write(`${join(outDir, name)}  ${bytes.length} bytes\n`);
}
