import { virtioNics, type VmSpec } from '../inventory/vm-spec.js';
import type { BridgeAcl, HostFacts } from './ports.js';

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
  reasons.push(...networkReasons(spec, host, facts));
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

/**
 * What the host lacks for the VM's NICs: the bridge of each tap or bridge NIC, and for bridge
 * NICs QEMU's bridge helper and an ACL that lets it use the bridge. Pure; each reason once.
 */
export function networkReasons(spec: VmSpec, host: string, facts: HostFacts): string[] {
  const reasons: string[] = [];
  for (const nic of virtioNics(spec)) {
    const netdev = nic.netdev;
    if (netdev.type !== 'tap' && netdev.type !== 'bridge') continue;
    const bridge = netdev.type === 'tap' ? netdev.bridge : netdev.br;
    const bridges = facts.bridges;
    if (bridges !== undefined && bridges !== null && !bridges.includes(bridge)) {
      reasons.push(`${host} has no bridge ${bridge} (NIC ${nic.id} of '${spec.name}'; ${bridges.length > 0 ? `it has ${bridges.join(', ')}` : 'it has no bridge'})`);
    }
    const helper = facts.bridgeHelper;
    if (netdev.type !== 'bridge' || helper === undefined || helper === null) continue;
    for (const problem of helper.problems) reasons.push(`the bridge helper on ${host}: ${problem} (NIC ${nic.id} of '${spec.name}'; inventory hosts.${host}.bridgeHelper)`);
    if (helper.acl) {
      const denied = bridgeAclRefusal(helper.acl, bridge);
      if (denied) reasons.push(`the bridge helper on ${host} may not use bridge ${bridge} (NIC ${nic.id} of '${spec.name}'): ${denied}`);
    }
  }
  return [...new Set(reasons)];
}

/** Why qemu-bridge-helper's ACL refuses `bridge`, or undefined when it allows it (deny wins over allow). Pure. */
export function bridgeAclRefusal(acl: BridgeAcl, bridge: string): string | undefined {
  if (acl.denyAll) return `${acl.file} says 'deny all'`;
  if (acl.deny.includes(bridge)) return `${acl.file} says 'deny ${bridge}'`;
  if (!acl.allowAll && !acl.allow.includes(bridge)) return `${acl.file} has no 'allow ${bridge}' (nor 'allow all'); the operator adds it there`;
  return undefined;
}

/**
 * Where the running source's NICs differ from the inventory's: a virtio-net device of the spec
 * that the source does not have (by id), that is another device, or that has another MAC.
 * `found` is the source's answer per device id (QemuMonitor.queryDeviceMac). Pure.
 */
export function sourceNicReasons(spec: VmSpec, host: string, found: ReadonlyMap<string, { type: string; mac: string | undefined } | undefined>): string[] {
  const reasons: string[] = [];
  for (const nic of virtioNics(spec)) {
    const device = found.get(nic.id);
    const where = `the inventory's NIC ${nic.id} (${nic.mac}) of '${spec.name}'`;
    if (device === undefined) reasons.push(`the source QEMU on ${host} has no device '${nic.id}' (${where}): it must run with id=${nic.id}`);
    else if (!device.type.startsWith('virtio-net')) reasons.push(`device '${nic.id}' of the source QEMU on ${host} is a ${device.type}, not a virtio-net NIC (${where})`);
    else if (device.mac !== nic.mac) reasons.push(`NIC ${nic.id} of the source QEMU on ${host} has MAC ${device.mac ?? 'none'}; the inventory says ${nic.mac}`);
  }
  return reasons;
}

/**
 * QEMU before 9.0 loses guest writes during migration when TCG runs the guest: its dirty
 * bitmap sync clears a RAM block's bits on a fast path (blocks whose offset and size are
 * multiples of 64 pages, which most guest RAM is) without resetting the TCG TLB, so stores
 * through entries cached before are not logged and never sent (QEMU commit 03bfc2188f,
 * "physmem: Fix migration dirty bitmap coherency with TCG memory access", in 9.0). KVM is not
 * affected. Not a refusal: TCG is for tests and emulation, where an operator may accept it;
 * said before anything starts. Pure.
 */
export function tcgDirtyTrackingWarning(version: { major: number; minor: number }, kvm: { enabled: boolean }, host: string): string | undefined {
  if (kvm.enabled || version.major >= 9) return undefined;
  return (
    `the source QEMU ${version.major}.${version.minor} on ${host} runs the guest under TCG, not KVM: QEMU before 9.0 can lose the guest's ` +
    `writes during a TCG migration (fixed in QEMU 9.0, commit 03bfc2188f), and the guest may crash or hold corrupt data after it moves; ` +
    `run it under KVM or on QEMU 9.0 or later (docs/operator-guide.md, "TCG sources")`
  );
}

/** Device types whose migration can ask the destination to approve the switchover (QEMU 8.1+). */
const SWITCHOVER_ACK_DEVICES: ReadonlySet<string> = new Set(['vfio-pci']);

/**
 * Whether to turn on `switchover-ack` (with the `return-path` it needs) on both sides: when
 * both QEMUs offer it and the guest has a device that may use it: a vfio-pci device, whose
 * driver can send initial state during pre-copy and have the destination load it before the
 * source stops (less downtime). Without such a device it buys nothing, so stays off; on QEMU
 * before 8.1 it does not exist. Pure; the device ids that want it, or none.
 */
export function switchoverAckDevices(
  source: ReadonlyMap<string, boolean>,
  destination: ReadonlyMap<string, boolean>,
  peripherals: readonly { id: string | undefined; path: string; type: string }[] | undefined,
): string[] {
  if (!source.has('switchover-ack') || !destination.has('switchover-ack')) return [];
  if (!source.has('return-path') || !destination.has('return-path')) return [];
  return (peripherals ?? []).filter((device) => SWITCHOVER_ACK_DEVICES.has(device.type)).map((device) => device.id ?? device.path);
}
