import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { scenarios } from '../conformance/scenarios.js';
import { QemuTarget, SimTarget, type ConformanceTarget } from '../conformance/targets.js';
import { describeWithQemu } from '../helpers/qemu.js';

jest.setTimeout(120_000);

/**
 * The same QMP scenarios against real QEMU 7.2 and the simulator: every line of the
 * simulator's trace (statuses, events in order, error classes and descriptions) must equal
 * QEMU's. The simulator side always runs (and must complete); the comparison needs QEMU.
 */
const targets: ConformanceTarget[] = [];
afterEach(async () => {
  await Promise.all(targets.splice(0).map((target) => target.cleanup()));
});

function track<T extends ConformanceTarget>(target: T): T {
  targets.push(target);
  return target;
}

describe('conformance: the simulator runs every scenario', () => {
  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      const trace = await scenario.run(track(new SimTarget()));
      expect(trace.lines.length).toBeGreaterThan(0);
    });
  }
});

describeWithQemu('conformance: simulator against real QEMU 7.2', () => {
  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      const real = await scenario.run(track(new QemuTarget()));
      const simulated = await scenario.run(track(new SimTarget()));
      expect(simulated.lines).toEqual(real.lines);
    });
  }
});
