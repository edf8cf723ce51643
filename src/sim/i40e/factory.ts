/**
 * Builds a VM's `vfio-i40evf` device from its VM spec entry on a simulated host: finds the PF,
 * takes the VF (a given index, or the first free one for `auto`), applies the host
 * administrator's settings from the spec (MAC, port VLAN, trust, spoofchk) as `ip link set`
 * would, and plugs a guest iavf driver model behind it.
 */
import type { z } from 'zod';
import type { VfioI40evfDeviceSchema } from '../../inventory/vm-spec.js';
import { SimError } from '../errors.js';
import { I40evfDevice } from './device.js';
import type { GuestDriverOptions } from './guest-driver.js';
import type { SimPf } from './pf.js';

export type VfioI40evfSpec = z.infer<typeof VfioI40evfDeviceSchema>;

export interface I40evfFactoryOptions {
  /** the guest driver model's options; false for none */
  guest?: GuestDriverOptions | false;
  /** the VM's QMP extension prefix (for the device's event name) */
  eventPrefix?: string;
  /**
   * Apply the spec's MAC/VLAN/trust/spoofchk to the VF. True on a host starting the VM; the
   * orchestrator's prepare phase may have done it already (then it changes nothing).
   */
  applyHostSettings?: boolean;
  /**
   * The whole VM, so that each of several i40evf devices gets its guest driver its own
   * guest memory (one slot of 0x50000 bytes each from 0x10000, below the workload's 1 MiB).
   */
  vm?: { devices: readonly { type: string; id: string }[] };
}

/** Where the guest driver of the VM's n-th i40evf device keeps its rings and buffers. */
export function guestDriverBase(slot: number): number {
  return 0x10000 + slot * 0x50000;
}

/** The PFs of one host, by interface name. */
export type PfLookup = ReadonlyMap<string, SimPf> | ((name: string) => SimPf | undefined);

export function createI40evfDevice(spec: VfioI40evfSpec, pfs: PfLookup, options: I40evfFactoryOptions = {}): I40evfDevice {
  const pf = typeof pfs === 'function' ? pfs(spec.pf) : pfs.get(spec.pf);
  if (!pf) {
    const known = typeof pfs === 'function' ? [] : [...pfs.keys()];
    throw new SimError('SIM_BAD_VM_SPEC', `device ${spec.id}: this host has no PF '${spec.pf}'${known.length > 0 ? ` (it has ${known.join(', ')})` : ''}`, { details: { device: spec.id, pf: spec.pf } });
  }
  const vf = spec.vf === 'auto' ? pf.freeVf() : pf.vfs[spec.vf];
  if (!vf) {
    const why = spec.vf === 'auto' ? `has no free VF (all ${pf.vfs.length} in use)` : `has no VF ${spec.vf} (it has ${pf.vfs.length})`;
    throw new SimError('SIM_BAD_VM_SPEC', `device ${spec.id}: PF ${pf.name} on ${pf.host} ${why}`, { details: { device: spec.id, pf: spec.pf, vf: spec.vf } });
  }
  if (vf.owner !== null || (vf.reservedBy !== null && spec.vf !== 'auto')) {
    throw new SimError('SIM_BAD_VM_SPEC', `device ${spec.id}: VF ${vf.index} of ${pf.name} on ${pf.host} is in use by ${vf.owner}`, { details: { device: spec.id, pf: spec.pf, vf: vf.index } });
  }
  // Several devices of one VM are built before any attaches: keep this VF from the next `auto`.
  vf.reservedBy = spec.id;
  if (options.applyHostSettings ?? true) pf.setVf(vf.index, { mac: spec.mac ?? null, vlan: spec.vlan ?? null, trust: spec.trust, spoofchk: spec.spoofchk });
  const slot = options.vm ? options.vm.devices.filter((d) => d.type === 'vfio-i40evf').findIndex((d) => d.id === spec.id) : 0;
  if (slot > 2) throw new SimError('SIM_BAD_VM_SPEC', `device ${spec.id}: the simulator's guest drivers fit at most 3 i40evf devices per VM`, { details: { device: spec.id } });
  const guest = options.guest === false ? false : { baseAddress: guestDriverBase(Math.max(0, slot)), ...(spec.mac ? { mac: spec.mac } : {}), ...options.guest };
  return new I40evfDevice({ id: spec.id, vf, guest, ...(options.eventPrefix ? { eventPrefix: options.eventPrefix } : {}) });
}
