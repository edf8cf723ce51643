import crypto from 'node:crypto';
import { SimError } from './errors.js';

export const PAGE_SIZE = 4096;

export interface RamWriteOptions {
  /**
   * Mark the touched pages dirty (a vCPU store, or DMA that the device reports). False is
   * DMA that KVM's dirty log does not see. Default true.
   */
  markDirty?: boolean;
}

/**
 * Guest RAM as real bytes, with a dirty log per 4 KiB page like KVM's. The log records
 * writes while it is on (a migration is running); `syncDirtyLog` hands the dirty pages to
 * the migration and clears the log, as migration_bitmap_sync does.
 */
export class GuestRam {
  readonly bytes: Buffer;
  readonly pageCount: number;
  private readonly dirty: Uint8Array;
  private dirtyCount = 0;
  private logging = false;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size <= 0 || size % PAGE_SIZE !== 0) {
      throw new SimError('SIM_BAD_RAM_ACCESS', `guest RAM size ${size} is not a positive multiple of ${PAGE_SIZE}`);
    }
    this.bytes = Buffer.alloc(size);
    this.pageCount = size / PAGE_SIZE;
    this.dirty = new Uint8Array(this.pageCount);
  }

  get isLogging(): boolean {
    return this.logging;
  }

  /** Pages written since the last sync (while logging). */
  get dirtyPages(): number {
    return this.dirtyCount;
  }

  startDirtyLog(): void {
    this.logging = true;
  }

  stopDirtyLog(): void {
    this.logging = false;
    this.dirty.fill(0);
    this.dirtyCount = 0;
  }

  write(address: number, data: Uint8Array, options: RamWriteOptions = {}): void {
    this.checkRange(address, data.length);
    this.bytes.set(data, address);
    if (options.markDirty ?? true) this.markDirty(address, data.length);
  }

  /** A copy of `length` bytes at `address`. */
  read(address: number, length: number): Buffer {
    this.checkRange(address, length);
    return Buffer.from(this.bytes.subarray(address, address + length));
  }

  /** The bytes of one page, without copying (the stream reads pages through this). */
  page(index: number): Buffer {
    return this.bytes.subarray(index * PAGE_SIZE, (index + 1) * PAGE_SIZE);
  }

  /** Reports a write that happened behind the log's back (a device's own dirty tracking). */
  markDirty(address: number, length: number): void {
    if (!this.logging || length === 0) return;
    this.checkRange(address, length);
    const first = Math.floor(address / PAGE_SIZE);
    const last = Math.floor((address + length - 1) / PAGE_SIZE);
    for (let page = first; page <= last; page++) this.markPageDirty(page);
  }

  markPageDirty(page: number): void {
    if (this.logging && this.dirty[page] === 0) {
      this.dirty[page] = 1;
      this.dirtyCount++;
    }
  }

  /** Takes the dirty pages out of the log (ascending) and clears it. */
  syncDirtyLog(): number[] {
    const pages: number[] = [];
    if (this.dirtyCount === 0) return pages;
    for (let page = 0; page < this.pageCount; page++) {
      if (this.dirty[page] !== 0) {
        pages.push(page);
        this.dirty[page] = 0;
      }
    }
    this.dirtyCount = 0;
    return pages;
  }

  fillRandom(): void {
    const chunk = 1 << 16; // randomFillSync's per-call limit is larger, but keep the event loop responsive
    for (let offset = 0; offset < this.size; offset += chunk) crypto.randomFillSync(this.bytes, offset, Math.min(chunk, this.size - offset));
  }

  sha256(): string {
    return crypto.createHash('sha256').update(this.bytes).digest('hex');
  }

  private checkRange(address: number, length: number): void {
    if (!Number.isInteger(address) || address < 0 || length < 0 || address + length > this.size) {
      throw new SimError('SIM_BAD_RAM_ACCESS', `guest RAM access [${address}, +${length}) outside 0..${this.size}`, {
        details: { address, length, size: this.size },
      });
    }
  }
}

/** Index of the first page where two RAMs differ, or -1. For tests comparing source and destination. */
export function firstDifferentPage(a: GuestRam, b: GuestRam): number {
  if (a.size !== b.size) return 0;
  for (let page = 0; page < a.pageCount; page++) {
    if (!a.page(page).equals(b.page(page))) return page;
  }
  return -1;
}
