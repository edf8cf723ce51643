import type { VmSpec } from '../../../src/inventory/vm-spec.js';
import type { GuestImage } from './image.js';

export interface GuestVmOptions {
  name: string;
  image: GuestImage;
  /** The guest's address with prefix, e.g. 198.51.100.10/24. */
  address: string;
  mac: string;
  /** The tap interface on each host's bridge (GuestFabric.tap). */
  tap: string;
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
 * cannot boot a kernel), its virtio-net on a tap, the serial console on the test's socket.
 * The NIC is written in qemuArgs, as an operator would for a backend nicmig does not model.
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
    qemuArgs: [
      '-kernel',
      options.image.kernel,
      '-initrd',
      options.image.initrd,
      '-append',
      append,
      '-netdev',
      `tap,id=n0,ifname=${options.tap},script=no,downscript=no`,
      '-device',
      `virtio-net-pci,netdev=n0,mac=${options.mac}`,
      ...options.consoleArgs,
    ],
  };
}
