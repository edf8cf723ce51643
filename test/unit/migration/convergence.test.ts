import { describe, expect, it } from '@jest/globals';
import { decideConvergence, formatBytes, isStalled, predictDowntimeMs, sampleFrom, type ProgressSample } from '../../../src/migration/convergence.js';

const sample = (pass: number, remaining: number, elapsedMs = pass * 1000): ProgressSample => ({
  elapsedMs,
  pass,
  remaining,
  transferred: 0,
  bandwidth: 100 << 20,
  dirtyPagesRate: 1000,
  pageSize: 4096,
  expectedDowntimeMs: undefined,
});

describe('convergence policy', () => {
  it('calls pre-copy stalled when passes stop shrinking what is left', () => {
    expect(isStalled([sample(1, 1000), sample(2, 500), sample(3, 250), sample(4, 120)], 2)).toBe(false);
    expect(isStalled([sample(1, 1000), sample(2, 500), sample(3, 500), sample(4, 510), sample(5, 505)], 2)).toBe(true);
    expect(isStalled([sample(1, 1000), sample(2, 1000)], 2)).toBe(false);
  });

  it('continues until the deadline, then aborts or forces as asked, saying why', () => {
    const samples = [sample(1, 1 << 30, 1000), sample(2, 1 << 30, 2000)];
    expect(decideConvergence(samples, { timeoutMs: 5000, onTimeout: 'abort', stallPasses: 2 })).toEqual({ action: 'continue', stalled: false });
    const late = [...samples, sample(3, 1 << 30, 5000)];
    const abort = decideConvergence(late, { timeoutMs: 5000, onTimeout: 'abort', stallPasses: 2 });
    expect(abort).toMatchObject({ action: 'abort' });
    expect(abort.action === 'abort' && abort.reason).toMatch(/did not converge within 5 s \(1.0 GiB left/);
    expect(decideConvergence(late, { timeoutMs: 5000, onTimeout: 'force', stallPasses: 2 })).toMatchObject({ action: 'force' });
  });

  it('reads samples from query-migrate and predicts downtime', () => {
    const s = sampleFrom(
      { status: 'active', ram: { transferred: 10, remaining: 50 << 20, total: 1, duplicate: 0, normal: 0, 'normal-bytes': 0, 'dirty-pages-rate': 10, mbps: 800, 'dirty-sync-count': 3, 'page-size': 4096 } },
      1500,
    );
    expect(s).toMatchObject({ pass: 3, remaining: 50 << 20, bandwidth: 100e6, elapsedMs: 1500 });
    expect(sampleFrom({ status: 'setup' }, 0)).toBeUndefined();
    expect(predictDowntimeMs(100e6, 100e6)).toBe(1000);
    expect(predictDowntimeMs(1, 0)).toBe(Infinity);
    expect(formatBytes(1536)).toBe('1.5 KiB');
  });
});
