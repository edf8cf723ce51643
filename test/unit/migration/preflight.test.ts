import { describe, expect, it } from '@jest/globals';
import { VmSpecSchema } from '../../../src/inventory/vm-spec.js';
import { destinationReasons } from '../../../src/migration/preflight.js';
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
