import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, jest } from '@jest/globals';
import { runCli } from '../helpers/cli.js';

jest.setTimeout(120_000);

const manifest = JSON.parse(fs.readFileSync(path.join(process.cwd(), 'oclif.manifest.json'), 'utf8')) as { commands: Record<string, unknown> };
const ids = Object.keys(manifest.commands);

describe('--help without loading oclif (bin/run.js fast path)', () => {
  it('has a cached page for every command', () => {
    expect(ids.length).toBeGreaterThan(10);
    for (const id of ids) expect(fs.existsSync(path.join(process.cwd(), 'dist', 'help-cache', `${id}.txt`))).toBe(true);
  });

  it.each(ids)('%s --help is byte for byte what oclif prints', async (id) => {
    const words = id.split(':');
    const cached = await runCli([...words, '--help']);
    const live = await runCli([...words, '--help'], { env: { NICMIG_NO_HELP_CACHE: '1' } });
    expect(live.code).toBe(0);
    expect(cached.code).toBe(0);
    expect(cached.stdout).toBe(live.stdout);
    expect(cached.stderr).toBe(live.stderr);
  });

  it('leaves anything else to oclif: an unknown command, and flags before --help', async () => {
    const unknown = await runCli(['no-such-command', '--help']);
    const unknownLive = await runCli(['no-such-command', '--help'], { env: { NICMIG_NO_HELP_CACHE: '1' } });
    expect([unknown.code, unknown.stdout, unknown.stderr]).toEqual([unknownLive.code, unknownLive.stdout, unknownLive.stderr]);
    const flagged = await runCli(['migrate', 'vm1', '--help']);
    expect(flagged.code).toBe(0);
    expect(flagged.stdout).toMatch(/USAGE/);
  });
});
