import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ALLOWED_IMPORTS, PORT_FILES, collectImports, findFolderCycles, folderOf, forbiddenImports } from './imports.js';

/**
 * The folders of src/ and the imports allowed between them (docs/architecture.md, "Folders
 * and their imports"): no folder reaches one that reaches it back, and the domain's types
 * (src/inventory) sit below everything. The one upward arrow: host adapters implement the
 * orchestrator's port (src/migration/ports.ts).
 */

const SRC = path.resolve('src');

describe('the folders of src/ and their imports', () => {
  const imports = collectImports(SRC);

  it('reads every source file (the check cannot pass by reading nothing)', () => {
    expect(imports.length).toBeGreaterThan(300);
    expect(new Set(imports.map((i) => folderOf(SRC, i.from))).size).toBeGreaterThanOrEqual(9);
  });

  it('has no cycle between folders', () => {
    expect(findFolderCycles(SRC, imports)).toEqual([]);
  });

  it('has no import the drawing forbids', () => {
    expect(forbiddenImports(SRC, imports)).toEqual([]);
  });

  it('knows every folder of src/, and the drawing in docs/architecture.md matches the table', () => {
    const folders = fs
      .readdirSync(SRC, { withFileTypes: true })
      .map((entry) => (entry.isDirectory() ? entry.name : entry.name.replace(/\.ts$/, '')))
      .sort();
    expect(folders).toEqual(Object.keys(ALLOWED_IMPORTS).sort());
    const doc = fs.readFileSync('docs/architecture.md', 'utf8');
    for (const [folder, allowed] of Object.entries(ALLOWED_IMPORTS)) {
      const line = `| ${folder} | ${allowed.length === 0 ? '(nothing)' : allowed.join(', ')} |`;
      expect(doc).toContain(line);
    }
    for (const file of PORT_FILES) expect(doc).toContain(file);
  });

  it('catches a forbidden import and a cycle when one is made (the check can fail)', () => {
    const bad = [
      { from: path.join(SRC, 'qmp/client.ts'), to: path.join(SRC, 'migration/orchestrator.ts') },
      { from: path.join(SRC, 'hosts/qemu-host.ts'), to: path.join(SRC, 'migration/orchestrator.ts') },
      { from: path.join(SRC, 'inventory/vm-spec.ts'), to: path.join(SRC, 'hosts/hosts.ts') },
      { from: path.join(SRC, 'hosts/hosts.ts'), to: path.join(SRC, 'inventory/vm-spec.ts') },
    ];
    expect(forbiddenImports(SRC, bad).map((b) => `${b.from} -> ${b.to}`)).toEqual([
      'qmp/client.ts -> migration/orchestrator.ts',
      'hosts/qemu-host.ts -> migration/orchestrator.ts',
      'inventory/vm-spec.ts -> hosts/hosts.ts',
    ]);
    expect(findFolderCycles(SRC, bad)).toEqual([['hosts', 'inventory', 'hosts']]);
  });
});
