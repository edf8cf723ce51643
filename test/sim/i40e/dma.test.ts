import { describe, expect, it } from '@jest/globals';
import { PAGE_SIZE } from '../../../src/sim/ram.js';
import { parseRxWriteBack, rxPacketAddress, RX_DESC_SIZE } from '../../../src/sim/i40e/rings.js';
import type { SimPf } from '../../../src/sim/i40e/pf.js';
import { detachAfterEach, GUEST_MAC, makePf, plug, probe, type Plugged } from './helpers.js';

const MAC = GUEST_MAC;
const plugged = detachAfterEach();

/** A VF brought up by its guest, the VM paused (the guest does not poll), RAM's dirty log on and empty. */
function setup(): { pf: SimPf; p: Plugged } {
  const pf = makePf('hostA', 16);
  const p = plug(pf, { mac: MAC });
  plugged.push(p);
  p.device.guest!.bringUp();
  p.vm.ram.startDirtyLog();
  p.vm.ram.syncDirtyLog();
  return { pf, p };
}

/** The pages the next `count` RX descriptors of the queue this flow lands on will touch. */
function pagesOfNext(p: Plugged, queue: number, count: number): number[] {
  const pair = p.device.vf.state.queuePairs.get(queue)!;
  const head = p.device.vf.positions().find((r) => r.queue === queue)!.rxHead;
  const pages = new Set<number>();
  for (let i = 0; i < count; i++) {
    const descriptor = Number(pair.rx.dmaRingAddr) + ((head + i) % pair.rx.ringLen) * RX_DESC_SIZE;
    pages.add(Math.floor(descriptor / PAGE_SIZE));
    pages.add(Math.floor(rxPacketAddress(p.vm.ram.read(descriptor, RX_DESC_SIZE)) / PAGE_SIZE));
  }
  return [...pages].sort((a, b) => a - b);
}

function queueOfFlow(pf: SimPf, p: Plugged): number {
  const before = p.device.vf.positions();
  pf.fromWire(probe(0));
  const after = p.device.vf.positions();
  const moved = after.find((r, i) => r.rxHead !== before[i]?.rxHead);
  expect(moved).toBeDefined();
  p.vm.ram.syncDirtyLog();
  return moved!.queue;
}

describe('RX DMA into guest RAM', () => {
  it('writes the packet and a write-back descriptor (DD, EOF, length) without marking pages dirty', () => {
    const { pf, p } = setup();
    const queue = queueOfFlow(pf, p);
    const pair = p.device.vf.state.queuePairs.get(queue)!;
    const head = p.device.vf.positions()[queue]!.rxHead;
    const descriptorAddress = Number(pair.rx.dmaRingAddr) + head * RX_DESC_SIZE;
    const packetAddress = rxPacketAddress(p.vm.ram.read(descriptorAddress, RX_DESC_SIZE));
    const frame = probe(1);
    pf.fromWire(frame);

    expect(p.vm.ram.read(packetAddress, frame.length)).toEqual(frame);
    expect(parseRxWriteBack(p.vm.ram.read(descriptorAddress, RX_DESC_SIZE))).toEqual({ done: true, endOfPacket: true, length: frame.length });
    expect(p.vm.ram.syncDirtyLog()).toEqual([]); // the hazard: KVM's log saw nothing
  });

  it('marks the touched pages dirty while the device tracks RX DMA', () => {
    const { pf, p } = setup();
    const queue = queueOfFlow(pf, p);
    p.device.vf.setDirtyTracking(true);
    const expected = pagesOfNext(p, queue, 5);
    for (let s = 1; s <= 5; s++) pf.fromWire(probe(s));
    expect(p.vm.ram.syncDirtyLog()).toEqual(expected);
  });

  it('quiesce stops DMA and re-marks every RX page written since tracking began; without tracking it marks none', () => {
    const { pf, p } = setup();
    const queue = queueOfFlow(pf, p);
    const untracked = p.device.vf.quiesce();
    expect(untracked.pagesMarked).toBe(0);
    p.device.vf.unquiesce();

    p.device.vf.setDirtyTracking(true);
    const expected = pagesOfNext(p, queue, 4);
    for (let s = 1; s <= 4; s++) pf.fromWire(probe(s));
    p.vm.ram.syncDirtyLog(); // a precopy pass took them
    const result = p.device.vf.quiesce();
    expect(result.pagesMarked).toBe(expected.length);
    expect(p.vm.ram.syncDirtyLog()).toEqual(expected);

    const before = p.vm.ram.sha256();
    const dropped = p.device.vf.counters.rxDropped;
    pf.fromWire(probe(99));
    expect(p.device.vf.counters.rxDropped).toBe(dropped + 1);
    expect(p.vm.ram.sha256()).toBe(before);
    expect(result.positions.find((r) => r.queue === queue)?.rxHead).toBe(5);
  });

  it('the guest cleans, echoes and refills; a full ring drops until it does', () => {
    const { pf, p } = setup();
    const guest = p.device.guest!;
    for (let s = 0; s < 40; s++) pf.fromWire(probe(s)); // ring of 32, 31 posted
    expect(p.device.vf.counters.rxNoBuffer).toBe(40 - 31);
    expect(guest.poll()).toBe(31);
    expect(guest.stats.rxProbes).toBe(31);
    expect(p.device.vf.counters.txPackets).toBe(31); // echoed through the TX ring
    for (let s = 40; s < 60; s++) pf.fromWire(probe(s));
    expect(guest.poll()).toBe(20);
  });
});
