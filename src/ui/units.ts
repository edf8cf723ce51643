import { UsageError } from '../errors.js';

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  kbit: 1000 / 8,
  mbit: 1000 ** 2 / 8,
  gbit: 1000 ** 3 / 8,
};

/**
 * Parses a bandwidth such as `500MiB`, `1G`, `10gbit` or `2500000` (bytes) into bytes per
 * second; a trailing `/s` is allowed. Binary prefixes unless the unit says otherwise.
 */
export function parseBandwidth(text: string, flag = '--bandwidth'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)(?:\/s)?\s*$/.exec(text);
  const unit = match ? (match[2] ?? '').toLowerCase() : undefined;
  const factor = unit === undefined ? undefined : BYTE_UNITS[unit];
  if (!match || factor === undefined) {
    throw new UsageError('BAD_BANDWIDTH', `${flag} '${text}' is not a bandwidth`, { hint: 'e.g. 500MiB (per second), 1G, 10gbit' });
  }
  const value = Math.round(Number(match[1]) * factor);
  if (value < 1024 * 1024) throw new UsageError('BAD_BANDWIDTH', `${flag} '${text}' is below 1 MiB/s`, { hint: 'e.g. 500MiB' });
  // QEMU takes up to SIZE_MAX; nicmig writes the number exactly only up to 2^53 - 1.
  if (!Number.isSafeInteger(value)) {
    throw new UsageError('BAD_BANDWIDTH', `${flag} '${text}' is above the largest bandwidth nicmig can set (${Number.MAX_SAFE_INTEGER} bytes/s)`, { hint: 'e.g. 10gbit' });
  }
  return value;
}
