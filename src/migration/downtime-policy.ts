import type { ProgressSample } from './convergence.js';

/**
 * The downtime policy: `--downtime-limit` is a ceiling on the pause the guest feels (source
 * STOP to destination RESUME), not the figure handed to QEMU. QEMU's own downtime leaves
 * out loading the device state and starting the destination, so the limit QEMU gets is the
 * ceiling less that overhead, measured on earlier migrations to the same host. And it starts
 * low: a guest that can converge with a short pause gets one; the limit rises a step at a
 * time only while pre-copy, by its measured remainder and bandwidth, does not converge
 * (Nova's live_migration_downtime_steps, driven by measurements instead of the clock). Pure.
 */

export interface DowntimeBudget {
  /** The pause the guest may feel, ms (--downtime-limit). */
  ceilingMs: number;
  /** What a switchover adds to QEMU's own downtime on these hosts, ms (median of earlier runs; 0 when none). */
  overheadMs: number;
  /** Where the overhead figure comes from, for the operator. */
  overheadSource: string;
}

/** The limits handed to QEMU, lowest first: 1/8, 1/4, 1/2 and all of what the ceiling leaves QEMU. */
export function downtimeLadder(budget: DowntimeBudget): number[] {
  const forQemu = Math.max(1, Math.floor(budget.ceilingMs - budget.overheadMs));
  const ladder = [forQemu / 8, forQemu / 4, forQemu / 2, forQemu].map((ms) => Math.max(1, Math.round(ms)));
  return [...new Set(ladder)];
}

export interface DowntimeStep {
  /** The limit QEMU gets from now on, ms. */
  limitMs: number;
  /** The pre-copy pass (QEMU's dirty-sync-count) it was set at; 0 before migrate. */
  pass: number;
  reason: string;
}

/** What QEMU would stop the guest for if it switched over now, from a sample. */
export function expectedDowntimeMs(sample: ProgressSample): number {
  if (sample.expectedDowntimeMs !== undefined && sample.expectedDowntimeMs > 0) return sample.expectedDowntimeMs;
  return sample.bandwidth > 0 ? (sample.remaining / sample.bandwidth) * 1000 : Infinity;
}

/**
 * The next step up, or undefined to keep the current limit. Raised only at a new pass from
 * the third on (the first copies everything), when the remainder does not fit the limit and
 * did not shrink by a fifth since the pass before: then to the lowest rung that fits it, or
 * the top one. Never before two passes were sampled: with one, shrinking cannot be judged.
 */
export function nextDowntimeStep(samples: readonly ProgressSample[], ladder: readonly number[], current: DowntimeStep): DowntimeStep | undefined {
  const top = ladder[ladder.length - 1] as number;
  if (current.limitMs >= top) return undefined;
  const lastOfPass = new Map<number, ProgressSample>();
  for (const sample of samples) lastOfPass.set(sample.pass, sample);
  const passes = [...lastOfPass.keys()].sort((a, b) => a - b);
  const pass = passes[passes.length - 1];
  const previous = passes[passes.length - 2];
  // Shrinking is judged against an earlier pass; a slow poll (a loaded host) may not have seen
  // one yet, and then there is nothing to judge by until the next pass.
  if (pass === undefined || previous === undefined || pass < 3 || pass <= current.pass) return undefined;
  const now = expectedDowntimeMs(lastOfPass.get(pass) as ProgressSample);
  const before = expectedDowntimeMs(lastOfPass.get(previous) as ProgressSample);
  if (now <= current.limitMs) return undefined;
  if (now < before * 0.8) return undefined;
  const fits = ladder.find((rung) => rung > current.limitMs && rung >= now);
  const limitMs = fits ?? top;
  return {
    limitMs,
    pass,
    reason: `pass ${pass}: ${Math.round(now)} ms left to copy at the measured bandwidth, not converging at ${current.limitMs} ms`,
  };
}

/**
 * The overhead (felt pause less QEMU's downtime) of earlier migrations: the lower median of
 * the last five, or 0 when none. The lower one: a slow switchover (a loaded host) is not a
 * property of the host, and with two earlier migrations the upper median is the slower one:
 * 199 ms beside 23 ms left QEMU 1 ms of a 50 ms ceiling (bench/guest, a loaded machine).
 */
export function overheadFromHistory(history: readonly { measuredDowntimeMs: number; downtimeMs: number }[]): { overheadMs: number; source: string } {
  const overheads = history.map((h) => h.measuredDowntimeMs - h.downtimeMs).filter((x) => Number.isFinite(x) && x >= 0).slice(-5);
  if (overheads.length === 0) return { overheadMs: 0, source: 'no earlier migration to this host: none assumed' };
  const sorted = [...overheads].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)] as number;
  return { overheadMs: Math.round(median), source: `median of the last ${overheads.length} migration${overheads.length === 1 ? '' : 's'} to this host` };
}
