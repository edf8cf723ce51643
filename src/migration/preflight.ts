import type { VmSpec } from '../inventory/vm-spec.js';
import type { HostFacts } from './ports.js';

/**
 * What the destination host lacks to take the VM: memory, the machine type, the PFs and free
 * VFs its vfio-i40evf devices need. Pure; every reason at once.
 */
export function destinationReasons(spec: VmSpec, host: string, facts: HostFacts): string[] {
  const reasons: string[] = [...(facts.problems ?? [])];
  if (facts.memoryAvailableMiB !== null && facts.memoryAvailableMiB < spec.memoryMiB) {
    reasons.push(`${host} has ${facts.memoryAvailableMiB} MiB of memory available; '${spec.name}' needs ${spec.memoryMiB} MiB`);
  }
  if (facts.machines !== null && !facts.machines.includes(spec.machine)) {
    reasons.push(`the QEMU on ${host} has no machine type '${spec.machine}'`);
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
