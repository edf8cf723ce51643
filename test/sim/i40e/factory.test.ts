import { describe, expect, it } from '@jest/globals';
import { createI40evfDevice } from '../../../src/sim/i40e/factory.js';
import { FakeVm, makePf } from './helpers.js';

const spec = { type: 'vfio-i40evf' as const, id: 'net0', pf: 'enp1s0f0', vf: 'auto' as const, mac: '52:54:00:00:00:01', vlan: 100, trust: false, spoofchk: true };

describe('building vfio-i40evf from a VM spec entry', () => {
  it('takes a free VF and applies the host settings from the spec', () => {
    const pf = makePf('hostA', 16, {}, 2);
    const pfs = new Map([[pf.name, pf]]);
    const first = createI40evfDevice(spec, pfs, { guest: false });
    first.attach(new FakeVm('vm1').context);
    expect(first.vf.index).toBe(0);
    expect(pf.inventory()[0]).toMatchObject({ vf: 0, vsiId: 16, owner: 'vm1/net0', settings: { mac: '52:54:00:00:00:01', vlan: 100, trust: false, spoofchk: true }, facts: { portVlan: 100 } });
    const second = createI40evfDevice(spec, pfs, { guest: false });
    expect(second.vf.index).toBe(1);
    first.detach();
    expect(pf.inventory()[0]?.owner).toBeNull();
  });

  it('names the PF, the VF and who holds it when it cannot', () => {
    const pf = makePf('hostA', 16, {}, 1);
    const pfs = new Map([[pf.name, pf]]);
    expect(() => createI40evfDevice({ ...spec, pf: 'eth9' }, pfs)).toThrow("device net0: this host has no PF 'eth9' (it has enp1s0f0)");
    expect(() => createI40evfDevice({ ...spec, vf: 3 }, pfs)).toThrow('device net0: PF enp1s0f0 on hostA has no VF 3 (it has 1)');
    const device = createI40evfDevice(spec, pfs, { guest: false });
    device.attach(new FakeVm('vm1').context);
    expect(() => createI40evfDevice({ ...spec, vf: 0 }, pfs)).toThrow('VF 0 of enp1s0f0 on hostA is in use by vm1/net0');
    expect(() => createI40evfDevice(spec, pfs)).toThrow('has no free VF (all 1 in use)');
    device.detach();
  });
});
