/**
 * One host's i40e PF: its VFs, the host administrator's per-VF settings, and the PF kernel's
 * limits (which differ between kernels, so two hosts can disagree about what a VF may hold).
 * VSI ids are per host: VF n has VSI `vsiBase + n`. The PF is plugged into the network by a
 * switch port: frames from the wire go to the VFs whose filters take them, frames from a VF
 * go to another VF of the same PF or onto the wire.
 */
import { resolveFacts, type DestinationFacts, type PfDevice } from '../../vfio/facts.js';
import type { ApiVersion } from '../../vfio/messages.js';
import { I40E } from '../../vfio/opcodes.js';
import { decodeFrame, encodeFrame, isMulticast } from '../network/frame.js';
import type { Network, NetworkPort } from '../network/switch.js';
import { SimVf, type VfAdminSettings } from './vf.js';

/** What the PF's kernel allows a VF. */
export interface PfLimits {
  /** the virtchnl version the PF answers VERSION with */
  apiVersion: ApiVersion;
  /** MAC filters an untrusted VF may hold (current i40e 18; older kernels 12, then 8) */
  maxMacFilters: number;
  /** VLAN filters an untrusted VF may hold (current i40e 16; older kernels 8) */
  maxVlanFilters: number;
  /** the most queue pairs a VF can have */
  numQueuePairs: number;
  /** queue pairs GET_VF_RESOURCES grants before REQUEST_QUEUES */
  defaultQueuePairs: number;
  maxVectors: number;
  maxMtu: number;
  /** the device family, which decides the capabilities i40e grants (docs/virtchnl-kernel.md) */
  device: PfDevice;
}

/** Limits of i40e PF drivers by kernel generation, as the reference gives them. */
export const KERNEL_LIMITS = {
  current: { maxMacFilters: I40E.MAX_UNTRUSTED_MACS, maxVlanFilters: I40E.MAX_UNTRUSTED_VLANS },
  older: { maxMacFilters: 12, maxVlanFilters: 8 },
  oldest: { maxMacFilters: 8, maxVlanFilters: 8 },
} as const;

export function defaultPfLimits(overrides: Partial<PfLimits> = {}): PfLimits {
  return {
    apiVersion: { major: 1, minor: 1 },
    ...KERNEL_LIMITS.current,
    numQueuePairs: 4,
    defaultQueuePairs: 4,
    maxVectors: 5,
    maxMtu: I40E.DEFAULT_MAX_MTU,
    device: 'xl710',
    ...overrides,
  };
}

export interface SimPfOptions {
  /** the host the PF is in, e.g. `hostA` */
  host: string;
  /** the PF's interface name, e.g. `enp1s0f0` (the VM spec's `pf`) */
  name: string;
  numVfs: number;
  /** VF n gets VSI vsiBase + n */
  vsiBase: number;
  limits?: Partial<PfLimits>;
  /** the network the PF's uplink is on (informational; the lab's name for it) */
  networkName?: string;
}

export interface PfCounters {
  rxFrames: number;
  /** frames from the wire no VF took */
  rxUnmatched: number;
  txFrames: number;
  /** VF to VF on the same PF, not on the wire */
  localFrames: number;
}

export interface VfInventoryEntry {
  vf: number;
  vsiId: number;
  owner: string | null;
  settings: VfAdminSettings;
  facts: DestinationFacts;
}

function defaultSettings(): VfAdminSettings {
  return { mac: null, vlan: null, trust: false, spoofchk: true };
}

export class SimPf {
  readonly host: string;
  readonly name: string;
  readonly vsiBase: number;
  readonly networkName: string;
  limits: PfLimits;
  readonly vfs: SimVf[];
  readonly counters: PfCounters = { rxFrames: 0, rxUnmatched: 0, txFrames: 0, localFrames: 0 };
  private port: NetworkPort | null = null;

  constructor(options: SimPfOptions) {
    if (!Number.isInteger(options.numVfs) || options.numVfs < 1 || options.numVfs > 128) throw new Error(`PF ${options.name}: ${options.numVfs} VFs is outside 1..128`);
    this.host = options.host;
    this.name = options.name;
    this.vsiBase = options.vsiBase;
    this.networkName = options.networkName ?? 'lab';
    this.limits = defaultPfLimits(options.limits);
    this.vfs = Array.from({ length: options.numVfs }, (_, i) => new SimVf(this, i, options.vsiBase + i, defaultSettings()));
  }

  vf(index: number): SimVf {
    const vf = this.vfs[index];
    if (!vf) throw new Error(`PF ${this.name} on ${this.host} has no VF ${index} (it has ${this.vfs.length})`);
    return vf;
  }

  /** The first VF nobody holds. */
  freeVf(): SimVf | undefined {
    return this.vfs.find((vf) => vf.owner === null && vf.reservedBy === null);
  }

  /**
   * `ip link set PF vf N mac/vlan/trust/spoofchk`: as i40e does, changing the MAC, the port
   * VLAN or trust resets a VF that is in use.
   */
  setVf(index: number, settings: Partial<VfAdminSettings>): void {
    const vf = this.vf(index);
    const next = { ...vf.settings, ...settings, ...(settings.mac ? { mac: settings.mac.toLowerCase() } : {}) };
    const needsReset = next.mac !== vf.settings.mac || next.vlan !== vf.settings.vlan || next.trust !== vf.settings.trust;
    vf.settings = next;
    if (needsReset && vf.state.vfVersion !== null) vf.pfReset();
  }

  factsFor(vf: SimVf): DestinationFacts {
    const l = this.limits;
    return {
      vsiId: vf.vsiId,
      apiVersion: { ...l.apiVersion },
      trusted: vf.settings.trust,
      maxMacFilters: l.maxMacFilters,
      maxVlanFilters: l.maxVlanFilters,
      portVlan: vf.settings.vlan,
      numQueuePairs: l.numQueuePairs,
      hostMac: vf.settings.mac,
      defaultQueuePairs: l.defaultQueuePairs,
      maxVectors: l.maxVectors,
      maxMtu: l.maxMtu,
      device: l.device,
      vfId: vf.index,
    };
  }

  inventory(): VfInventoryEntry[] {
    return this.vfs.map((vf) => ({ vf: vf.index, vsiId: vf.vsiId, owner: vf.owner, settings: { ...vf.settings }, facts: resolveFacts(this.factsFor(vf)) }));
  }

  /** Plugs the PF's uplink into the network (a switch port named `host/pf`). */
  async connect(network: Network): Promise<void> {
    this.port?.close();
    this.port = await network.attach(`${this.host}/${this.name}`, (frame) => this.fromWire(frame));
  }

  disconnect(): void {
    this.port?.close();
    this.port = null;
  }

  /** A frame from the wire: every VF whose filters take it gets a copy. */
  fromWire(frame: Buffer): void {
    const decoded = decodeFrame(frame);
    if (!decoded) return;
    this.counters.rxFrames++;
    let taken = 0;
    for (const vf of this.vfs) {
      const accepted = vf.accepts(decoded);
      if (accepted) {
        taken++;
        vf.receive(accepted);
      }
    }
    if (taken === 0) this.counters.rxUnmatched++;
  }

  /** A frame from a VF: port VLAN tag, then another local VF or the wire. */
  transmit(from: SimVf, frame: Buffer): void {
    let decoded = decodeFrame(frame);
    if (!decoded) return;
    if (from.settings.vlan !== null) decoded = { ...decoded, vlan: from.settings.vlan };
    let localUnicast = false;
    for (const vf of this.vfs) {
      if (vf === from) continue;
      const accepted = vf.accepts(decoded);
      if (!accepted) continue;
      this.counters.localFrames++;
      vf.receive(accepted);
      if (!isMulticast(decoded.dst)) localUnicast = true;
    }
    if (localUnicast) return;
    this.counters.txFrames++;
    this.port?.send(from.settings.vlan !== null ? encodeFrame(decoded) : frame);
  }
}

/** A PF as the orchestrator's preflight sees it (the sim host's `host-facts`). */
export function pfFacts(pf: SimPf): { name: string; numVfs: number; freeVfs: number; maxMacFilters: number; maxVlanFilters: number; numQueuePairs: number } {
  return {
    name: pf.name,
    numVfs: pf.vfs.length,
    freeVfs: pf.vfs.filter((vf) => vf.owner === null && vf.reservedBy === null).length,
    maxMacFilters: pf.limits.maxMacFilters,
    maxVlanFilters: pf.limits.maxVlanFilters,
    numQueuePairs: pf.limits.numQueuePairs,
  };
}
