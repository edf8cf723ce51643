import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';

const root = path.resolve(import.meta.dirname, '../..');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every `class X extends Y` in src/, as X -> Y. */
function classParents(): Map<string, { parent: string; file: string }> {
  const parents = new Map<string, { parent: string; file: string }>();
  for (const file of sourceFiles(path.join(root, 'src'))) {
    for (const match of fs.readFileSync(file, 'utf8').matchAll(/\bclass\s+(\w+)\s+extends\s+(\w+)/g)) {
      parents.set(match[1] as string, { parent: match[2] as string, file: path.relative(root, file) });
    }
  }
  return parents;
}

/** The tree drawn in the doc comment of src/errors.ts: each class with its drawn parent. */
function drawnTree(): Map<string, string> {
  const text = fs.readFileSync(path.join(root, 'src/errors.ts'), 'utf8');
  const comment = text.slice(text.indexOf('/**'), text.indexOf('*/'));
  const tree = new Map<string, string>();
  const stack: string[] = [];
  let rootColumn = -1;
  for (const line of comment.split('\n')) {
    const match = /^ \*[ │├└─]*?(\w+Error)\b/.exec(line);
    if (!match) continue;
    const name = match[1] as string;
    const column = line.indexOf(name);
    if (rootColumn < 0) rootColumn = column;
    // Each level of the drawing indents by four columns.
    const level = (column - rootColumn) / 4;
    stack.length = level;
    tree.set(name, stack.at(-1) ?? '');
    stack.push(name);
  }
  return tree;
}

describe('the error hierarchy drawn in src/errors.ts', () => {
  it('lists every class that extends NicmigError, under its real parent', () => {
    const parents = classParents();
    const descendsFromNicmig = (name: string): boolean => {
      for (let current = parents.get(name); current; current = parents.get(current.parent)) {
        if (current.parent === 'NicmigError') return true;
      }
      return false;
    };
    const errors = [...parents.keys()].filter(descendsFromNicmig).sort();
    expect(errors.length).toBeGreaterThan(10);
    const drawn = drawnTree();
    const missing = errors.filter((name) => !drawn.has(name)).map((name) => `${name} (${parents.get(name)?.file})`);
    expect(missing).toEqual([]);
    for (const name of errors) expect(`${name} under ${drawn.get(name)}`).toBe(`${name} under ${parents.get(name)?.parent}`);
    // Nothing drawn that does not exist.
    expect([...drawn.keys()].filter((name) => name !== 'NicmigError' && !parents.has(name))).toEqual([]);
  });
});
