/**
 * A simulated host as its own process (`nicmig sim host`) with an i40e PF: the PF's VFs back
 * the VMs' `vfio-i40evf` devices, and its uplink is a port of a switch in another process
 * (`nicmig sim switch`), so VMs on several host processes share one network.
 */
import type { SimQemuVersion } from '../inventory/sim-qemu-version.js';
import { DEFAULT_EXTENSION_PREFIX } from '../qmp/monitor.js';
import { SimError } from '../sim/errors.js';
import { SimHost } from '../sim/host.js';
import { createI40evfDevice, KERNEL_LIMITS, pfFacts, SimPf } from '../sim/i40e/index.js';
import { SocketNetwork } from '../sim/network/socket-switch.js';

export type KernelGeneration = keyof typeof KERNEL_LIMITS;
export const KERNEL_GENERATIONS = Object.keys(KERNEL_LIMITS) as KernelGeneration[];

export interface PfHostOptions {
  name: string;
  dir: string;
  dirtyPagesPerSecond: number;
  extensionPrefix?: string;
  pf: string;
  vfs: number;
  /** VF n gets VSI vsiBase + n; derived from the host name when absent */
  vsiBase?: number;
  limits: KernelGeneration;
  /** the unix socket of the switch the PF's uplink plugs into; none: the PF is on no network */
  switchSocket?: string;
  /** The QEMU version the host's VMs present; 7.2 by default. */
  qemuVersion?: SimQemuVersion;
  log: (message: string) => void;
}

/**
 * A VSI base per host name (FNV-1a), so that two hosts started without `--vsi-base` give
 * their VFs different VSI ids, as two real PFs do, and the replay's vsi_id rewrite matters.
 * 16 .. 392 in steps of 8.
 */
export function defaultVsiBase(hostName: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(hostName, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return 16 + (hash % 48) * 8;
}

export interface PfHost {
  host: SimHost;
  pf: SimPf;
  /** Stops every VM (their VFs are released), unplugs the PF, removes the sockets. */
  stop(): Promise<void>;
}

/** Builds the PF, plugs it into the switch, then opens the host (host.json appears last: ready). */
export async function startPfHost(options: PfHostOptions): Promise<PfHost> {
  const extensionPrefix = options.extensionPrefix ?? DEFAULT_EXTENSION_PREFIX;
  const pf = new SimPf({
    host: options.name,
    name: options.pf,
    numVfs: options.vfs,
    vsiBase: options.vsiBase ?? defaultVsiBase(options.name),
    limits: KERNEL_LIMITS[options.limits],
    ...(options.switchSocket ? { networkName: options.switchSocket } : {}),
  });
  const pfs = new Map([[pf.name, pf]]);
  const host = new SimHost({
    name: options.name,
    dir: options.dir,
    ...(options.qemuVersion ? { qemuVersion: options.qemuVersion } : {}),
    dirtyPagesPerSecond: options.dirtyPagesPerSecond,
    extensionPrefix,
    log: options.log,
    deviceFactory: (device, vm) => (device.type === 'vfio-i40evf' ? createI40evfDevice(device, pfs, { eventPrefix: extensionPrefix, vm }) : undefined),
    pfFacts: () => [pfFacts(pf)],
  });
  if (options.switchSocket) {
    try {
      await pf.connect(new SocketNetwork(options.switchSocket));
    } catch (error) {
      throw new SimError('SIM_HOST_FAILED', `host ${options.name}: cannot plug PF ${pf.name} into the switch ${options.switchSocket}: ${(error as Error).message}`, {
        cause: error,
        hint: 'is nicmig sim switch running on that socket?',
      });
    }
    options.log(`host ${options.name}: QEMU ${host.profile.version}; PF ${pf.name} (${options.vfs} VFs, VSI ${pf.vsiBase}.., ${options.limits} kernel limits) on the switch ${options.switchSocket}`);
  } else {
    options.log(`host ${options.name}: QEMU ${host.profile.version}; PF ${pf.name} (${options.vfs} VFs, VSI ${pf.vsiBase}.., ${options.limits} kernel limits) on no network`);
  }
  const stop = async (): Promise<void> => {
    await host.stop();
    // VMs detach their devices as they exit; a VF still held here would be a bug elsewhere.
    for (const vf of pf.vfs) if (vf.owner !== null) vf.unbind();
    pf.disconnect();
  };
  try {
    await host.start();
  } catch (error) {
    await stop();
    throw error;
  }
  return { host, pf, stop };
}
