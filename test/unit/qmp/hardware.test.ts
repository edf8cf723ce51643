import { describe, expect, it } from '@jest/globals';
import { QmpClient } from '../../../src/qmp/client.js';
import { parseRamBlockTable, pciAddress, rootPciFunctions } from '../../../src/qmp/hardware.js';
import { QemuMonitor } from '../../../src/qmp/monitor.js';
import { FakeQmpStream, GREETING } from '../../helpers/fake-qmp-stream.js';

// x-query-ramblock of nicmig's q35 guest with one virtio-net NIC, 256 MiB (QEMU 7.2.22, Debian 12).
const QEMU_7_2 =
  '              Block Name    PSize              Offset               Used              Total\n' +
  '                     mem    4 KiB  0x0000000000000000 0x0000000010000000 0x0000000010000000\n' +
  '    /rom@etc/acpi/tables    4 KiB  0x00000000100c0000 0x0000000000020000 0x0000000000200000\n' +
  '                 pc.bios    4 KiB  0x0000000010000000 0x0000000000040000 0x0000000000040000\n' +
  '0000:00:01.0/virtio-net-pci.rom    4 KiB  0x0000000010080000 0x0000000000040000 0x0000000000040000\n' +
  '                  pc.rom    4 KiB  0x0000000010040000 0x0000000000020000 0x0000000000020000\n' +
  '   /rom@etc/table-loader    4 KiB  0x00000000102c0000 0x0000000000001000 0x0000000000010000\n' +
  '      /rom@etc/acpi/rsdp    4 KiB  0x0000000010300000 0x0000000000001000 0x0000000000001000\n';

// The same guest on QEMU 10.0: the host address and ro/rw columns added.
const QEMU_10_0 =
  '              Block Name    PSize              Offset               Used              Total                HVA  RO\n' +
  '                     mem    4 KiB  0x0000000000000000 0x0000000010000000 0x0000000010000000 0x00007fce6be00000  rw\n' +
  '    /rom@etc/acpi/tables    4 KiB  0x00000000100c0000 0x0000000000020000 0x0000000000200000 0x00007fcec1000000  ro\n' +
  '0000:00:01.0/virtio-net-pci.rom    4 KiB  0x0000000010080000 0x0000000000040000 0x0000000000040000 0x00007fcec1400000  ro\n';

describe('parseRamBlockTable', () => {
  it("reads QEMU 7.2's table: names (a long one pushes the columns right), used and maximum sizes", () => {
    const blocks = parseRamBlockTable(QEMU_7_2);
    expect(blocks.map((b) => b.name)).toEqual(['mem', '/rom@etc/acpi/tables', 'pc.bios', '0000:00:01.0/virtio-net-pci.rom', 'pc.rom', '/rom@etc/table-loader', '/rom@etc/acpi/rsdp']);
    expect(blocks[0]).toEqual({ name: 'mem', usedBytes: 256 * 1024 * 1024, maxBytes: 256 * 1024 * 1024 });
    expect(blocks[1]).toEqual({ name: '/rom@etc/acpi/tables', usedBytes: 0x20000, maxBytes: 0x200000 });
  });

  it("reads QEMU 10.0's wider table, and HMP's with \\r\\n, the same", () => {
    expect(parseRamBlockTable(QEMU_10_0)).toEqual(parseRamBlockTable(QEMU_7_2).filter((b) => ['mem', '/rom@etc/acpi/tables', '0000:00:01.0/virtio-net-pci.rom'].includes(b.name)));
    expect(parseRamBlockTable(QEMU_7_2.replaceAll('\n', '\r\n'))).toEqual(parseRamBlockTable(QEMU_7_2));
  });

  it('leaves out blocks without a name (never registered for migration: not in the stream), keeps names with digits and huge pages', () => {
    const text = `${QEMU_7_2.split('\n')[0]}\n${' '.repeat(24)}    4 KiB  0x0000000010400000 0x0000000000010000 0x0000000000010000\n                    mem2    2 MiB  0x0000000000000000 0x0000000040000000 0x0000000040000000\n`;
    expect(parseRamBlockTable(text)).toEqual([{ name: 'mem2', usedBytes: 1 << 30, maxBytes: 1 << 30 }]);
  });

  it('refuses text that is not the table, naming what it got', () => {
    expect(() => parseRamBlockTable('unknown command: \'info ramblock\'\r\n')).toThrow(/expected its header/);
    expect(() => parseRamBlockTable(`${QEMU_7_2}garbage here\n`)).toThrow(/cannot read the line "garbage here"/);
  });
});

describe('rootPciFunctions', () => {
  it('lists the functions of each root bus, a bridge as a function without what sits behind it', () => {
    const device = (slot: number, extra: Record<string, unknown> = {}) => ({
      bus: 0, slot, function: 0, class_info: { class: 0x0604, desc: 'PCI bridge' }, id: { device: 0x000c, vendor: 0x1b36 }, irq_pin: 1, qdev_id: 'rp1', regions: [], ...extra,
    });
    const behind = { ...device(0), bus: 1, qdev_id: 'net1' };
    const functions = rootPciFunctions([{ bus: 0, devices: [device(2, { pci_bridge: { bus: { number: 0, secondary: 1, subordinate: 1 }, devices: [behind] } })] }]);
    expect(functions).toHaveLength(1);
    expect(functions[0]).toMatchObject({ slot: 2, qdevId: 'rp1', vendor: 0x1b36, subsystemVendor: undefined });
    expect(pciAddress(0, 0x1f, 3)).toBe('00:1f.3');
  });
});

/** A monitor on a fake QEMU answering `answer(command, args)`: a return value, or an error class and text. */
async function monitorAnswering(answer: (command: string, args: Record<string, unknown> | undefined) => { return: unknown } | { error: { class: string; desc: string } }) {
  const stream = new FakeQmpStream();
  stream.autoNegotiate((message) => answer(String(message.execute), message.arguments as Record<string, unknown> | undefined));
  const attaching = QmpClient.attach(stream, { peerName: 'fake' });
  stream.send(GREETING);
  return { monitor: new QemuMonitor(await attaching), stream };
}

const notFound = (command: string) => ({ error: { class: 'CommandNotFound', desc: `The command ${command} has not been found` } });

describe('QemuMonitor.guestHardware', () => {
  it('reads the RAM blocks through HMP where QEMU has no x-query-ramblock, and an anonymous PCI device with its slot', async () => {
    const { monitor, stream } = await monitorAnswering((command, args) => {
      switch (command) {
        case 'qom-get':
          if (args?.path === '/machine') return { return: 'pc-q35-7.2-machine' };
          if (args?.path === '/machine/peripheral-anon/device[0]') return { return: args.property === 'addr' ? 16 : '/machine/q35/pcie.0' };
          return { error: { class: 'GenericError', desc: `Property 'isa-serial.${String(args?.property)}' not found` } };
        case 'query-memdev':
          return { return: [{ id: 'mem', size: 64 << 20, merge: true, dump: true, prealloc: false, share: false, reserve: true, 'host-nodes': [], policy: 'default' }] };
        case 'x-query-ramblock':
          return notFound(command);
        case 'human-monitor-command':
          return { return: QEMU_7_2.replaceAll('\n', '\r\n') };
        case 'query-pci':
          return { return: [{ bus: 0, devices: [] }] };
        case 'qom-list':
          return args?.path === '/machine/peripheral'
            ? { return: [{ name: 'type', type: 'string' }, { name: 'net0', type: 'child<virtio-net-pci>' }] }
            : { return: [{ name: 'type', type: 'string' }, { name: 'device[0]', type: 'child<virtio-rng-pci>' }, { name: 'device[1]', type: 'child<isa-serial>' }] };
        default:
          return notFound(command);
      }
    });
    const hardware = await monitor.guestHardware();
    monitor.disconnect();
    expect(stream.written.some((m) => m.execute === 'human-monitor-command' && (m.arguments as Record<string, unknown>)['command-line'] === 'info ramblock')).toBe(true);
    expect(hardware.machineType).toBe('pc-q35-7.2');
    expect(hardware.memdevs).toEqual([{ id: 'mem', sizeBytes: 64 << 20 }]);
    expect(hardware.ramBlocks?.map((b) => b.name)).toContain('0000:00:01.0/virtio-net-pci.rom');
    expect(hardware.pci).toEqual([]);
    expect(hardware.peripherals).toEqual([
      { id: 'net0', path: '/machine/peripheral/net0', type: 'virtio-net-pci' },
      { id: undefined, path: '/machine/peripheral-anon/device[0]', type: 'virtio-rng-pci', rootDevfn: 16 },
      { id: undefined, path: '/machine/peripheral-anon/device[1]', type: 'isa-serial' },
    ]);
  });

  it('leaves undefined what a QEMU cannot tell, and fails on what it answers wrongly', async () => {
    const blind = await monitorAnswering((command) => notFound(command));
    await expect(blind.monitor.guestHardware()).resolves.toEqual({ machineType: undefined, memdevs: undefined, ramBlocks: undefined, pci: undefined, peripherals: undefined });
    blind.monitor.disconnect();
    const broken = await monitorAnswering((command) => (command === 'query-pci' ? { return: [{ bus: 'zero' }] } : notFound(command)));
    await expect(broken.monitor.guestHardware()).rejects.toMatchObject({ code: 'QMP_BAD_REPLY' });
    broken.monitor.disconnect();
  });
});
