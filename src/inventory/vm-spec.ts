import { z } from 'zod';

/**
 * A VM as nicmig knows it: enough to start the same machine again on a destination
 * (`-S -incoming defer`) with the destination's VF substituted. QEMU-shaped on purpose: the
 * local QEMU driver turns it into a command line, the simulator into a simulated VM.
 */

export const MAC_PATTERN = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

const mac = z.string().regex(MAC_PATTERN, 'expected a MAC address like 52:54:00:12:34:56').transform((value) => value.toLowerCase());
const deviceId = z.string().regex(NAME_PATTERN, 'expected a device id of letters, digits, _ . -');

export const VirtioNetDeviceSchema = z.strictObject({
  type: z.literal('virtio-net'),
  id: deviceId,
  mac,
  /** QEMU -netdev backend; `user` needs nothing on the host. */
  netdev: z.enum(['user', 'none']).default('user'),
});

export const VfioI40evfDeviceSchema = z.strictObject({
  type: z.literal('vfio-i40evf'),
  id: deviceId,
  /** The PF (network interface on the host) whose VF the VM gets. */
  pf: z.string().min(1),
  /** VF index on that PF, or `auto` to take a free one on the same network. */
  vf: z.union([z.number().int().min(0).max(127), z.literal('auto')]).default('auto'),
  /** MAC the host administrator sets for the VF (ip link set PF vf N mac ...). */
  mac: mac.optional(),
  vlan: z.number().int().min(0).max(4095).optional(),
  trust: z.boolean().default(false),
  spoofchk: z.boolean().default(true),
});

export const DeviceSchema = z.discriminatedUnion('type', [VirtioNetDeviceSchema, VfioI40evfDeviceSchema]);
export type DeviceSpec = z.infer<typeof DeviceSchema>;

export const VmSpecSchema = z
  .strictObject({
    name: z.string().regex(NAME_PATTERN, 'expected a VM name of letters, digits, _ . - (at most 63)'),
    machine: z.string().default('q35'),
    memoryMiB: z.number().int().min(16).max(4 * 1024 * 1024),
    vcpus: z.number().int().min(1).max(288).default(1),
    /**
     * Guest RAM backing. `file` maps a file (shared), so that tests and operators can read
     * guest memory; `{host}` and `{vm}` in the path are replaced per host.
     */
    memoryBackend: z
      .discriminatedUnion('type', [z.strictObject({ type: z.literal('ram') }), z.strictObject({ type: z.literal('file'), path: z.string().min(1) })])
      .default({ type: 'ram' }),
    devices: z.array(DeviceSchema).default([]),
    /** Extra QEMU arguments (real QEMU only); `{host}` and `{vm}` in them are replaced per host. */
    qemuArgs: z.array(z.string()).default([]),
  })
  .superRefine((spec, context) => {
    const seen = new Set<string>();
    spec.devices.forEach((device, index) => {
      if (seen.has(device.id)) context.addIssue({ code: 'custom', path: ['devices', index, 'id'], message: `duplicate device id '${device.id}'` });
      seen.add(device.id);
    });
  });
export type VmSpec = z.infer<typeof VmSpecSchema>;

export function hasVf(spec: VmSpec): boolean {
  return spec.devices.some((device) => device.type === 'vfio-i40evf');
}

/** Replaces `{host}` and `{vm}` in a path template. */
export function expandPath(template: string, host: string, vm: string): string {
  return template.replaceAll('{host}', host).replaceAll('{vm}', vm);
}
