import fc from 'fast-check';
import { expect } from '@jest/globals';
import { NicmigError } from '../../../src/errors.js';

/**
 * The fuzz runs' settings: in CI a fixed seed and a few seconds per target; on demand
 * (`npm run fuzz -- --runs N [--seed S]`, scripts/fuzz.js) as many runs as asked, with the
 * seed printed so that a failure can be replayed.
 */
export const FUZZ_SEED = Number(process.env.NICMIG_FUZZ_SEED ?? 20261201);
export const FUZZ_RUNS = process.env.NICMIG_FUZZ_RUNS === undefined ? undefined : Number(process.env.NICMIG_FUZZ_RUNS);
/** A test's deadline: generous for the CI run, none to speak of for a run on demand. */
export const FUZZ_TEST_TIMEOUT_MS = FUZZ_RUNS === undefined ? 120_000 : 7 * 24 * 3600 * 1000;
/** Longest any one input may take before it counts as a hang (generous: two shared cores). */
export const PER_INPUT_MS = Number(process.env.NICMIG_FUZZ_PER_INPUT_MS ?? 2000);

export function fuzzParameters(ciRuns: number): fc.Parameters<unknown> {
  return { seed: FUZZ_SEED, numRuns: FUZZ_RUNS ?? ciRuns, endOnFailure: true, verbose: fc.VerbosityLevel.Verbose };
}

/** The outcome a fuzzed target may have: it returned, or it threw a typed NicmigError. */
export function expectTyped(error: unknown, allowed?: readonly (abstract new (...args: never[]) => NicmigError)[]): void {
  if (!(error instanceof NicmigError)) {
    throw new Error(`not a typed error: ${error instanceof Error ? `${error.name}: ${error.message}\n${error.stack}` : String(error)}`);
  }
  if (allowed && !allowed.some((kind) => error instanceof kind)) throw new Error(`unexpected error class ${error.name} (${error.code}): ${error.message}`);
  expect(typeof error.code).toBe('string');
  expect(error.exitCode).toBeGreaterThan(0);
  // Its document can be printed (--json): never a throw there either.
  JSON.stringify(error.toJSON());
}

/** Runs `body` on one input; fails when it throws anything but a typed error, or takes too long. */
export function bounded<T>(body: () => T, allowed?: Parameters<typeof expectTyped>[1]): T | undefined {
  const started = performance.now();
  let result: T | undefined;
  let failure: unknown;
  try {
    result = body();
  } catch (error) {
    failure = error;
  }
  const took = performance.now() - started;
  if (took > PER_INPUT_MS) throw new Error(`one input took ${Math.round(took)} ms (limit ${PER_INPUT_MS} ms): a hang in the making`);
  if (failure !== undefined) expectTyped(failure, allowed);
  return result;
}

/** Awaits `promise` within the per-input bound; a promise that never settles is a hang. */
export async function boundedAsync<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not settle within ${PER_INPUT_MS} ms: a hang`)), PER_INPUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// --- inputs --------------------------------------------------------------------------------

/** Byte strings that break parsers: deep nesting, huge numbers, odd encodings, line ends. */
const NASTY: readonly string[] = [
  '{'.repeat(2000),
  '['.repeat(5000) + ']'.repeat(5000),
  '{"a":'.repeat(1100) + '1' + '}'.repeat(1100),
  '\n',
  '\r\n',
  '\u0000',
  '\\',
  '"',
  "'",
  '99999999999999999999999999999999',
  '-0',
  '1e309',
  '\ud800',
  '\u2028',
  '\xff\xfe',
  'null',
  '{}',
  '[]',
  '&a [*a, *a, *a]',
  '!!binary',
  '<<: *x',
  '%YAML 1.1',
  '---',
  '...',
  '\t',
];

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'nasty'; at: number; which: number }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'truncate'; at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 0x7f, 0x80, 0xff, 0x0a, 0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
  fc.record({ kind: fc.constant('nasty' as const), at: fc.nat(), which: fc.nat({ max: NASTY.length - 1 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 256 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

/** Applies mutations to a copy of `seed`. Pure. */
export function mutate(seed: Uint8Array, mutations: readonly Mutation[]): Buffer {
  let bytes = Buffer.from(seed);
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % (bytes.length + 1);
    switch (m.kind) {
      case 'flip':
        if (at < bytes.length) bytes[at] = (bytes[at] as number) ^ (1 << m.bit);
        break;
      case 'set':
        if (at < bytes.length) bytes[at] = m.value;
        break;
      case 'delete':
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.length)]);
        break;
      case 'insert':
        bytes = Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
        break;
      case 'nasty':
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(NASTY[m.which] as string, 'latin1'), bytes.subarray(at)]);
        break;
      case 'duplicate':
        bytes = Buffer.concat([bytes.subarray(0, at + m.length), bytes.subarray(at, at + m.length), bytes.subarray(at + m.length)]);
        break;
      case 'truncate':
        bytes = bytes.subarray(0, at);
        break;
    }
  }
  return bytes;
}

/** Inputs: a seed mutated a few times (most runs), or random bytes. */
export function inputs(seeds: readonly Uint8Array[], maxRandom = 4096): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.nat({ max: seeds.length - 1 }), fc.array(mutationArb, { minLength: 1, maxLength: 8 })).map(([index, mutations]) => mutate(seeds[index] as Uint8Array, mutations)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: maxRandom }).map((bytes) => Buffer.from(bytes)) },
  );
}
