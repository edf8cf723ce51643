import type { VmSpec } from '../inventory/vm-spec.js';
import type { HostFacts } from './ports.js';

/**
 * What the destination host lacks to take the VM: memory, the machine type, the PFs and free
 * VFs its vfio-i40evf devices need. Pure; every reason at once.
 */
export function destinationReasons(spec: VmSpec, host: string, facts: HostFacts, sourceMachineType?: string): string[] {
  const reasons: string[] = [...(facts.problems ?? [])];
  if (facts.memoryAvailableMiB !== null && facts.memoryAvailableMiB < spec.memoryMiB) {
    reasons.push(`${host} has ${facts.memoryAvailableMiB} MiB of memory available; '${spec.name}' needs ${spec.memoryMiB} MiB`);
  }
  // The machine the source really runs (its alias resolved), else the spec's.
  const machine = sourceMachineType ?? spec.machine;
  if (facts.machines !== null && !facts.machines.includes(machine)) {
    if (sourceMachineType === undefined) reasons.push(`the QEMU on ${host} has no machine type '${spec.machine}'`);
    else {
      const family = machine.replace(/\d+\.\d+$/, '');
      // The newest of the same family (pc-q35-*), newest first.
      const version = (name: string) => (/(\d+)\.(\d+)$/.exec(name) ?? []).slice(1).map(Number) as [number?, number?];
      const offered = facts.machines
        .filter((name) => family !== machine && name.startsWith(family) && /\d+\.\d+$/.test(name))
        .sort((x, y) => (version(y)[0] ?? 0) - (version(x)[0] ?? 0) || (version(y)[1] ?? 0) - (version(x)[1] ?? 0))
        .slice(0, 4);
      reasons.push(
        `the source runs machine type '${machine}' (inventory: '${spec.machine}'); the QEMU on ${host} does not offer it${offered.length > 0 ? ` (it offers ${offered.join(', ')})` : ''}`,
      );
    }
  }
  const perPf = new Map<string, number>();
  for (const device of spec.devices) if (device.type === 'vfio-i40evf') perPf.set(device.pf, (perPf.get(device.pf) ?? 0) + 1);
  for (const [name, wanted] of perPf) {
    if (facts.pfs === null) {
      reasons.push(`${host} cannot tell whether it has the PF ${name} (no SR-IOV inventory)`);
      continue;
    }
    const pf = facts.pfs.find((p) => p.name === name);
    if (!pf) {
      reasons.push(`${host} has no SR-IOV PF named ${name}${facts.pfs.length > 0 ? ` (it has ${facts.pfs.map((p) => p.name).join(', ')})` : ''}`);
      continue;
    }
    if (pf.freeVfs !== null && pf.freeVfs < wanted) {
      reasons.push(`PF ${name} on ${host} has ${pf.freeVfs} free VF${pf.freeVfs === 1 ? '' : 's'}; '${spec.name}' needs ${wanted}`);
    }
  }
  return reasons;
}
