import type { VirtioNetDevice, VmSpec } from '../inventory/vm-spec.js';
import { expandPath, tapInterfaceName } from '../inventory/vm-spec.js';

export interface QemuLaunch {
  host: string;
  qmpPath: string;
  pidFile: string;
  accel: 'kvm' | 'tcg';
  paused: boolean;
  incoming: boolean;
  /** Replaces the spec's machine (an alias such as `q35`) with a resolved type. */
  machineType?: string;
  /** `-daemonize` (the default); false for a process nicmig supervises, its stderr in a log. */
  daemonize?: boolean;
  /** The bridge helper for `netdev: {type: bridge}` NICs (`helper=`); QEMU's built-in default when absent. */
  bridgeHelper?: string;
}

/**
 * The QEMU command line for a VM spec. Pure. A named memory backend always, so the RAM block
 * names match between source and destination; `-daemonize` so the VM outlives nicmig and so
 * the launching process returns once QEMU is initialised and its QMP socket listens.
 */
export function qemuArguments(spec: VmSpec, launch: QemuLaunch): string[] {
  const args = ['-name', spec.name, '-nodefaults', '-no-user-config', '-display', 'none'];
  const backend =
    spec.memoryBackend.type === 'file'
      ? `memory-backend-file,id=mem,size=${spec.memoryMiB}M,mem-path=${expandPath(spec.memoryBackend.path, launch.host, spec.name)},share=on`
      : `memory-backend-ram,id=mem,size=${spec.memoryMiB}M`;
  args.push('-machine', `${launch.machineType ?? spec.machine},memory-backend=mem`, '-m', `${spec.memoryMiB}M`, '-object', backend, '-smp', String(spec.vcpus));
  if (launch.accel === 'kvm') args.push('-accel', 'kvm', '-accel', 'tcg');
  else args.push('-accel', 'tcg');
  for (const device of spec.devices) {
    if (device.type === 'virtio-net') {
      args.push(...virtioNetArguments(spec.name, device, launch));
    } else {
      // The patched QEMU's device; a stock QEMU refuses it at start, which preflight reports.
      args.push('-device', `vfio-i40evf,id=${device.id},pf=${device.pf},vf=${device.vf}`);
    }
  }
  args.push('-qmp', `unix:${launch.qmpPath},server=on,wait=off`, '-pidfile', launch.pidFile);
  if (launch.daemonize !== false) args.push('-daemonize');
  if (launch.paused) args.push('-S');
  if (launch.incoming) args.push('-incoming', 'defer');
  // `{host}` and `{vm}` expand per host, as in the memory file's path: a tap, a log, a serial socket.
  args.push(...spec.qemuArgs.map((arg) => expandPath(arg, launch.host, spec.name)));
  return args;
}

/**
 * A virtio-net NIC's `-netdev` (its backend `<id>-backend`) and `-device`. A tap is opened by
 * name, never configured by QEMU (`script=no`): nicmig made it and attached it (hosts/taps.ts).
 */
export function virtioNetArguments(vm: string, device: VirtioNetDevice, launch: Pick<QemuLaunch, 'host' | 'bridgeHelper'>): string[] {
  const backend = `${device.id}-backend`;
  const nic = `virtio-net-pci,id=${device.id},netdev=${backend},mac=${device.mac}`;
  const netdev = device.netdev;
  switch (netdev.type) {
    case 'none':
      return ['-device', `virtio-net-pci,id=${device.id},mac=${device.mac}`];
    case 'user':
      return ['-netdev', `user,id=${backend}`, '-device', nic];
    case 'tap':
      return ['-netdev', `tap,id=${backend},ifname=${tapInterfaceName(vm, device, launch.host)},script=no,downscript=no`, '-device', nic];
    case 'bridge': {
      // A comma in an option value is written twice (QEMU's option syntax).
      const helper = launch.bridgeHelper === undefined ? '' : `,helper=${launch.bridgeHelper.replaceAll(',', ',,')}`;
      return ['-netdev', `bridge,id=${backend},br=${netdev.br}${helper}`, '-device', nic];
    }
  }
}
