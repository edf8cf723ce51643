import { describe, expect, it } from '@jest/globals';
import { firstDifferentPage, GuestRam, PAGE_SIZE } from '../../src/sim/ram.js';
import { StreamDecoder, encodeDevice, encodeEof, encodeHeader, encodeRunState, PAGE_RECORD_BYTES, writePageRecord, writeZeroRecord } from '../../src/sim/stream/wire.js';
import { CpuWorkload } from '../../src/sim/workload.js';

describe('GuestRam', () => {
  it('logs writes per page only while logging, and sync hands them over once', () => {
    const ram = new GuestRam(16 * PAGE_SIZE);
    ram.write(0, Buffer.from([1]));
    expect(ram.dirtyPages).toBe(0); // no migration, no log
    ram.startDirtyLog();
    ram.write(PAGE_SIZE - 2, Buffer.from([1, 2, 3, 4])); // straddles pages 0 and 1
    ram.write(5 * PAGE_SIZE, Buffer.from([9]));
    expect(ram.syncDirtyLog()).toEqual([0, 1, 5]);
    expect(ram.syncDirtyLog()).toEqual([]);
    expect(ram.read(PAGE_SIZE - 2, 4)).toEqual(Buffer.from([1, 2, 3, 4]));
  });

  it('DMA with markDirty false changes bytes the log does not see, until the device reports it', () => {
    const ram = new GuestRam(16 * PAGE_SIZE);
    ram.startDirtyLog();
    ram.write(3 * PAGE_SIZE, Buffer.from('rx packet'), { markDirty: false });
    expect(ram.syncDirtyLog()).toEqual([]);
    expect(ram.read(3 * PAGE_SIZE, 9).toString()).toBe('rx packet');
    ram.markDirty(3 * PAGE_SIZE, 9);
    expect(ram.syncDirtyLog()).toEqual([3]);
  });

  it('refuses accesses outside RAM with SIM_BAD_RAM_ACCESS', () => {
    const ram = new GuestRam(4 * PAGE_SIZE);
    expect(() => ram.write(4 * PAGE_SIZE - 1, Buffer.alloc(2))).toThrow(expect.objectContaining({ code: 'SIM_BAD_RAM_ACCESS' }));
    expect(() => new GuestRam(1000)).toThrow(expect.objectContaining({ code: 'SIM_BAD_RAM_ACCESS' }));
  });

  it('compares two RAMs page by page', () => {
    const a = new GuestRam(8 * PAGE_SIZE);
    const b = new GuestRam(8 * PAGE_SIZE);
    a.fillRandom();
    b.write(0, a.bytes);
    expect(firstDifferentPage(a, b)).toBe(-1);
    b.write(6 * PAGE_SIZE + 7, Buffer.from([a.bytes[6 * PAGE_SIZE + 7]! ^ 1]));
    expect(firstDifferentPage(a, b)).toBe(6);
  });
});

describe('CpuWorkload', () => {
  it('dirties pages at the configured rate inside its working set, only while started', () => {
    const ram = new GuestRam(4 << 20);
    ram.startDirtyLog();
    const workload = new CpuWorkload(ram, { dirtyPagesPerSecond: 1000, workingSetBytes: 64 * PAGE_SIZE });
    // Driven by hand: no timers, no sleeps.
    (workload as unknown as { last: number }).last = performance.now() - 50;
    workload.tick();
    const pages = ram.syncDirtyLog();
    expect(pages.length).toBeGreaterThanOrEqual(45);
    expect(pages.length).toBeLessThanOrEqual(64);
    for (const page of pages) expect(page).toBeGreaterThanOrEqual((1 << 20) / PAGE_SIZE);
    expect(workload.running).toBe(false);
  });

  it('a vCPU that did not get the CPU did not store: a tick after a 2 s stall makes up for 50 ms, not 2 s', () => {
    const ram = new GuestRam(4 << 20);
    ram.startDirtyLog();
    const workload = new CpuWorkload(ram, { dirtyPagesPerSecond: 1000, workingSetBytes: 1024 * PAGE_SIZE });
    (workload as unknown as { last: number }).last = performance.now() - 2000;
    workload.tick();
    expect(ram.syncDirtyLog().length).toBe(50);
  });
});

describe('migration stream wire format', () => {
  it('round-trips every record, whatever the chunking', () => {
    const page = Buffer.alloc(PAGE_SIZE, 7);
    const records = Buffer.alloc(PAGE_RECORD_BYTES + 5);
    let offset = writePageRecord(records, 0, 3, page);
    offset = writeZeroRecord(records, offset, 4);
    const stream = Buffer.concat([encodeHeader(10), records.subarray(0, offset), encodeDevice('vf0', Buffer.from('state')), encodeRunState(true), encodeEof()]);
    for (const chunkSize of [1, 7, 4096, stream.length]) {
      const decoder = new StreamDecoder();
      const items = [];
      for (let i = 0; i < stream.length; i += chunkSize) items.push(...decoder.push(stream.subarray(i, i + chunkSize)));
      expect(items.map((item) => item.kind)).toEqual(['header', 'page', 'zero', 'device', 'runstate', 'eof']);
      expect(items[1]).toMatchObject({ page: 3 });
      expect((items[1] as { bytes: Buffer }).bytes.equals(page)).toBe(true);
      expect(items[3]).toMatchObject({ id: 'vf0' });
      expect(decoder.complete).toBe(true);
    }
  });

  it('rejects a stream that is not ours with SIM_STREAM_BROKEN', () => {
    expect(() => new StreamDecoder().push(Buffer.alloc(64, 1))).toThrow(expect.objectContaining({ code: 'SIM_STREAM_BROKEN' }));
  });
});
