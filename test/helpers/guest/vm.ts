import type { VmSpec } from '../../../src/inventory/vm-spec.js';
import type { GuestImage } from './image.js';

export interface GuestVmOptions {
  name: string;
  image: GuestImage;
  /** The guest's address with prefix, e.g. 198.51.100.10/24. */
  address: string;
  mac: string;
  /** The bridge on each host that nicmig attaches the NIC's tap to. */
  bridge: string;
  /** QEMU arguments of the serial console (GuestConsole.qemuArgs()). */
  consoleArgs: string[];
  memoryMiB?: number;
  /** The workload: buffer size and dirty rate. */
  workingSetMiB?: number;
  dirtyMiBPerSecond?: number;
  udpPort?: number;
  /** Pinned, so that QEMU 7.2 and 10.0 build the same machine (q35 is a different one on each). */
  machine?: string;
}

/**
 * The inventory entry of a real guest: Debian's kernel booted directly under TCG (KVM here
 * cannot boot a kernel), its virtio-net on a tap that nicmig makes on each host's bridge
 * (`netdev: {type: tap}`, named vm-net0), the serial console on the test's socket.
 */
export function guestVmSpec(options: GuestVmOptions): Partial<VmSpec> & { name: string; memoryMiB: number } {
  const append = [
    'console=ttyS0',
    'quiet',
    'panic=-1',
    `nicmig.ip=${options.address}`,
    `nicmig.wss=${options.workingSetMiB ?? 32}`,
    `nicmig.dirty=${options.dirtyMiBPerSecond ?? 4}`,
    `nicmig.udp=${options.udpPort ?? 7}`,
  ].join(' ');
  return {
    name: options.name,
    machine: options.machine ?? 'pc-q35-7.2',
    memoryMiB: options.memoryMiB ?? 256,
    vcpus: 1,
    devices: [{ type: 'virtio-net', id: 'net0', mac: options.mac, netdev: { type: 'tap', bridge: options.bridge } }],
    qemuArgs: [
      '-kernel',
      options.image.kernel,
      '-initrd',
      options.image.initrd,
      '-append',
      append,
      ...options.consoleArgs,
    ],
  };
}
