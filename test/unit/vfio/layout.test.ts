import { describe, expect, it } from '@jest/globals';
import { layoutProblems } from '../../../src/vfio/layout.js';
import { replyBodies, requestBodies, structs } from '../../../src/vfio/messages.js';

describe('codec layout tables', () => {
  it.each(structs.map((s) => [s.name, s] as const))('%s: every member lies inside the struct and none overlap', (_name, s) => {
    expect(layoutProblems(s)).toEqual([]);
  });

  it('the checker finds a member past the end and an overlap', () => {
    const bad = {
      name: 'bad',
      size: 4,
      fields: [
        { key: 'a', wire: 'a', at: 0, type: 'u32' as const },
        { key: 'b', wire: 'b', at: 2, type: 'u32' as const },
      ],
    };
    expect(layoutProblems(bad)).toEqual(['bad.b (2..6) lies outside 4 bytes', 'bad.b overlaps a']);
  });

  it('every list body counts its elements inside its header', () => {
    for (const body of [...requestBodies.values(), ...replyBodies.values()]) {
      if (body.kind !== 'list') continue;
      expect(body.count.at + 2).toBeLessThanOrEqual(body.header.size);
      for (const f of body.header.fields) expect(f.at === body.count.at).toBe(false);
    }
  });
});
