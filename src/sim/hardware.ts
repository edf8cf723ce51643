/**
 * The guest hardware of a simulated QEMU 7.2 as its monitor reports it: what nicmig's command
 * line (src/hosts/qemu-args.ts: `-nodefaults`, a memory backend named `mem`, one `-device` per
 * NIC in the spec's order) gives on Debian 12's QEMU 7.2, recorded with query-memdev,
 * x-query-ramblock, query-pci and qom-list (test/conformance: the same scenario against both).
 * Objects are built in QAPI's member order, for the QDict order of the writer. Pure.
 *
 * A simulated VM has no firmware, so nothing programs its BARs or IRQ lines: they read as QEMU
 * reports them before its firmware ran (address -1, irq 0), also once the VM runs.
 */

export type SimNicModel = 'virtio-net-pci' | 'vfio-i40evf';

export interface SimNic {
  /** The `-device id=`. */
  id: string;
  model: SimNicModel;
  /** `mac=` of a virtio-net NIC (qom-get <nic> mac); QEMU's default when absent. */
  mac?: string;
}

export interface SimHardwareOptions {
  /** Resolved: `pc-q35-7.2`, `pc-i440fx-7.2`. */
  machineType: string;
  memoryBytes: number;
  /** memory-backend-file,share=on (the spec's `memoryBackend: file`). */
  memoryShared: boolean;
  nics: readonly SimNic[];
}

interface Region {
  bar: number;
  type: 'io' | 'memory';
  size: number;
  prefetch?: boolean;
  mem64?: boolean;
}

interface PciFunctionModel {
  slot: number;
  function: number;
  classCode: number;
  classDesc: string;
  vendor: number;
  device: number;
  subsystemVendor: number;
  subsystem: number;
  irqPin: number;
  qdevId: string;
  regions: Region[];
  /** The option ROM's RAM block (`0000:00:01.0/virtio-net-pci.rom`), when the model has one. */
  romBytes?: number;
  model?: SimNicModel;
  mac?: string;
}

const KiB = 1024;
/** QEMU's own PCI functions (subsystem 1af4:1100, QEMU's). */
const QEMU_SUBSYSTEM = { subsystemVendor: 0x1af4, subsystem: 0x1100 };

/** q35 (ICH9) with -nodefaults: host bridge, LPC/ISA bridge, AHCI, SMBus. Devices from slot 1. */
const Q35_BUILTIN: PciFunctionModel[] = [
  { slot: 0, function: 0, classCode: 0x0600, classDesc: 'Host bridge', vendor: 0x8086, device: 0x29c0, ...QEMU_SUBSYSTEM, irqPin: 0, qdevId: '', regions: [] },
  { slot: 31, function: 0, classCode: 0x0601, classDesc: 'ISA bridge', vendor: 0x8086, device: 0x2918, ...QEMU_SUBSYSTEM, irqPin: 0, qdevId: '', regions: [] },
  {
    slot: 31,
    function: 2,
    classCode: 0x0106,
    classDesc: 'SATA controller',
    vendor: 0x8086,
    device: 0x2922,
    ...QEMU_SUBSYSTEM,
    irqPin: 1,
    qdevId: '',
    regions: [
      { bar: 4, type: 'io', size: 32 },
      { bar: 5, type: 'memory', size: 4 * KiB, prefetch: false, mem64: false },
    ],
  },
  { slot: 31, function: 3, classCode: 0x0c05, classDesc: 'SMBus', vendor: 0x8086, device: 0x2930, ...QEMU_SUBSYSTEM, irqPin: 1, qdevId: '', regions: [{ bar: 4, type: 'io', size: 64 }] },
];

/** pc (i440FX, PIIX3) with -nodefaults: host bridge, ISA bridge, IDE, ACPI. Devices from slot 2. */
const I440FX_BUILTIN: PciFunctionModel[] = [
  { slot: 0, function: 0, classCode: 0x0600, classDesc: 'Host bridge', vendor: 0x8086, device: 0x1237, ...QEMU_SUBSYSTEM, irqPin: 0, qdevId: '', regions: [] },
  { slot: 1, function: 0, classCode: 0x0601, classDesc: 'ISA bridge', vendor: 0x8086, device: 0x7000, ...QEMU_SUBSYSTEM, irqPin: 0, qdevId: '', regions: [] },
  { slot: 1, function: 1, classCode: 0x0101, classDesc: 'IDE controller', vendor: 0x8086, device: 0x7010, ...QEMU_SUBSYSTEM, irqPin: 0, qdevId: '', regions: [{ bar: 4, type: 'io', size: 16 }] },
  { slot: 1, function: 3, classCode: 0x0680, classDesc: 'Bridge', vendor: 0x8086, device: 0x7113, ...QEMU_SUBSYSTEM, irqPin: 1, qdevId: '', regions: [] },
];

/** A NIC as the guest sees it. The VF: an XL710 VF (8086:154c) as vfio presents it, no INTx, no ROM. */
function nicFunction(nic: SimNic, slot: number, defaultMac: () => string): PciFunctionModel {
  if (nic.model === 'virtio-net-pci') {
    return {
      slot,
      function: 0,
      classCode: 0x0200,
      classDesc: 'Ethernet controller',
      vendor: 0x1af4,
      device: 0x1000,
      subsystemVendor: 0x1af4,
      subsystem: 0x0001,
      irqPin: 1,
      qdevId: nic.id,
      regions: [
        { bar: 0, type: 'io', size: 32 },
        { bar: 1, type: 'memory', size: 4 * KiB, prefetch: false, mem64: false },
        { bar: 4, type: 'memory', size: 16 * KiB, prefetch: true, mem64: true },
        { bar: 6, type: 'memory', size: 256 * KiB, prefetch: false, mem64: false },
      ],
      romBytes: 256 * KiB,
      model: nic.model,
      mac: nic.mac?.toLowerCase() ?? defaultMac(),
    };
  }
  return {
    slot,
    function: 0,
    classCode: 0x0200,
    classDesc: 'Ethernet controller',
    vendor: 0x8086,
    device: 0x154c,
    subsystemVendor: 0x8086,
    subsystem: 0x0000,
    irqPin: 0,
    qdevId: nic.id,
    regions: [
      { bar: 0, type: 'memory', size: 64 * KiB, prefetch: true, mem64: true },
      { bar: 3, type: 'memory', size: 16 * KiB, prefetch: true, mem64: true },
    ],
    model: nic.model,
  };
}

interface Block {
  name: string;
  used: number;
  max: number;
  offset: number;
}

/** Where the simulated process "maps" guest RAM, for x-query-ramblock's HVA column (10.0). */
const SIMULATED_HVA_BASE = 0x7f0000000000;

/** find_ram_offset() with nothing freed: each block after the last, aligned to 64 pages. */
const RAM_OFFSET_ALIGN = 64 * 4 * KiB;

export class SimHardware {
  readonly family: 'q35' | 'i440fx';
  private readonly functions: PciFunctionModel[];

  constructor(readonly options: SimHardwareOptions) {
    this.family = options.machineType.startsWith('pc-i440fx') || options.machineType === 'pc' ? 'i440fx' : 'q35';
    const builtin = this.family === 'q35' ? Q35_BUILTIN : I440FX_BUILTIN;
    const firstSlot = this.family === 'q35' ? 1 : 2;
    // QEMU gives each -device the first free slot, in command-line order.
    // A NIC given no mac= gets QEMU's next default (qemu_macaddr_default_if_unset): 52:54:00:12:34:56, :57, ...
    let defaults = 0;
    const defaultMac = () => `52:54:00:12:34:${(0x56 + defaults++).toString(16).padStart(2, '0')}`;
    const nics = options.nics.map((nic, index) => nicFunction(nic, firstSlot + index, defaultMac));
    this.functions = [...builtin, ...nics].sort((a, b) => a.slot - b.slot || a.function - b.function);
  }

  /** The root bus's QOM path (a device's `parent_bus`). */
  get rootBusPath(): string {
    return this.family === 'q35' ? '/machine/q35/pcie.0' : '/machine/i440fx/pci.0';
  }

  /** query-memdev */
  memdevs(): Record<string, unknown>[] {
    const { memoryBytes, memoryShared } = this.options;
    return [{ id: 'mem', size: memoryBytes, merge: true, dump: true, prealloc: false, share: memoryShared, reserve: true, 'host-nodes': [], policy: 'default' }];
  }

  /**
   * The RAM blocks in QEMU's order of creation (RAM, BIOS, option ROM area, the devices' ROMs,
   * the ACPI blobs of fw_cfg), each placed after the last; listed largest first, as QEMU keeps
   * its list sorted by maximum size.
   */
  private blocks(): Block[] {
    const made: Omit<Block, 'offset'>[] = [
      { name: 'mem', used: this.options.memoryBytes, max: this.options.memoryBytes },
      { name: 'pc.bios', used: 256 * KiB, max: 256 * KiB },
      { name: 'pc.rom', used: 128 * KiB, max: 128 * KiB },
      ...this.functions.filter((fn) => fn.romBytes !== undefined).map((fn) => ({ name: `0000:00:${hex2(fn.slot)}.${fn.function}/${fn.model}.rom`, used: fn.romBytes as number, max: fn.romBytes as number })),
      { name: '/rom@etc/acpi/tables', used: 128 * KiB, max: 2048 * KiB },
      { name: '/rom@etc/table-loader', used: 4 * KiB, max: 64 * KiB },
      { name: '/rom@etc/acpi/rsdp', used: 4 * KiB, max: 4 * KiB },
    ];
    let next = 0;
    const placed = made.map((block) => {
      const offset = Math.ceil(next / RAM_OFFSET_ALIGN) * RAM_OFFSET_ALIGN;
      next = offset + block.max;
      return { ...block, offset };
    });
    // Stable: a block goes after those of its size that came before it.
    return placed.map((block, index) => ({ block, index })).sort((a, b) => b.block.max - a.block.max || a.index - b.index).map(({ block }) => block);
  }

  /**
   * x-query-ramblock's text (ram_block_format()); `hostColumns` adds 10.0's HVA and RO: the
   * host address is made up (a real one differs per run), guest RAM is `rw`, ROMs `ro`.
   */
  ramBlockTable(hostColumns = false): string {
    const column = (value: number) => `0x${value.toString(16).padStart(16, '0')}`;
    const host = (block: Block) => (hostColumns ? ` ${column(SIMULATED_HVA_BASE + block.offset)}  ${block.name === 'mem' ? 'rw' : 'ro'}` : '');
    const rows = this.blocks().map((block) => `${block.name.padStart(24)} ${'4 KiB'.padStart(8)}  ${column(block.offset)} ${column(block.used)} ${column(block.max)}${host(block)}\n`);
    const header = `${'Block Name'.padStart(24)} ${'PSize'.padStart(8)}  ${'Offset'.padStart(18)} ${'Used'.padStart(18)} ${'Total'.padStart(18)}${hostColumns ? ` ${'HVA'.padStart(18)}  RO` : ''}`;
    return `${header}\n${rows.join('')}`;
  }

  /** query-pci: the root bus. */
  pci(): Record<string, unknown>[] {
    return [
      {
        bus: 0,
        devices: this.functions.map((fn) => ({
          bus: 0,
          slot: fn.slot,
          function: fn.function,
          class_info: { desc: fn.classDesc, class: fn.classCode },
          id: { device: fn.device, vendor: fn.vendor, subsystem: fn.subsystem, 'subsystem-vendor': fn.subsystemVendor },
          ...(fn.irqPin !== 0 ? { irq: 0 } : {}),
          irq_pin: fn.irqPin,
          qdev_id: fn.qdevId,
          regions: fn.regions.map((region) => ({
            bar: region.bar,
            type: region.type,
            address: -1,
            size: region.size,
            ...(region.type === 'memory' ? { prefetch: region.prefetch, mem_type_64: region.mem64 } : {}),
          })),
        })),
      },
    ];
  }

  /** The `-device`s with an id: qom-list /machine/peripheral. */
  peripherals(): { id: string; type: SimNicModel; devfn: number; mac: string | undefined }[] {
    return this.functions.filter((fn) => fn.model !== undefined).map((fn) => ({ id: fn.qdevId, type: fn.model as SimNicModel, devfn: (fn.slot << 3) | fn.function, mac: fn.mac }));
  }
}

function hex2(value: number): string {
  return value.toString(16).padStart(2, '0');
}
