import type { MigrationInfo } from '../qmp/schemas.js';

/**
 * Pre-copy convergence policy. QEMU switches over by itself once the RAM left to send fits
 * the downtime limit at the measured bandwidth; nicmig only decides what to do when that
 * does not happen in time. Pure.
 */

export type OnTimeout = 'abort' | 'force';

export interface ConvergenceOptions {
  /** Deadline for the whole pre-copy, from `migrate`; Infinity for none. */
  timeoutMs: number;
  onTimeout: OnTimeout;
  /** Passes without the remaining bytes shrinking before we call it stalled. */
  stallPasses: number;
}

export interface ProgressSample {
  /** ms since migrate was issued. */
  elapsedMs: number;
  pass: number;
  remaining: number;
  transferred: number;
  /** bytes/s, as QEMU measured it (mbps * 1e6 / 8). */
  bandwidth: number;
  dirtyPagesRate: number;
  pageSize: number;
  expectedDowntimeMs: number | undefined;
}

export type ConvergenceDecision =
  | { action: 'continue'; stalled: boolean }
  | { action: 'abort'; reason: string }
  | { action: 'force'; reason: string };

/** Turns a query-migrate reply into a sample; undefined while QEMU has no RAM figures yet. */
export function sampleFrom(info: MigrationInfo, elapsedMs: number): ProgressSample | undefined {
  const ram = info.ram;
  if (!ram) return undefined;
  return {
    elapsedMs,
    pass: ram['dirty-sync-count'],
    remaining: ram.remaining,
    transferred: ram.transferred,
    bandwidth: (ram.mbps * 1e6) / 8,
    dirtyPagesRate: ram['dirty-pages-rate'],
    pageSize: ram['page-size'] ?? 4096,
    expectedDowntimeMs: info['expected-downtime'],
  };
}

/** True when the last `stallPasses` passes did not leave less to send than the one before. */
export function isStalled(samples: readonly ProgressSample[], stallPasses: number): boolean {
  const perPass = new Map<number, number>();
  for (const sample of samples) perPass.set(sample.pass, sample.remaining);
  const passes = [...perPass.entries()].sort((a, b) => a[0] - b[0]).map(([, remaining]) => remaining);
  if (passes.length < stallPasses + 2) return false;
  const recent = passes.slice(-(stallPasses + 1));
  for (let i = 1; i < recent.length; i++) {
    if ((recent[i] as number) < (recent[i - 1] as number) * 0.95) return false;
  }
  return true;
}

export function decideConvergence(samples: readonly ProgressSample[], options: ConvergenceOptions): ConvergenceDecision {
  const last = samples[samples.length - 1];
  const stalled = isStalled(samples, options.stallPasses);
  if (last && last.elapsedMs >= options.timeoutMs) {
    // QEMU reports a dirty rate of 0 until the first pass ends: unknown, not zero.
    const dirtied = samples.some((s) => s.pass > 1) ? `dirtying ${formatBytes(last.dirtyPagesRate * last.pageSize)}/s` : 'in the first pass, dirty rate not yet measured';
    const why = `pre-copy did not converge within ${Math.round(options.timeoutMs / 1000)} s (${formatBytes(last.remaining)} left, ${dirtied} against ${formatBytes(last.bandwidth)}/s)`;
    return options.onTimeout === 'force' ? { action: 'force', reason: why } : { action: 'abort', reason: why };
  }
  return { action: 'continue', stalled };
}

/** Downtime to expect if we switched over now: what is left, plus what gets dirtied meanwhile. */
export function predictDowntimeMs(remainingBytes: number, bandwidthBytesPerSecond: number, extraBytes = 0): number {
  if (bandwidthBytesPerSecond <= 0) return Infinity;
  return ((remainingBytes + extraBytes) / bandwidthBytesPerSecond) * 1000;
}

/** QEMU 7.2 accepts downtime-limit up to 2000 s; setting it makes QEMU switch over at once. */
export const FORCE_SWITCHOVER_DOWNTIME_LIMIT_MS = 2_000_000;

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}
