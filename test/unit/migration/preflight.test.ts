import { describe, expect, it } from '@jest/globals';
import { VmSpecSchema } from '../../../src/inventory/vm-spec.js';
import { bridgeAclRefusal, destinationReasons, networkReasons, sourceNicReasons, switchoverAckDevices, tcgDirtyTrackingWarning } from '../../../src/migration/preflight.js';
import type { HostFacts } from '../../../src/migration/ports.js';

const spec = VmSpecSchema.parse({
  name: 'vm1',
  memoryMiB: 4096,
  devices: [
    { type: 'vfio-i40evf', id: 'vf0', pf: 'enp1s0f0' },
    { type: 'vfio-i40evf', id: 'vf1', pf: 'enp1s0f0' },
  ],
});
const pf = { name: 'enp1s0f0', numVfs: 8, freeVfs: 8, maxMacFilters: 18, maxVlanFilters: 16, numQueuePairs: 4 };
const roomy: HostFacts = { memoryAvailableMiB: 65536, machines: ['pc', 'q35', 'pc-q35-7.2'], pfs: [pf] };

describe('destination preflight', () => {
  it('has nothing to say about a host that can take the VM', () => {
    expect(destinationReasons(spec, 'hostB', roomy)).toEqual([]);
  });

  it('lists every shortfall at once, naming the host and what is missing', () => {
    const reasons = destinationReasons(spec, 'hostB', { memoryAvailableMiB: 1024, machines: ['pc'], pfs: [{ ...pf, freeVfs: 1 }] });
    expect(reasons).toEqual([
      "hostB has 1024 MiB of memory available; 'vm1' needs 4096 MiB",
      "the QEMU on hostB has no machine type 'q35'",
      "PF enp1s0f0 on hostB has 1 free VF; 'vm1' needs 2",
    ]);
  });

  it('refuses a VF VM where the PF is absent or the host has no SR-IOV inventory', () => {
    expect(destinationReasons(spec, 'hostB', { ...roomy, pfs: [{ ...pf, name: 'eno1' }] })).toEqual(['hostB has no SR-IOV PF named enp1s0f0 (it has eno1)']);
    expect(destinationReasons(spec, 'hostB', { ...roomy, pfs: null })[0]).toMatch(/cannot tell whether it has the PF enp1s0f0/);
  });

  it('does not guess where the host cannot tell (null facts) for a VM without VFs', () => {
    const plain = VmSpecSchema.parse({ name: 'vm2', memoryMiB: 512 });
    expect(destinationReasons(plain, 'hostB', { memoryAvailableMiB: null, machines: null, pfs: null })).toEqual([]);
  });

  it('checks the machine the source really runs (its alias resolved), and names what the destination offers', () => {
    const facts: HostFacts = { memoryAvailableMiB: null, machines: ['q35', 'pc-q35-9.2', 'pc-q35-10.0', 'pc-i440fx-10.0'], pfs: null };
    const plain = { ...spec, devices: [] };
    expect(destinationReasons(plain, 'hostB', facts, 'pc-q35-7.2')).toEqual([
      "the source runs machine type 'pc-q35-7.2' (inventory: 'q35'); the QEMU on hostB does not offer it (it offers pc-q35-10.0, pc-q35-9.2)",
    ]);
    expect(destinationReasons(plain, 'hostB', { ...facts, machines: [...(facts.machines as string[]), 'pc-q35-7.2'] }, 'pc-q35-7.2')).toEqual([]);
  });
});

describe('preflight of the NICs', () => {
  const nics = VmSpecSchema.parse({
    name: 'vm1',
    memoryMiB: 64,
    devices: [
      { type: 'virtio-net', id: 'net0', mac: '52:54:00:00:00:01', netdev: { type: 'tap', bridge: 'br0' } },
      { type: 'virtio-net', id: 'net1', mac: '52:54:00:00:00:02', netdev: { type: 'bridge', br: 'br1' } },
      { type: 'virtio-net', id: 'net2', mac: '52:54:00:00:00:03', netdev: 'user' },
    ],
  });
  const acl = { file: '/etc/qemu/bridge.conf', allowAll: false, denyAll: false, allow: ['br1'], deny: [] };
  const helper = { path: '/usr/lib/qemu/qemu-bridge-helper', problems: [], acl };
  const facts: HostFacts = { memoryAvailableMiB: null, machines: null, pfs: null, bridges: ['br0', 'br1'], bridgeHelper: helper };

  it('has nothing to say when the bridges are there and the helper may use its bridge', () => {
    expect(networkReasons(nics, 'hostB', facts)).toEqual([]);
    expect(destinationReasons(nics, 'hostB', facts)).toEqual([]);
  });

  it('names the host and the bridge that is missing, and what the host has', () => {
    expect(destinationReasons(nics, 'hostB', { ...facts, bridges: ['virbr0'] })).toEqual([
      "hostB has no bridge br0 (NIC net0 of 'vm1'; it has virbr0)",
      "hostB has no bridge br1 (NIC net1 of 'vm1'; it has virbr0)",
    ]);
    expect(networkReasons(nics, 'hostB', { ...facts, bridges: [] })[0]).toBe("hostB has no bridge br0 (NIC net0 of 'vm1'; it has no bridge)");
  });

  it('refuses a bridge NIC where the helper is missing or its ACL does not allow the bridge, without touching the ACL', () => {
    expect(networkReasons(nics, 'hostB', { ...facts, bridgeHelper: { path: null, problems: ['no qemu-bridge-helper (looked in /usr/lib/qemu/qemu-bridge-helper)'], acl: null } })).toEqual([
      "the bridge helper on hostB: no qemu-bridge-helper (looked in /usr/lib/qemu/qemu-bridge-helper) (NIC net1 of 'vm1'; inventory hosts.hostB.bridgeHelper)",
    ]);
    expect(networkReasons(nics, 'hostB', { ...facts, bridgeHelper: { ...helper, acl: { ...acl, allow: ['br9'] } } })).toEqual([
      "the bridge helper on hostB may not use bridge br1 (NIC net1 of 'vm1'): /etc/qemu/bridge.conf has no 'allow br1' (nor 'allow all'); the operator adds it there",
    ]);
  });

  it('says nothing where the host cannot tell (a simulated host)', () => {
    expect(networkReasons(nics, 'hostB', { memoryAvailableMiB: null, machines: null, pfs: null })).toEqual([]);
    expect(networkReasons(nics, 'hostB', { ...facts, bridges: null, bridgeHelper: null })).toEqual([]);
  });

  it("the helper's ACL: allowed by name or by all; any deny wins", () => {
    expect(bridgeAclRefusal({ ...acl, allow: ['br0'] }, 'br0')).toBeUndefined();
    expect(bridgeAclRefusal({ ...acl, allow: [], allowAll: true }, 'br0')).toBeUndefined();
    expect(bridgeAclRefusal({ ...acl, allowAll: true, deny: ['br0'] }, 'br0')).toBe("/etc/qemu/bridge.conf says 'deny br0'");
    expect(bridgeAclRefusal({ ...acl, allow: ['br0'], denyAll: true }, 'br0')).toBe("/etc/qemu/bridge.conf says 'deny all'");
    expect(bridgeAclRefusal({ ...acl, allow: [] }, 'br0')).toMatch(/has no 'allow br0'/);
  });

  it("compares the source's NICs with the inventory's: present by id, a NIC, the MAC", () => {
    const found = new Map([
      ['net0', { type: 'virtio-net-pci', mac: '52:54:00:00:00:01' }],
      ['net1', { type: 'virtio-net-pci', mac: '52:54:00:00:00:02' }],
      ['net2', { type: 'virtio-net-pci', mac: '52:54:00:00:00:03' }],
    ]);
    expect(sourceNicReasons(nics, 'hostA', found)).toEqual([]);
    expect(
      sourceNicReasons(
        nics,
        'hostA',
        new Map([
          ['net0', { type: 'virtio-net-pci', mac: '52:54:00:00:00:99' }],
          ['net1', { type: 'e1000', mac: '52:54:00:00:00:02' }],
          ['net2', undefined],
        ]),
      ),
    ).toEqual([
      'NIC net0 of the source QEMU on hostA has MAC 52:54:00:00:00:99; the inventory says 52:54:00:00:00:01',
      "device 'net1' of the source QEMU on hostA is a e1000, not a virtio-net NIC (the inventory's NIC net1 (52:54:00:00:00:02) of 'vm1')",
      "the source QEMU on hostA has no device 'net2' (the inventory's NIC net2 (52:54:00:00:00:03) of 'vm1'): it must run with id=net2",
    ]);
  });
});

describe('tcgDirtyTrackingWarning', () => {
  it('warns about a TCG source older than QEMU 9.0, naming the version, the host and the fix', () => {
    const warning = tcgDirtyTrackingWarning({ major: 7, minor: 2 }, { enabled: false }, 'hostA');
    expect(warning).toContain('source QEMU 7.2 on hostA runs the guest under TCG');
    expect(warning).toContain('03bfc2188f');
    expect(tcgDirtyTrackingWarning({ major: 8, minor: 2 }, { enabled: false }, 'hostA')).toContain('QEMU 8.2');
  });
  it('says nothing under KVM, or from QEMU 9.0 on', () => {
    expect(tcgDirtyTrackingWarning({ major: 7, minor: 2 }, { enabled: true }, 'hostA')).toBeUndefined();
    expect(tcgDirtyTrackingWarning({ major: 9, minor: 0 }, { enabled: false }, 'hostA')).toBeUndefined();
    expect(tcgDirtyTrackingWarning({ major: 10, minor: 0 }, { enabled: false }, 'hostA')).toBeUndefined();
  });
});

describe('switchoverAckDevices', () => {
  const qemu10 = new Map([['events', false], ['return-path', false], ['switchover-ack', false]]);
  const qemu72 = new Map([['events', false], ['return-path', false]]);
  const vfio = { id: 'hostdev0', path: '/machine/peripheral/hostdev0', type: 'vfio-pci' };
  const nic = { id: 'net0', path: '/machine/peripheral/net0', type: 'virtio-net-pci' };
  it('names the vfio-pci devices when both QEMUs offer switchover-ack', () => {
    expect(switchoverAckDevices(qemu10, qemu10, [nic, vfio, { id: undefined, path: '/machine/peripheral-anon/device[0]', type: 'vfio-pci' }])).toEqual(['hostdev0', '/machine/peripheral-anon/device[0]']);
  });
  it('stays off without such a device, or when either side lacks it (QEMU before 8.1)', () => {
    expect(switchoverAckDevices(qemu10, qemu10, [nic])).toEqual([]);
    expect(switchoverAckDevices(qemu10, qemu10, undefined)).toEqual([]);
    expect(switchoverAckDevices(qemu72, qemu10, [vfio])).toEqual([]);
    expect(switchoverAckDevices(qemu10, qemu72, [vfio])).toEqual([]);
  });
});
