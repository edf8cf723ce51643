import { UsageError } from '../errors.js';

/**
 * What QEMU 7.2 refuses in `migrate-set-parameters` (migration/migration.c,
 * migrate_params_check), checked before anything starts so that a bad value is a usage error
 * (exit 2) and not a failure after the destination QEMU was started (exit 11).
 */
export const QEMU_MIGRATION_LIMITS = {
  /** MAX_MIGRATE_DOWNTIME: 2000 seconds. */
  maxDowntimeLimitMs: 2000 * 1000,
  /**
   * QEMU takes up to SIZE_MAX bytes/s; a JSON number nicmig can write exactly stops at 2^53 - 1
   * (past it, it would be sent rounded, or as a float QEMU refuses).
   */
  maxBandwidth: Number.MAX_SAFE_INTEGER,
  /** nicmig's own floor: below 1 MiB/s pre-copy of any real guest never ends. */
  minBandwidth: 1024 * 1024,
} as const;

export interface StreamLimitsInput {
  downtimeLimitMs: number;
  bandwidth: number;
}

/** Throws BAD_DOWNTIME_LIMIT or BAD_BANDWIDTH, naming the flag, for values QEMU would refuse. Pure. */
export function checkStreamLimits(options: StreamLimitsInput, names = { downtimeLimitMs: '--downtime-limit', bandwidth: '--bandwidth' }): void {
  const { maxDowntimeLimitMs, maxBandwidth, minBandwidth } = QEMU_MIGRATION_LIMITS;
  if (!Number.isSafeInteger(options.downtimeLimitMs) || options.downtimeLimitMs < 1 || options.downtimeLimitMs > maxDowntimeLimitMs) {
    throw new UsageError('BAD_DOWNTIME_LIMIT', `${names.downtimeLimitMs} ${options.downtimeLimitMs} is out of range: QEMU takes 1 to ${maxDowntimeLimitMs} ms`, {
      details: { value: options.downtimeLimitMs, min: 1, max: maxDowntimeLimitMs },
      hint: 'the longest pause of the guest at the switchover, in ms (default 300)',
    });
  }
  if (!Number.isSafeInteger(options.bandwidth) || options.bandwidth < minBandwidth || options.bandwidth > maxBandwidth) {
    throw new UsageError('BAD_BANDWIDTH', `${names.bandwidth} ${options.bandwidth} bytes/s is out of range: ${minBandwidth} (1 MiB/s) to ${maxBandwidth}`, {
      details: { value: options.bandwidth, min: minBandwidth, max: maxBandwidth },
      hint: 'e.g. 500MiB, 1G, 10gbit',
    });
  }
}
