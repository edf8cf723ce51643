import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { decodeFrame, encodeFrame, EtherType, rarpAnnounce } from '../../../src/sim/network/frame.js';
import { SocketNetwork, SwitchServer } from '../../../src/sim/network/socket-switch.js';
import { LearningSwitch, type NetworkPort } from '../../../src/sim/network/switch.js';
import { SequenceCounter } from '../../../src/sim/network/traffic.js';
import { waitUntil } from '../../helpers/wait.js';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const VM = '52:54:00:00:00:01';

function frame(dst: string, src: string, vlan: number | null = null): Buffer {
  return encodeFrame({ dst, src, vlan, etherType: EtherType.PROBE, payload: Buffer.from('hello') });
}

describe('the learning switch', () => {
  it('floods unknown destinations, learns sources, then forwards to one port only', () => {
    const fabric = new LearningSwitch();
    const got: Record<string, Buffer[]> = { a: [], b: [], c: [] };
    const ports: Record<string, NetworkPort> = {};
    for (const name of ['a', 'b', 'c']) ports[name] = fabric.attach(name, (f) => got[name]!.push(f));
    ports.a!.send(frame(B, A));
    expect([got.b!.length, got.c!.length]).toEqual([1, 1]); // flooded
    ports.b!.send(frame(A, B));
    expect([got.a!.length, got.c!.length]).toEqual([1, 1]); // A was learned: only a
    ports.a!.send(frame(B, A));
    expect([got.b!.length, got.c!.length]).toEqual([2, 1]);
    expect(fabric.lookup(A)).toBe('a');
    expect(fabric.lookup(A, 100)).toBeUndefined(); // per VLAN
    expect(fabric.counters).toMatchObject({ flooded: 1, forwarded: 2 });
  });

  it('keeps sending to the old port until an announce from the new one moves the MAC', () => {
    const fabric = new LearningSwitch();
    const got: Record<string, number> = { hostA: 0, hostB: 0, traffic: 0 };
    const ports: Record<string, NetworkPort> = {};
    for (const name of Object.keys(got)) ports[name] = fabric.attach(name, () => got[name]!++);
    ports.hostA!.send(frame(A, VM)); // the VM talks on host A
    ports.traffic!.send(frame(VM, A));
    expect(got).toEqual({ hostA: 1, hostB: 1, traffic: 1 }); // the first frame to A was flooded
    // the VM now runs on host B but said nothing yet: frames still go to host A
    ports.traffic!.send(frame(VM, A));
    expect(got).toEqual({ hostA: 2, hostB: 1, traffic: 1 });
    const moves: string[] = [];
    fabric.onMove = (entry, from) => moves.push(`${entry.mac} ${from} -> ${entry.port}`);
    ports.hostB!.send(rarpAnnounce(VM, null));
    expect(moves).toEqual([`${VM} hostA -> hostB`]);
    ports.traffic!.send(frame(VM, A));
    expect(got).toEqual({ hostA: 3, hostB: 2, traffic: 2 }); // the RARP is broadcast; the probe goes to hostB only
    expect(fabric.lookup(VM)).toBe('hostB');
  });

  it('RARP announce frames are what QEMU sends: broadcast, ethertype 0x8035, tagged per VLAN', () => {
    const tagged = decodeFrame(rarpAnnounce(VM, 100))!;
    expect(tagged).toMatchObject({ dst: 'ff:ff:ff:ff:ff:ff', src: VM, vlan: 100, etherType: 0x8035 });
    expect(tagged.payload.readUInt16BE(6)).toBe(3); // reverse request
  });
});

describe('the switch across processes (unix socket in the lab directory)', () => {
  let dir: string;
  let server: SwitchServer | undefined;
  const ports: NetworkPort[] = [];
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-switch-'));
  });
  afterEach(async () => {
    for (const port of ports.splice(0)) port.close();
    await server?.close();
    server = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('carries frames between ports connected over the socket, learning as the in-process one does', async () => {
    server = await SwitchServer.listen(path.join(dir, 'switch.sock'));
    const network = new SocketNetwork(server.path);
    const received: { a: Buffer[]; b: Buffer[] } = { a: [], b: [] };
    ports.push(await network.attach('hostA/pf0', (f) => received.a.push(f)));
    ports.push(await network.attach('hostB/pf0', (f) => received.b.push(f)));
    await waitUntil('both ports attached at the switch', () => server!.fabric.portNames(), (names) => names.length === 2);
    for (let i = 0; i < 100; i++) ports[0]!.send(frame(B, A));
    await waitUntil('100 frames from A at hostB/pf0', () => received.b.length, (n) => n === 100);
    ports[1]!.send(frame(A, B));
    await waitUntil('the answer from B at hostA/pf0', () => received.a.length, (n) => n === 1);
    expect(decodeFrame(received.a[0]!)).toMatchObject({ dst: A, src: B });
    expect(server.fabric.lookup(B)).toBe('hostB/pf0');
    ports[1]!.close();
    await waitUntil('hostB/pf0 to leave the switch', () => server!.fabric.portNames(), (names) => names.length === 1);
    expect(server.fabric.lookup(B)).toBeUndefined(); // a port that goes away takes its MACs along
  });
});

describe('the traffic counters', () => {
  it('count loss, duplicates, reordering, the longest gap and the longest loss run', () => {
    const counter = new SequenceCounter();
    const arrivals: [number, number][] = [
      [0, 0],
      [1, 1],
      [3, 2],
      [2, 3], // reordered
      [3, 4], // duplicate
      [7, 54], // 4, 5, 6 lost; 50 ms of silence
      [8, 55],
    ];
    for (const [sequence, at] of arrivals) counter.record(sequence, at);
    expect(counter.report(10)).toEqual({ sent: 10, received: 6, lost: 4, duplicated: 1, reordered: 1, longestGapMs: 50, longestLossRun: 3 });
  });

  it('property: received + lost = sent, duplicates and reorders as generated', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.infiniteStream(fc.double({ min: 0, max: 1, noNaN: true })), (sent, random) => {
        const sequences = Array.from({ length: sent }, (_, i) => i);
        const dropped = new Set(sequences.filter(() => random.next().value < 0.2));
        const delivered = sequences.filter((s) => !dropped.has(s));
        const duplicates = delivered.filter(() => random.next().value < 0.1);
        const counter = new SequenceCounter();
        delivered.forEach((s, i) => counter.record(s, i));
        duplicates.forEach((s, i) => counter.record(s, delivered.length + i));
        const report = counter.report(sent);
        expect(report.received + report.lost).toBe(sent);
        expect(report.lost).toBe(dropped.size);
        expect(report.duplicated).toBe(duplicates.length);
        expect(report.reordered).toBe(0); // in order, duplicates are not reorders
      }),
    );
  });
});
