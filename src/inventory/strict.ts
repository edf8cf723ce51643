import type { z } from 'zod';

/**
 * Strict schemas say which key they did not know; these helpers say which one was meant.
 * Pure: a schema, the raw document and an issue's path in, the keys allowed there out.
 */

/** Edit distance (insert, delete, substitute, swap of neighbours) between two short strings. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  // Rows i-2, i-1, i of the optimal string alignment table.
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (before[j - 2] as number) + 1);
      current.push(best);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * The known key closest to `key`, if close enough to be a slip: case aside, at most a third of
 * its letters wrong (at least one edit allowed, so `vcpu` finds `vcpus`).
 */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = key.toLowerCase() === candidate.toLowerCase() ? 0.5 : editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { key: candidate, distance };
  }
  if (!best) return undefined;
  const allowed = Math.max(1, Math.floor(Math.max(key.length, best.key.length) / 3));
  return best.distance <= allowed ? best.key : undefined;
}

type AnySchema = z.ZodType;

/** The object schema at `path` in `data` (following records, arrays, defaults, unions by their discriminator). */
export function objectKeysAt(schema: AnySchema, data: unknown, path: readonly PropertyKey[]): string[] | undefined {
  let current: AnySchema | undefined = schema;
  let value = data;
  for (let index = 0; index <= path.length; index++) {
    current = unwrap(current, value);
    if (!current) return undefined;
    if (index === path.length) break;
    const part = path[index] as PropertyKey;
    value = value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[part] : undefined;
    const def = (current as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
    if (def.type === 'object') current = (def.shape as Record<string, AnySchema>)[String(part)];
    else if (def.type === 'record') current = def.valueType as AnySchema;
    else if (def.type === 'array') current = def.element as AnySchema;
    else return undefined;
  }
  const def = (current as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
  return def.type === 'object' ? Object.keys(def.shape as Record<string, unknown>) : undefined;
}

function unwrap(schema: AnySchema | undefined, value: unknown): AnySchema | undefined {
  let current = schema;
  for (let guard = 0; current && guard < 32; guard++) {
    const def = (current as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
    if (def.type === 'default' || def.type === 'optional' || def.type === 'nullable' || def.type === 'prefault') current = def.innerType as AnySchema;
    else if (def.type === 'pipe') {
      // A preprocess (a transform into a schema) checks its keys in the schema it feeds.
      const into = (def.in as unknown as { _zod: { def: { type: string } } })._zod.def.type === 'transform' ? def.out : def.in;
      current = into as AnySchema;
    }
    else if (def.type === 'union') {
      const options = def.options as AnySchema[];
      const discriminator = def.discriminator as string | undefined;
      const record = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
      current = options.find((option) => {
        const optionDef = (unwrap(option, value) as unknown as { _zod: { def: Record<string, unknown> } } | undefined)?._zod.def;
        if (optionDef?.type !== 'object') return false;
        if (discriminator === undefined) return true;
        const tag = (optionDef.shape as Record<string, AnySchema>)[discriminator];
        return tag?.safeParse(record[discriminator]).success ?? false;
      });
    } else return current;
  }
  return current;
}
