import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';

/** Every stable error code raised in src/ is documented in docs/exit-codes.md. */
function codesInSource(dir: string, found = new Set<string>()): Set<string> {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      codesInSource(file, found);
      continue;
    }
    if (!file.endsWith('.ts')) continue;
    const text = fs.readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:Error|super)\(\s*'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)'/g)) found.add(match[1] as string);
    for (const union of text.matchAll(/type \w*ErrorCode\s*=([^;]+);/g)) {
      for (const code of (union[1] as string).matchAll(/'([A-Z][A-Z0-9_]+)'/g)) found.add(code[1] as string);
    }
  }
  return found;
}

describe('error codes', () => {
  it('are all documented in docs/exit-codes.md', () => {
    const docs = fs.readFileSync(path.join(process.cwd(), 'docs', 'exit-codes.md'), 'utf8');
    const codes = [...codesInSource(path.join(process.cwd(), 'src'))];
    expect(codes.length).toBeGreaterThan(30);
    expect(codes.filter((code) => !docs.includes(`\`${code}\``))).toEqual([]);
  });
});
