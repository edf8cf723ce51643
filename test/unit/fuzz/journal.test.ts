import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import { JournalError, MigrationJournal, readJournal } from '../../../src/migration/journal.js';
import { bounded, FUZZ_TEST_TIMEOUT_MS, fuzzParameters, inputs } from './fuzz.js';

jest.setTimeout(FUZZ_TEST_TIMEOUT_MS);

describe('fuzz: the journal reader', () => {
  let dir: string;
  let seeds: Buffer[];
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-fuzz-journal-${process.pid}-`));
    // A real journal, as a migration writes it: the seed the mutations start from. Its clock
    // is fixed, so that the same fuzz seed makes the same inputs on every run.
    jest.useFakeTimers({ now: Date.UTC(2026, 11, 1), doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'queueMicrotask', 'hrtime', 'performance'] });
    const journal = MigrationJournal.begin(path.join(dir, 'seed'), 'vm1-2026-12-01T00-00-00-000Z', { vm: 'vm1', from: 'hostA', to: 'hostB' });
    journal.append('destination-starting', { host: 'hostB' });
    journal.append('destination-started', { endpoint: 'unix:/run/b/vm1.qmp', pid: 4242 });
    journal.append('precopy-starting', { uri: 'tcp:[::1]:49152' });
    journal.append('switchover', {});
    journal.append('migration-completed', { status: 'completed' });
    journal.append('destination-resuming', {});
    journal.close();
    jest.useRealTimers();
    seeds = [fs.readFileSync(journal.file)];
    expect(seeds[0]?.toString()).toContain('"time":"2026-12-01T00:00:00.000Z"');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('never crashes or hangs on mutated and random journals: records, or a JournalError', () => {
    const file = path.join(dir, 'fuzzed.journal');
    fc.assert(
      fc.property(inputs(seeds, 2048), (bytes) => {
        fs.writeFileSync(file, bytes);
        bounded(() => readJournal(file), [JournalError]);
      }),
      fuzzParameters(400),
    );
  });
});
