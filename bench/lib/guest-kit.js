// The real-guest kit of the tests (test/helpers/guest/, TypeScript) for a benchmark, which
// runs as plain JavaScript: the kit is copied to a temporary directory and its .ts files
// transpiled beside their sources (TypeScript's transpileModule; the kit imports only Node's
// own modules and types). The image cache is the tests' (tmp/guest-cache): the copy hashes
// the same sources, so a guest built by the tests is reused and the other way round.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const KIT = path.join(ROOT, 'test', 'helpers', 'guest');

export async function loadGuestKit() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-guest-kit-'));
  fs.writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}\n');
  for (const file of fs.readdirSync(KIT)) {
    const source = path.join(KIT, file);
    fs.copyFileSync(source, path.join(dir, file));
    if (!file.endsWith('.ts')) continue;
    const { outputText } = ts.transpileModule(fs.readFileSync(source, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      fileName: file,
    });
    fs.writeFileSync(path.join(dir, file.replace(/\.ts$/, '.js')), outputText);
  }
  process.env.NICMIG_GUEST_CACHE ??= path.join(ROOT, 'tmp', 'guest-cache');
  const load = (name) => import(pathToFileURL(path.join(dir, `${name}.js`)).href);
  const [image, console, network, vm] = await Promise.all([load('image'), load('console'), load('network'), load('vm')]);
  return { ...image, ...console, ...network, ...vm, dispose: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
