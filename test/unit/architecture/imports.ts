import fs from 'node:fs';
import path from 'node:path';

/**
 * The imports each folder (or top-level file) of src/ may make, besides its own files. Kept
 * with its drawing in docs/architecture.md; the test compares the two.
 */
export const ALLOWED_IMPORTS: Record<string, string[]> = {
  errors: [],
  inventory: ['errors'],
  qmp: ['errors', 'inventory'],
  vfio: ['errors', 'inventory', 'qmp'],
  sim: ['errors', 'inventory', 'qmp', 'vfio'],
  migration: ['errors', 'inventory', 'qmp', 'vfio'],
  hosts: ['errors', 'inventory', 'migration', 'qmp', 'sim'],
  ui: ['errors', 'inventory', 'migration', 'sim'],
  lab: ['errors', 'hosts', 'inventory', 'migration', 'qmp', 'sim', 'ui', 'vfio'],
  'base-command': ['errors', 'ui'],
  commands: ['base-command', 'errors', 'hosts', 'inventory', 'lab', 'migration', 'qmp', 'sim', 'ui', 'vfio'],
};

/** The one upward arrow: adapters in hosts/ implement the port the orchestrator defines. */
export const PORT_FILES = ['migration/ports.ts'];
const PORT_USERS = ['hosts'];

export interface Import {
  from: string;
  to: string;
}

/** Every relative import (static, dynamic, `export ... from`) of every .ts file under `root`. */
export function collectImports(root: string): Import[] {
  const imports: Import[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.ts')) {
        const text = fs.readFileSync(file, 'utf8');
        for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)) {
          const target = path.resolve(path.dirname(file), (match[1] as string).replace(/\.js$/, '.ts'));
          imports.push({ from: file, to: target });
        }
      }
    }
  };
  walk(root);
  return imports;
}

/** The folder of src/ a file belongs to (a top-level file is its own unit, without .ts). */
export function folderOf(root: string, file: string): string {
  const [first] = path.relative(root, file).split(path.sep);
  return (first ?? '').replace(/\.ts$/, '');
}

export function forbiddenImports(root: string, imports: readonly Import[]): Import[] {
  const bad: Import[] = [];
  for (const { from, to } of imports) {
    const source = folderOf(root, from);
    const target = folderOf(root, to);
    if (source === target) continue;
    const allowed = ALLOWED_IMPORTS[source]?.includes(target) ?? false;
    const port = PORT_USERS.includes(source) && target === 'migration' ? PORT_FILES.includes(path.relative(root, to)) : true;
    if (!allowed || !port) bad.push({ from: path.relative(root, from), to: path.relative(root, to) });
  }
  return bad;
}

/** Cycles in the folder graph, each as its path from its smallest folder back to it. */
export function findFolderCycles(root: string, imports: readonly Import[]): string[][] {
  const edges = new Map<string, Set<string>>();
  for (const { from, to } of imports) {
    const a = folderOf(root, from);
    const b = folderOf(root, to);
    if (a === b) continue;
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a)?.add(b);
  }
  const cycles = new Map<string, string[]>();
  const visit = (node: string, trail: string[]) => {
    for (const next of edges.get(node) ?? []) {
      const at = trail.indexOf(next);
      if (at >= 0) {
        const cycle = trail.slice(at);
        const start = cycle.indexOf([...cycle].sort()[0] as string);
        const canonical = [...cycle.slice(start), ...cycle.slice(0, start)];
        cycles.set(canonical.join('>'), [...canonical, canonical[0] as string]);
      } else visit(next, [...trail, next]);
    }
  };
  for (const node of edges.keys()) visit(node, [node]);
  return [...cycles.values()];
}
