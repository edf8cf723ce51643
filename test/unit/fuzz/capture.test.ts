import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import { parseCapture } from '../../../src/vfio/capture.js';
import { describeRecord } from '../../../src/vfio/describe-record.js';
import { CaptureError } from '../../../src/vfio/errors.js';
import { reduceCapture } from '../../../src/vfio/reduce.js';
import { buildChurnCapture } from '../../../src/vfio/sample-captures.js';
import { bounded, expectTyped, FUZZ_TEST_TIMEOUT_MS, fuzzParameters, inputs } from './fuzz.js';

jest.setTimeout(FUZZ_TEST_TIMEOUT_MS);

const dir = path.join(process.cwd(), 'fixtures', 'captures');
const SEEDS = [...fs.readdirSync(dir).filter((name) => name.endsWith('.cap')).map((name) => fs.readFileSync(path.join(dir, name))), buildChurnCapture(40, 7)];

describe('fuzz: the capture decoder (parse, describe, reduce)', () => {
  it('never crashes or hangs on mutated and random captures: records, or a typed error', () => {
    fc.assert(
      fc.property(inputs(SEEDS, 8192), (bytes) => {
        const parsed = bounded(() => parseCapture(bytes, { file: 'fuzz.cap' }));
        // parseCapture reports damage as a value, never by throwing.
        expect(parsed).toBeDefined();
        if (!parsed) return;
        if (parsed.error) expectTyped(parsed.error, [CaptureError]);
        const first = parsed.records[0]?.timestampNs ?? 0n;
        bounded(() => {
          for (const record of parsed.records) JSON.stringify(describeRecord(record, first), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
        });
        bounded(() => reduceCapture(parsed.records));
      }),
      fuzzParameters(400),
    );
  });
});
