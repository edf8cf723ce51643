import { describe, expect, it } from '@jest/globals';
import { compareSides } from '../../../src/migration/compare-sides.js';
import type { GuestHardware, PciFunction } from '../../../src/qmp/hardware.js';

const MiB = 1024 * 1024;

function fn(slot: number, fields: Partial<PciFunction> = {}): PciFunction {
  return {
    bus: 0,
    slot,
    function: 0,
    vendor: 0x1af4,
    device: 0x1000,
    subsystemVendor: 0x1af4,
    subsystem: 0x0001,
    classCode: 0x0200,
    classDesc: 'Ethernet controller',
    qdevId: '',
    bars: [
      { bar: 0, type: 'io', sizeBytes: 32 },
      { bar: 1, type: 'memory', sizeBytes: 4096 },
    ],
    ...fields,
  };
}

const hostBridge = fn(0, { vendor: 0x8086, device: 0x29c0, classCode: 0x0600, classDesc: 'Host bridge', bars: [] });

/** nicmig's q35 guest with one virtio-net NIC, as QEMU 7.2 reports it. */
function guest(): GuestHardware {
  return {
    machineType: 'pc-q35-7.2',
    memdevs: [{ id: 'mem', sizeBytes: 256 * MiB }],
    ramBlocks: [
      { name: 'mem', usedBytes: 256 * MiB, maxBytes: 256 * MiB },
      { name: '/rom@etc/acpi/tables', usedBytes: 0x20000, maxBytes: 0x200000 },
      { name: 'pc.bios', usedBytes: 0x40000, maxBytes: 0x40000 },
      { name: '0000:00:01.0/virtio-net-pci.rom', usedBytes: 0x40000, maxBytes: 0x40000 },
    ],
    pci: [hostBridge, fn(1, { qdevId: 'net0' })],
    peripherals: [{ id: 'net0', path: '/machine/peripheral/net0', type: 'virtio-net-pci' }],
  };
}

describe('compareSides: the destination against the source, before anything stops', () => {
  it('finds nothing when the sides match', () => {
    expect(compareSides(guest(), guest(), 'hostB')).toEqual([]);
  });

  it('names a different machine type', () => {
    expect(compareSides(guest(), { ...guest(), machineType: 'pc-q35-10.0' }, 'hostB')).toEqual(['machine type: pc-q35-7.2 on the source, pc-q35-10.0 on hostB']);
  });

  it("names the source's RAM block the destination lacks, with what it has instead, once", () => {
    // A VM started by hand with -m: QEMU's default block pc.ram; the destination from the inventory: mem.
    const source = guest();
    source.ramBlocks = source.ramBlocks?.map((block) => (block.name === 'mem' ? { ...block, name: 'pc.ram' } : block));
    source.memdevs = [{ id: 'pc.ram', sizeBytes: 256 * MiB }];
    expect(compareSides(source, guest(), 'hostB')).toEqual(["RAM block 'pc.ram' (256 MiB) on the source has no counterpart on hostB (it has 'mem')"]);
  });

  it('names a RAM block only the destination has', () => {
    const destination = guest();
    destination.ramBlocks?.push({ name: 'extra', usedBytes: 16 * MiB, maxBytes: 16 * MiB });
    expect(compareSides(guest(), destination, 'hostB')).toEqual(["RAM block 'extra' (16 MiB) on hostB has no counterpart on the source"]);
  });

  it('names a RAM block of another size (different -m), said once for the backend behind it', () => {
    const destination = guest();
    destination.ramBlocks = destination.ramBlocks?.map((block) => (block.name === 'mem' ? { ...block, usedBytes: 512 * MiB, maxBytes: 512 * MiB } : block));
    destination.memdevs = [{ id: 'mem', sizeBytes: 512 * MiB }];
    expect(compareSides(guest(), destination, 'hostB')).toEqual(["RAM block 'mem': 256 MiB on the source, 512 MiB on hostB"]);
  });

  it('takes a resizable block (used below its maximum) that holds the source, as QEMU does, and not one that cannot', () => {
    const destination = guest();
    const tables = (used: number) => destination.ramBlocks?.map((block) => (block.name === '/rom@etc/acpi/tables' ? { ...block, usedBytes: used } : block));
    destination.ramBlocks = tables(0x10000);
    expect(compareSides(guest(), destination, 'hostB')).toEqual([]);
    const source = guest();
    source.ramBlocks = source.ramBlocks?.map((block) => (block.name === '/rom@etc/acpi/tables' ? { ...block, usedBytes: 0x400000, maxBytes: 0x400000 } : block));
    expect(compareSides(source, guest(), 'hostB')).toEqual(["RAM block '/rom@etc/acpi/tables': 4 MiB on the source, 128 KiB on hostB"]);
  });

  it('compares memory backends by id where no RAM block says it (a QEMU that cannot list its blocks)', () => {
    const source = { ...guest(), ramBlocks: undefined };
    const destination = { ...guest(), ramBlocks: undefined, memdevs: [{ id: 'mem', sizeBytes: 128 * MiB }, { id: 'spare', sizeBytes: MiB }] };
    expect(compareSides(source, destination, 'hostB')).toEqual(["memory backend 'mem': 256 MiB on the source, 128 MiB on hostB", "memory backend 'spare' (1 MiB) on hostB has no counterpart on the source"]);
  });

  it('names a PCI function the destination has and the source not, by its device model', () => {
    // What a destination QEMU started with an extra `-device virtio-rng-pci` (no id) shows.
    const destination = guest();
    destination.pci?.push(fn(2, { device: 0x1005, classCode: 0x00ff, classDesc: undefined, bars: [{ bar: 0, type: 'io', sizeBytes: 32 }] }));
    destination.peripherals?.push({ id: undefined, path: '/machine/peripheral-anon/device[0]', type: 'virtio-rng-pci', rootDevfn: 2 << 3 });
    expect(compareSides(guest(), destination, 'hostB')).toEqual(['PCI 00:02.0: nothing on the source, virtio-rng-pci (1af4:1005) on hostB']);
  });

  it('names a NIC the destination lacks once, with its id and ids, though its ROM and device are gone too', () => {
    const destination = guest();
    destination.pci = [hostBridge];
    destination.peripherals = [];
    destination.ramBlocks = destination.ramBlocks?.filter((block) => !block.name.endsWith('.rom'));
    expect(compareSides(guest(), destination, 'hostB')).toEqual([
      "RAM block '0000:00:01.0/virtio-net-pci.rom' (256 KiB) on the source has no counterpart on hostB",
      "PCI 00:01.0: virtio-net-pci 'net0' (1af4:1000) on the source, nothing on hostB",
    ]);
  });

  it('names another device model in the same slot', () => {
    const destination = guest();
    destination.pci = [hostBridge, fn(1, { qdevId: 'net0', vendor: 0x8086, device: 0x10d3 })];
    destination.peripherals = [{ id: 'net0', path: '/machine/peripheral/net0', type: 'e1000e' }];
    expect(compareSides(guest(), destination, 'hostB')).toEqual(["PCI 00:01.0: virtio-net-pci 'net0' (1af4:1000) on the source, e1000e 'net0' (8086:10d3) on hostB"]);
  });

  it('names what differs between functions of the same model: subsystem, class, BAR sizes', () => {
    const destination = guest();
    destination.pci = [hostBridge, fn(1, { qdevId: 'net0', subsystem: 0x0002, bars: [{ bar: 0, type: 'io', sizeBytes: 32 }, { bar: 1, type: 'memory', sizeBytes: 8192 }, { bar: 6, type: 'memory', sizeBytes: 0x40000 }] })];
    expect(compareSides(guest(), destination, 'hostB')).toEqual([
      "PCI 00:01.0 virtio-net-pci 'net0' (1af4:1000): subsystem 1af4:0001 on the source, 1af4:0002 on hostB; BAR 1 memory 4 KiB on the source, memory 8 KiB on hostB; ROM BAR none on the source, memory 256 KiB on hostB",
    ]);
  });

  it('compares devices behind bridges (not in query-pci on a destination started -S) by id and type, anonymous ones by count', () => {
    const source = guest();
    source.peripherals?.push({ id: 'disk0', path: '/machine/peripheral/disk0', type: 'virtio-blk-pci' }, { id: 'serial0', path: '/machine/peripheral/serial0', type: 'isa-serial' });
    const destination = guest();
    destination.peripherals?.push(
      { id: 'disk0', path: '/machine/peripheral/disk0', type: 'virtio-scsi-pci' },
      { id: undefined, path: '/machine/peripheral-anon/device[0]', type: 'isa-serial' },
    );
    expect(compareSides(source, destination, 'hostB')).toEqual([
      "device 'disk0': virtio-blk-pci on the source, virtio-scsi-pci on hostB",
      "device 'serial0' (isa-serial) on the source has no counterpart on hostB",
      'anonymous isa-serial devices (no id): 0 on the source, 1 on hostB',
    ]);
  });

  it('lists every difference at once, RAM before PCI before devices', () => {
    const destination = guest();
    destination.machineType = 'pc-i440fx-7.2';
    destination.ramBlocks = destination.ramBlocks?.map((block) => (block.name === 'mem' ? { ...block, usedBytes: 128 * MiB, maxBytes: 128 * MiB } : block));
    destination.pci?.push(fn(2, { qdevId: 'net1' }));
    destination.peripherals?.push({ id: 'net1', path: '/machine/peripheral/net1', type: 'virtio-net-pci' }, { id: 'watchdog', path: '/machine/peripheral/watchdog', type: 'ib700' });
    expect(compareSides(guest(), destination, 'hostB')).toEqual([
      'machine type: pc-q35-7.2 on the source, pc-i440fx-7.2 on hostB',
      "RAM block 'mem': 256 MiB on the source, 128 MiB on hostB",
      "PCI 00:02.0: nothing on the source, virtio-net-pci 'net1' (1af4:1000) on hostB",
      "device 'watchdog' (ib700) on hostB has no counterpart on the source",
    ]);
  });

  it('says nothing about a part one side cannot tell', () => {
    const blind: GuestHardware = { machineType: undefined, memdevs: undefined, ramBlocks: undefined, pci: undefined, peripherals: undefined };
    const other = { ...guest(), machineType: 'pc-q35-10.0', pci: [] };
    expect(compareSides(blind, other, 'hostB')).toEqual([]);
    expect(compareSides(other, blind, 'hostB')).toEqual([]);
  });
});
