/**
 * Compares a VF state as the source's log reduces it with the state the destination PF reports
 * (both in the `nicmig vf state` JSON shape), ignoring what legitimately differs between two
 * VFs: the VSI id, the PF-assigned default MAC, and counters. Pure.
 */
const IGNORED = new Set(['vsiId', 'counters', 'resources.defaultMac', 'requestedQueuePairs']);

export function compareStateJson(source: unknown, destination: unknown, prefix = ''): string[] {
  if (IGNORED.has(prefix)) return [];
  if (Array.isArray(source) && Array.isArray(destination)) {
    const out: string[] = [];
    const length = Math.max(source.length, destination.length);
    for (let i = 0; i < length; i++) out.push(...compareStateJson(source[i], destination[i], `${prefix}[${i}]`));
    return out;
  }
  if (isObject(source) && isObject(destination)) {
    const keys = new Set([...Object.keys(source), ...Object.keys(destination)]);
    const out: string[] = [];
    for (const key of keys) out.push(...compareStateJson(source[key], destination[key], prefix ? `${prefix}.${key}` : key));
    return out;
  }
  if (JSON.stringify(source) === JSON.stringify(destination)) return [];
  return [`${prefix || 'state'}: source ${JSON.stringify(source) ?? 'absent'}, destination ${JSON.stringify(destination) ?? 'absent'}`];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
