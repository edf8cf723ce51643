import { QmpProtocolError } from './errors.js';
import type { MemdevInfo, ObjectPropertyInfo, PciDeviceInfo, PciInfo } from './schemas.js';

/**
 * What a QEMU's guest is made of, as far as a migration stream cares: the machine type, the
 * memory backends, the RAM blocks the stream sends by name, the PCI functions the guest sees,
 * and the devices by id and QOM type. Read through `QemuMonitor.guestHardware()`; each part is
 * undefined when that QEMU cannot tell (the command is missing). The decoders here are pure.
 */
export interface GuestHardware {
  /** Resolved (`pc-q35-7.2`), from `qom-get /machine type`. */
  machineType: string | undefined;
  memdevs: Memdev[] | undefined;
  ramBlocks: RamBlock[] | undefined;
  /** The PCI functions on the root buses (see `rootPciFunctions`). */
  pci: PciFunction[] | undefined;
  /** `-device`s: named under /machine/peripheral, anonymous under /machine/peripheral-anon. */
  peripherals: Peripheral[] | undefined;
}

/** A memory backend object (query-memdev). */
export interface Memdev {
  id: string | undefined;
  sizeBytes: number;
}

/**
 * A RAM block as `info ramblock` lists it. The stream names each block; the destination must
 * have a block of that name whose size it can take (`Unknown ramblock "pc.ram"` otherwise).
 */
export interface RamBlock {
  name: string;
  usedBytes: number;
  /** Larger than usedBytes for blocks QEMU may resize (ACPI tables): the most a load may ask. */
  maxBytes: number;
}

export interface PciBar {
  bar: number;
  type: string;
  sizeBytes: number;
}

/** One PCI function as the guest sees it (query-pci), without what the guest's firmware programs (addresses, IRQs). */
export interface PciFunction {
  bus: number;
  slot: number;
  function: number;
  vendor: number;
  device: number;
  subsystemVendor: number | undefined;
  subsystem: number | undefined;
  classCode: number;
  classDesc: string | undefined;
  /** The `-device id=`; '' for the machine's own functions and anonymous devices. */
  qdevId: string;
  bars: PciBar[];
}

/** A `-device` by QOM path and type; anonymous PCI devices on a root bus with their devfn. */
export interface Peripheral {
  /** `id=` of a named device; undefined for an anonymous one (`/machine/peripheral-anon/device[0]`). */
  id: string | undefined;
  path: string;
  type: string;
  /** For an anonymous PCI device plugged into a root bus: its devfn (slot << 3 | function). */
  rootDevfn?: number;
}

export const PERIPHERAL = '/machine/peripheral';
export const PERIPHERAL_ANON = '/machine/peripheral-anon';

/** 00:03.0, as lspci and QEMU's own messages write a PCI address. */
export function pciAddress(bus: number, slot: number, fn: number): string {
  return `${hex(bus, 2)}:${hex(slot, 2)}.${fn.toString(16)}`;
}

/** 1af4:1000 */
export function pciId(vendor: number, device: number): string {
  return `${hex(vendor, 4)}:${hex(device, 4)}`;
}

function hex(value: number, width: number): string {
  return value.toString(16).padStart(width, '0');
}

/**
 * The functions on each root bus. Bridges are listed as functions, but not what sits behind
 * them: QEMU lists a bridge's devices only once the guest's firmware has numbered its
 * secondary bus, which a destination started `-S` has not, so the two sides could not be
 * compared there (the devices behind are compared by id and type, as peripherals).
 */
export function rootPciFunctions(buses: readonly PciInfo[]): PciFunction[] {
  return buses.flatMap((bus) => bus.devices.map((device) => pciFunction(device)));
}

function pciFunction(device: PciDeviceInfo): PciFunction {
  return {
    bus: device.bus,
    slot: device.slot,
    function: device.function,
    vendor: device.id.vendor,
    device: device.id.device,
    subsystemVendor: device.id['subsystem-vendor'],
    subsystem: device.id.subsystem,
    classCode: device.class_info.class,
    classDesc: device.class_info.desc,
    qdevId: device.qdev_id,
    bars: device.regions.map((region) => ({ bar: region.bar, type: region.type, sizeBytes: region.size })),
  };
}

export function memdevsFrom(list: readonly MemdevInfo[]): Memdev[] {
  return list.map((entry) => ({ id: entry.id, sizeBytes: entry.size }));
}

/** The children of a peripheral container (`qom-list`): each `child<TYPE>` property is a device. */
export function peripheralsFrom(container: string, properties: readonly ObjectPropertyInfo[]): Peripheral[] {
  const peripherals: Peripheral[] = [];
  for (const property of properties) {
    const type = /^child<(.+)>$/.exec(property.type)?.[1];
    if (type === undefined) continue;
    peripherals.push({ id: container === PERIPHERAL ? property.name : undefined, path: `${container}/${property.name}`, type });
  }
  return peripherals;
}

/**
 * Whether a device's `parent_bus` (a QOM path) is a root bus: one the machine made
 * (`/machine/q35/pcie.0`, `/machine/i440fx/pci.0`), not a bus of a bridge given with -device.
 */
export function isRootBusPath(parentBus: string): boolean {
  return !parentBus.startsWith(`${PERIPHERAL}/`) && !parentBus.startsWith(`${PERIPHERAL_ANON}/`);
}

// "                  pc.ram    4 KiB  0x0000000000000000 0x0000000010000000 0x0000000010000000"
// QEMU 10.0 adds the host address and ro/rw columns; a name of 24 characters or more pushes
// the columns right by one space. PSize is size_to_str(): a number and a unit.
const RAM_BLOCK_LINE = /^\s*(.*?)\s*(\d+(?:\.\d+)? [KMGTPE]?i?B)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)(?:\s|$)/;

/**
 * The RAM blocks of `info ramblock` (x-query-ramblock's text, or HMP's, with \r\n). Blocks
 * without a name are left out: QEMU names a block when it registers it for migration
 * (vmstate_register_ram), so an unnamed one (a VFIO BAR's mapping) is never in the stream.
 */
export function parseRamBlockTable(text: string): RamBlock[] {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  const [header, ...rows] = lines;
  if (header === undefined || !/^\s*Block Name\s+PSize\s+Offset\s+Used\s+Total/.test(header)) {
    throw new QmpProtocolError('QMP_BAD_REPLY', `info ramblock: expected its header (Block Name, PSize, Offset, Used, Total), got ${JSON.stringify(header ?? '')}`);
  }
  const blocks: RamBlock[] = [];
  for (const row of rows) {
    const match = RAM_BLOCK_LINE.exec(row);
    if (!match) throw new QmpProtocolError('QMP_BAD_REPLY', `info ramblock: cannot read the line ${JSON.stringify(row)}`);
    const [, name = '', , , used = '', total = ''] = match;
    if (name === '') continue;
    blocks.push({ name, usedBytes: Number.parseInt(used, 16), maxBytes: Number.parseInt(total, 16) });
  }
  return blocks;
}
