import crypto from 'node:crypto';
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

/** Linux's limit on an interface name (IFNAMSIZ 16, with its NUL). */
export const IFNAME_MAX = 15;
/** An interface name as nicmig accepts one: no space, `/`, `:` or `,` (QEMU's option separator). */
const IFNAME_PATTERN = /^[A-Za-z0-9_.-]{1,15}$/;
/** The same with `{host}` and `{vm}` in it, checked against the limit once expanded (inventory.ts). */
const IFNAME_TEMPLATE_PATTERN = /^(?:[A-Za-z0-9_.-]|\{host\}|\{vm\})+$/;

const interfaceName = z.string().regex(IFNAME_PATTERN, `expected an interface name of letters, digits, _ . - (at most ${IFNAME_MAX})`);

/**
 * A virtio-net NIC's backend on the host. `user`: QEMU's user network, nothing on the host.
 * `none`: no backend. `tap`: a tap interface that nicmig creates on each host (in the host's
 * network namespace) and attaches to `bridge` before QEMU starts, and removes once that host's
 * QEMU is gone. `bridge`: QEMU's bridge helper makes the tap and attaches it to `br`.
 * The strings `user` and `none` stand for `{type: user}` and `{type: none}`.
 */
export const NetdevSchema = z.preprocess(
  (value) => (typeof value === 'string' ? { type: value } : value),
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('user') }),
    z.strictObject({ type: z.literal('none') }),
    z.strictObject({
      type: z.literal('tap'),
      /** Default: `<vm>-<id>`, or a short form of it within 15 characters (tapInterfaceName). */
      ifname: z
        .string()
        .regex(IFNAME_TEMPLATE_PATTERN, `expected an interface name of letters, digits, _ . - and {host} or {vm} (at most ${IFNAME_MAX} once expanded)`)
        .optional(),
      /** The Linux bridge on every host that the tap joins. */
      bridge: interfaceName,
    }),
    z.strictObject({ type: z.literal('bridge'), br: interfaceName }),
  ]),
);
export type NetdevSpec = z.infer<typeof NetdevSchema>;

export const VirtioNetDeviceSchema = z.strictObject({
  type: z.literal('virtio-net'),
  id: deviceId,
  mac,
  netdev: NetdevSchema.default({ type: 'user' }),
});
export type VirtioNetDevice = z.infer<typeof VirtioNetDeviceSchema>;

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
    /**
     * How the destination's virtio-net NICs are announced once it runs (docs/configuration.md):
     * `auto` relies on QEMU's own announce after an incoming migration when its rounds are on,
     * and sends `announce-self` when they are off; `always` sends it in any case. The timing is
     * announce-self's (QEMU's limits).
     */
    announce: z
      .strictObject({
        send: z.enum(['auto', 'always']).default('auto'),
        rounds: z.number().int().min(1).max(1000).default(5),
        initialMs: z.number().int().min(0).max(100_000).default(50),
        maxMs: z.number().int().min(0).max(100_000).default(550),
        stepMs: z.number().int().min(1).max(10_000).default(100),
      })
      .prefault({}),
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

/** The virtio-net NICs of a VM. */
export function virtioNics(spec: VmSpec): VirtioNetDevice[] {
  return spec.devices.filter((device): device is VirtioNetDevice => device.type === 'virtio-net');
}

/**
 * The name of a tap NIC's interface on `host`: its `ifname` with `{host}` and `{vm}` expanded,
 * or by default `<vm>-<id>`, shortened within Linux's 15 characters to the VM name's first 8
 * and a hash of both when longer. Pure; the inventory checks the length of every expansion.
 */
export function tapInterfaceName(vm: string, device: { id: string; netdev: NetdevSpec }, host: string): string {
  if (device.netdev.type !== 'tap') throw new Error(`device ${device.id} of ${vm} has no tap`);
  if (device.netdev.ifname !== undefined) return expandPath(device.netdev.ifname, host, vm);
  const plain = `${vm}-${device.id}`;
  if (plain.length <= IFNAME_MAX) return plain;
  const hash = crypto.createHash('sha256').update(`${vm}/${device.id}`).digest('hex').slice(0, 6);
  return `${vm.slice(0, IFNAME_MAX - 7)}-${hash}`;
}

/** Why an expanded interface name is not one Linux takes, or undefined. */
export function interfaceNameProblem(name: string): string | undefined {
  if (name.length > IFNAME_MAX) return `'${name}' is ${name.length} characters; Linux allows ${IFNAME_MAX}`;
  if (!IFNAME_PATTERN.test(name) || name === '.' || name === '..') return `'${name}' is not an interface name`;
  return undefined;
}

/** The taps nicmig makes for a VM on a host, in device order. */
export function tapPlan(spec: VmSpec, host: string): { device: string; ifname: string; bridge: string; mac: string }[] {
  return virtioNics(spec).flatMap((device) =>
    device.netdev.type === 'tap' ? [{ device: device.id, ifname: tapInterfaceName(spec.name, device, host), bridge: device.netdev.bridge, mac: device.mac }] : [],
  );
}
