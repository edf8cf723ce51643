import { pciAddress, pciId, type GuestHardware, type Memdev, type PciFunction, type Peripheral, type RamBlock } from '../qmp/hardware.js';

/**
 * Where the destination QEMU, started `-S -incoming defer` and not yet given the stream,
 * differs from the source in what the stream needs to match: the machine type, the RAM blocks
 * (by name and size), the memory backends, the PCI functions the guest sees (address, vendor
 * and device ids, class, device model and id, BAR sizes), and the devices by id and type. One
 * sentence per difference, every difference at once; empty when the sides match. A part that
 * either side cannot tell (undefined) is not compared. Pure.
 *
 * What a guest's firmware programs (BAR addresses, IRQ lines) is not compared: the source's
 * guest has run, the destination's has not. Nor are the devices behind PCI bridges by address
 * (QEMU lists them only once the guest numbered the bridge's bus): they are compared by id
 * and type as devices.
 */
export function compareSides(source: GuestHardware, destination: GuestHardware, destinationHost: string): string[] {
  const on = { source: 'the source', destination: destinationHost };
  const differences: string[] = [];
  if (source.machineType !== undefined && destination.machineType !== undefined && source.machineType !== destination.machineType) {
    differences.push(`machine type: ${source.machineType} on ${on.source}, ${destination.machineType} on ${on.destination}`);
  }
  const blocksCompared = source.ramBlocks !== undefined && destination.ramBlocks !== undefined;
  if (source.ramBlocks && destination.ramBlocks) differences.push(...compareRamBlocks(source.ramBlocks, destination.ramBlocks, on.destination));
  if (source.memdevs && destination.memdevs) {
    // A backend is a RAM block of the same name: said once, by the RAM block's sentence.
    const blockNames = new Set([...(source.ramBlocks ?? []), ...(destination.ramBlocks ?? [])].map((block) => block.name));
    differences.push(...compareMemdevs(source.memdevs, destination.memdevs, on.destination, (id) => blocksCompared && blockNames.has(id)));
  }
  const reportedIds = new Set<string>();
  if (source.pci && destination.pci) {
    differences.push(...comparePci(source, destination, on.destination, reportedIds));
  }
  if (source.peripherals && destination.peripherals) {
    const pciCompared = source.pci !== undefined && destination.pci !== undefined;
    differences.push(...comparePeripherals(source, destination, on.destination, reportedIds, pciCompared));
  }
  return differences;
}

// --- RAM ---------------------------------------------------------------------------------

function compareRamBlocks(source: readonly RamBlock[], destination: readonly RamBlock[], host: string): string[] {
  const differences: string[] = [];
  const there = new Map(destination.map((block) => [block.name, block]));
  const here = new Set(source.map((block) => block.name));
  const onlyThere = destination.filter((block) => !here.has(block.name));
  const hint = onlyThere.length > 0 ? ` (it has ${onlyThere.map((block) => `'${block.name}'`).join(', ')})` : '';
  for (const block of source) {
    const match = there.get(block.name);
    if (!match) {
      differences.push(`RAM block '${block.name}' (${size(block.usedBytes)}) on the source has no counterpart on ${host}${hint}`);
      continue;
    }
    if (!loads(block, match)) differences.push(`RAM block '${block.name}': ${size(block.usedBytes)} on the source, ${size(match.usedBytes)} on ${host}`);
  }
  // When a source block went unmatched, the destination's extra blocks are named with it.
  if (source.every((block) => there.has(block.name))) {
    for (const block of onlyThere) differences.push(`RAM block '${block.name}' (${size(block.usedBytes)}) on ${host} has no counterpart on the source`);
  }
  return differences;
}

/**
 * Whether the destination's block takes the source's as QEMU's ram_load does: the same used
 * size, or a resizable block (used below its maximum) whose maximum holds the source's.
 * A resizable block that happens to be full cannot be told from a fixed one and is taken
 * for fixed.
 */
function loads(source: RamBlock, destination: RamBlock): boolean {
  if (source.usedBytes === destination.usedBytes) return true;
  return destination.maxBytes > destination.usedBytes && source.usedBytes <= destination.maxBytes;
}

function compareMemdevs(source: readonly Memdev[], destination: readonly Memdev[], host: string, saidAsBlock: (id: string) => boolean): string[] {
  const differences: string[] = [];
  const key = (memdev: Memdev) => memdev.id ?? '(no id)';
  const there = new Map(destination.map((memdev) => [key(memdev), memdev]));
  const here = new Set(source.map(key));
  for (const memdev of source) {
    if (saidAsBlock(key(memdev))) continue;
    const match = there.get(key(memdev));
    if (!match) differences.push(`memory backend '${key(memdev)}' (${size(memdev.sizeBytes)}) on the source has no counterpart on ${host}`);
    else if (match.sizeBytes !== memdev.sizeBytes) differences.push(`memory backend '${key(memdev)}': ${size(memdev.sizeBytes)} on the source, ${size(match.sizeBytes)} on ${host}`);
  }
  for (const memdev of destination) {
    if (!here.has(key(memdev)) && !saidAsBlock(key(memdev))) differences.push(`memory backend '${key(memdev)}' (${size(memdev.sizeBytes)}) on ${host} has no counterpart on the source`);
  }
  return differences;
}

// --- PCI ---------------------------------------------------------------------------------

/** The device model behind a function: its -device type when known, else its class. */
function model(fn: PciFunction, side: GuestHardware): string {
  const peripherals = side.peripherals ?? [];
  const devfn = (fn.slot << 3) | fn.function;
  const device = fn.qdevId !== '' ? peripherals.find((p) => p.id === fn.qdevId) : fn.bus === 0 ? peripherals.find((p) => p.id === undefined && p.rootDevfn === devfn) : undefined;
  return device?.type ?? fn.classDesc ?? `class ${fn.classCode.toString(16).padStart(4, '0')}`;
}

function describe(fn: PciFunction, side: GuestHardware): string {
  return `${model(fn, side)}${fn.qdevId ? ` '${fn.qdevId}'` : ''} (${pciId(fn.vendor, fn.device)})`;
}

function comparePci(source: GuestHardware, destination: GuestHardware, host: string, reportedIds: Set<string>): string[] {
  const differences: string[] = [];
  const address = (fn: PciFunction) => pciAddress(fn.bus, fn.slot, fn.function);
  const here = new Map((source.pci ?? []).map((fn) => [address(fn), fn]));
  const there = new Map((destination.pci ?? []).map((fn) => [address(fn), fn]));
  const addresses = [...new Set([...here.keys(), ...there.keys()])].sort();
  const report = (text: string, ...fns: (PciFunction | undefined)[]) => {
    differences.push(text);
    for (const fn of fns) if (fn?.qdevId) reportedIds.add(fn.qdevId);
  };
  for (const at of addresses) {
    const a = here.get(at);
    const b = there.get(at);
    if (!a || !b) {
      report(`PCI ${at}: ${a ? describe(a, source) : 'nothing'} on the source, ${b ? describe(b, destination) : 'nothing'} on ${host}`, a, b);
      continue;
    }
    const left = describe(a, source);
    const right = describe(b, destination);
    if (left !== right) {
      report(`PCI ${at}: ${left} on the source, ${right} on ${host}`, a, b);
      continue;
    }
    const details = functionDetails(a, b, host);
    if (details.length > 0) report(`PCI ${at} ${left}: ${details.join('; ')}`, a, b);
  }
  return differences;
}

/** What differs between two functions that look the same by model, id and vendor:device. */
function functionDetails(a: PciFunction, b: PciFunction, host: string): string[] {
  const details: string[] = [];
  const subsystem = (fn: PciFunction) => (fn.subsystemVendor === undefined || fn.subsystem === undefined ? 'none' : pciId(fn.subsystemVendor, fn.subsystem));
  if (subsystem(a) !== subsystem(b)) details.push(`subsystem ${subsystem(a)} on the source, ${subsystem(b)} on ${host}`);
  if (a.classCode !== b.classCode) details.push(`class ${a.classCode.toString(16).padStart(4, '0')} on the source, ${b.classCode.toString(16).padStart(4, '0')} on ${host}`);
  const bars = [...new Set([...a.bars, ...b.bars].map((bar) => bar.bar))].sort((x, y) => x - y);
  for (const index of bars) {
    const left = a.bars.find((bar) => bar.bar === index);
    const right = b.bars.find((bar) => bar.bar === index);
    const text = (bar: typeof left) => (bar ? `${bar.type} ${size(bar.sizeBytes)}` : 'none');
    if (text(left) !== text(right)) details.push(`${index === 6 ? 'ROM BAR' : `BAR ${index}`} ${text(left)} on the source, ${text(right)} on ${host}`);
  }
  return details;
}

// --- devices by id and type --------------------------------------------------------------

function comparePeripherals(source: GuestHardware, destination: GuestHardware, host: string, reportedIds: ReadonlySet<string>, pciCompared: boolean): string[] {
  const differences: string[] = [];
  const named = (side: GuestHardware) => new Map((side.peripherals ?? []).filter((p) => p.id !== undefined).map((p) => [p.id as string, p]));
  const here = named(source);
  const there = named(destination);
  for (const [id, device] of here) {
    if (reportedIds.has(id)) continue;
    const match = there.get(id);
    if (!match) differences.push(`device '${id}' (${device.type}) on the source has no counterpart on ${host}`);
    else if (match.type !== device.type) differences.push(`device '${id}': ${device.type} on the source, ${match.type} on ${host}`);
  }
  for (const [id, device] of there) {
    if (!here.has(id) && !reportedIds.has(id)) differences.push(`device '${id}' (${device.type}) on ${host} has no counterpart on the source`);
  }
  // Anonymous devices on a root bus were compared by their PCI address; the others by type.
  const anonymous = (side: GuestHardware) => (side.peripherals ?? []).filter((p) => p.id === undefined && (p.rootDevfn === undefined || !pciCompared));
  const counts = (list: Peripheral[]) => list.reduce((map, p) => map.set(p.type, (map.get(p.type) ?? 0) + 1), new Map<string, number>());
  const a = counts(anonymous(source));
  const b = counts(anonymous(destination));
  for (const type of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const left = a.get(type) ?? 0;
    const right = b.get(type) ?? 0;
    if (left !== right) differences.push(`anonymous ${type} devices (no id): ${left} on the source, ${right} on ${host}`);
  }
  return differences;
}

/** 256 MiB, 4 KiB, 1536 MiB: sizes as an operator reads them, exact. */
function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && value % 1024 === 0 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value} ${units[unit]}`;
}
