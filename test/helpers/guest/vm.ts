import fs from 'node:fs';
import path from 'node:path';
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

/**
 * A command that runs QEMU `binary` with the guest's RAM (`-m N M` and its memory backend's
 * `size=N M`) 8 KiB short of N MiB, written into `dir`. For QEMU 7.2 under TCG: its dirty
 * bitmap sync clears the bits of a RAM block whose size is a multiple of 64 pages on a fast
 * path that does not reset the TCG TLB, so later guest stores are never sent and the guest
 * crashes after it moves (QEMU commit 03bfc2188f fixed it in 9.0; docs/operator-guide.md,
 * "TCG sources"). A block 8 KiB short takes the slow path, which resets the TLB. The source's
 * command line carries the odd size to the destination, so any destination QEMU runs as is.
 */
export function qemuWithGuestRamShort(dir: string, binary: string, memoryMiB: number): string {
  const file = path.join(dir, 'qemu-guest-ram-short');
  const short = `${memoryMiB * 1024 - 8}K`;
  fs.writeFileSync(
    file,
    [
      '#!/bin/bash',
      '# QEMU with the guest RAM 8 KiB short of a whole MiB (QEMU 7.2 TCG loses dirty pages of RAM blocks a multiple of 64 pages long).',
      'args=()',
      `for a in "$@"; do [ "$a" = "${memoryMiB}M" ] && a="${short}"; args+=("\${a//size=${memoryMiB}M/size=${short}}"); done`,
      `exec ${JSON.stringify(binary)} "\${args[@]}"`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return file;
}
