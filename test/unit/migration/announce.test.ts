import { describe, expect, it } from '@jest/globals';
import { VmSpecSchema } from '../../../src/inventory/vm-spec.js';
import { announcedRecord, planAnnounce } from '../../../src/migration/announce.js';

const QEMU_DEFAULTS = { 'announce-initial': 50, 'announce-max': 550, 'announce-rounds': 5, 'announce-step': 100 };

const spec = (extra: Record<string, unknown> = {}, netdev: unknown = { type: 'tap', bridge: 'br0' }) =>
  VmSpecSchema.parse({ name: 'vm1', memoryMiB: 64, devices: [{ type: 'virtio-net', id: 'net0', mac: '52:54:00:00:00:01', netdev }], ...extra });

describe('who announces the NICs after a migration', () => {
  it("QEMU, when the destination's announce rounds are on (QEMU 7.2's defaults are: 5 rounds)", () => {
    const plan = planAnnounce(spec(), QEMU_DEFAULTS);
    expect(plan).toEqual({ by: 'qemu', nics: [{ id: 'net0', mac: '52:54:00:00:00:01' }], timing: { rounds: 5, initialMs: 50, maxMs: 550, stepMs: 100 } });
    expect(announcedRecord(plan as Exclude<typeof plan, { by: 'nobody' }>)).toMatchObject({ by: 'qemu', rounds: 5, nics: [{ id: 'net0', mac: '52:54:00:00:00:01' }] });
  });

  it("nicmig with the inventory's rounds, when QEMU's are off or not reported", () => {
    const plan = planAnnounce(spec({ announce: { rounds: 3, stepMs: 20 } }), { ...QEMU_DEFAULTS, 'announce-rounds': 0 });
    expect(plan).toEqual({
      by: 'nicmig',
      nics: [{ id: 'net0', mac: '52:54:00:00:00:01' }],
      timing: { rounds: 3, initialMs: 50, maxMs: 550, stepMs: 20 },
      why: "the destination QEMU's announce-rounds is 0",
      qemu: null,
    });
    expect(planAnnounce(spec(), {})).toMatchObject({ by: 'nicmig', why: 'the destination QEMU does not report announce-rounds' });
  });

  it("nicmig in any case with announce.send always, and the record says QEMU's announce ran too", () => {
    const plan = planAnnounce(spec({ announce: { send: 'always' } }), QEMU_DEFAULTS);
    expect(plan).toMatchObject({ by: 'nicmig', why: "the inventory's announce.send is always", qemu: { rounds: 5 } });
    expect(announcedRecord(plan as Exclude<typeof plan, { by: 'nobody' }>)).toMatchObject({ by: 'nicmig', how: 'announce-self', qemuAlso: { rounds: 5 } });
  });

  it('nobody for a VM without NICs, with only backend-less ones, or without a spec', () => {
    expect(planAnnounce(VmSpecSchema.parse({ name: 'vm1', memoryMiB: 64 }), QEMU_DEFAULTS)).toEqual({ by: 'nobody', nics: [] });
    expect(planAnnounce(spec({}, 'none'), QEMU_DEFAULTS)).toEqual({ by: 'nobody', nics: [] });
    expect(planAnnounce(undefined, QEMU_DEFAULTS)).toEqual({ by: 'nobody', nics: [] });
  });
});
