import { describe, expect, it } from '@jest/globals';
import type { ProgressSample } from '../../../src/migration/convergence.js';
import { downtimeLadder, nextDowntimeStep, overheadFromHistory } from '../../../src/migration/downtime-policy.js';

function sample(pass: number, remainingMiB: number, bandwidthMiB = 100): ProgressSample {
  return { elapsedMs: pass * 100, pass, remaining: remainingMiB << 20, transferred: 0, bandwidth: bandwidthMiB << 20, dirtyPagesRate: 0, pageSize: 4096, expectedDowntimeMs: undefined };
}

describe('the downtime policy', () => {
  it('hands QEMU the ceiling less the measured overhead, from an eighth of it up', () => {
    expect(downtimeLadder({ ceilingMs: 300, overheadMs: 40, overheadSource: '' })).toEqual([33, 65, 130, 260]);
    expect(downtimeLadder({ ceilingMs: 50, overheadMs: 0, overheadSource: '' })).toEqual([6, 13, 25, 50]);
    // An overhead as large as the ceiling still leaves QEMU one millisecond.
    expect(downtimeLadder({ ceilingMs: 20, overheadMs: 40, overheadSource: '' })).toEqual([1]);
  });

  it('keeps the limit while pre-copy converges, and in the first two passes', () => {
    const ladder = [33, 65, 130, 260];
    const start = { limitMs: 33, pass: 0, reason: '' };
    expect(nextDowntimeStep([sample(1, 256), sample(2, 40)], ladder, start)).toBeUndefined();
    // 40 MiB at 100 MiB/s is 400 ms, but it halves every pass: converging.
    expect(nextDowntimeStep([sample(1, 256), sample(2, 40), sample(3, 20)], ladder, start)).toBeUndefined();
  });

  it('raises it to the lowest rung that fits when the remainder stops shrinking, once per pass, never past the ceiling', () => {
    const ladder = [33, 65, 130, 260];
    const start = { limitMs: 33, pass: 0, reason: '' };
    // 5 MiB left at 100 MiB/s: 50 ms, pass after pass.
    const stuck = [sample(1, 256), sample(2, 5), sample(3, 5)];
    const step = nextDowntimeStep(stuck, ladder, start);
    expect(step).toMatchObject({ limitMs: 65, pass: 3 });
    expect(step?.reason).toMatch(/pass 3: 50 ms left/);
    expect(nextDowntimeStep(stuck, ladder, step as never)).toBeUndefined();
    // 50 MiB left: 500 ms, more than any rung: the top one, and no step after it.
    const far = [sample(1, 256), sample(2, 50), sample(3, 50)];
    expect(nextDowntimeStep(far, ladder, start)).toMatchObject({ limitMs: 260 });
    expect(nextDowntimeStep([...far, sample(4, 50)], ladder, { limitMs: 260, pass: 3, reason: '' })).toBeUndefined();
  });

  it('waits for a second sampled pass when the first sample came late (a loaded host polled first at pass 3)', () => {
    const ladder = [33, 65, 130, 260];
    const start = { limitMs: 33, pass: 0, reason: '' };
    expect(nextDowntimeStep([sample(3, 50)], ladder, start)).toBeUndefined();
    expect(nextDowntimeStep([sample(3, 50), sample(3, 50)], ladder, start)).toBeUndefined();
    expect(nextDowntimeStep([sample(3, 50), sample(4, 50)], ladder, start)).toMatchObject({ pass: 4 });
  });

  it('measures the overhead from earlier migrations (median of the last five), none assumed without', () => {
    expect(overheadFromHistory([])).toEqual({ overheadMs: 0, source: expect.stringMatching(/none assumed/) });
    expect(overheadFromHistory([{ measuredDowntimeMs: 42, downtimeMs: 5 }, { measuredDowntimeMs: 90, downtimeMs: 6 }, { measuredDowntimeMs: 40, downtimeMs: 7 }]).overheadMs).toBe(37);
  });

  it('takes the lower median: one slow switchover beside a usual one does not take the ceiling from QEMU', () => {
    // Seen on a loaded machine (bench/guest, QEMU 10.0): 23 ms, then 199 ms.
    const history = [
      { measuredDowntimeMs: 34, downtimeMs: 11 },
      { measuredDowntimeMs: 205, downtimeMs: 6 },
    ];
    expect(overheadFromHistory(history)).toEqual({ overheadMs: 23, source: 'median of the last 2 migrations to this host' });
    expect(downtimeLadder({ ceilingMs: 50, ...overheadFromHistory(history), overheadSource: '' })).toEqual([3, 7, 14, 27]);
    // Four: the second smallest.
    expect(overheadFromHistory([...history, { measuredDowntimeMs: 40, downtimeMs: 10 }, { measuredDowntimeMs: 60, downtimeMs: 10 }]).overheadMs).toBe(30);
  });
});
