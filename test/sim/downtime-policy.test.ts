import path from 'node:path';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { DemoLab } from '../../src/lab/demo-lab.js';
import type { MigrationEvent } from '../../src/migration/events.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration, type MigrationOptions } from '../../src/migration/orchestrator.js';
import { VfReplayStrategy } from '../../src/migration/vf-replay.js';

jest.setTimeout(60_000);

let lab: DemoLab | undefined;
afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

async function migrate(options: Partial<MigrationOptions>, dirtyPagesPerSecond: number) {
  lab = await DemoLab.start({ memoryMiB: 32, dirtyPagesPerSecond });
  const events: MigrationEvent[] = [];
  const run = new Migration(
    { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 50, ...options }, spec: lab.inventory.vms.get('vm1') },
    {
      hosts: lab.hosts,
      strategy: new VfReplayStrategy(),
      journalDir: path.join(lab.inventory.stateDir, 'journal'),
      onEvent: (event) => events.push(event),
    },
  );
  const summary = await run.run();
  return { summary, events };
}

describe('the downtime policy on the simulator', () => {
  it('starts QEMU at an eighth of the ceiling less the overhead, and reports the steps and the felt pause against the ceiling', async () => {
    const { summary, events } = await migrate({ downtimeLimitMs: 240, downtimeOverhead: { overheadMs: 40, source: 'test' } }, 1000);
    expect(summary.status).toBe('migrated');
    const limits = events.filter((e): e is Extract<MigrationEvent, { type: 'downtime-limit' }> => e.type === 'downtime-limit');
    expect(limits[0]).toMatchObject({ limitMs: 25, pass: 0 });
    expect(limits[0]?.reason).toMatch(/ceiling 240 ms less 40 ms overhead \(test\)/);
    for (const step of limits.slice(1)) expect([50, 100, 200]).toContain(step.limitMs);
    if (summary.status !== 'migrated') throw new Error('not migrated');
    expect(summary.downtimePolicy).toMatchObject({ ceilingMs: 240, overheadMs: 40, steps: limits.map(({ limitMs, pass, reason }) => ({ limitMs, pass, reason })) });
    expect(summary.downtimePolicy?.feltShareOfCeiling).toBeCloseTo((summary.measuredDowntimeMs ?? NaN) / 240, 1);
  });

  it('--downtime-policy fixed hands QEMU the limit as is', async () => {
    const { summary, events } = await migrate({ downtimeLimitMs: 240, downtimePolicy: 'fixed' }, 1000);
    expect(events.filter((e) => e.type === 'downtime-limit')).toEqual([expect.objectContaining({ limitMs: 240, pass: 0 })]);
    expect(summary.status).toBe('migrated');
  });
});
