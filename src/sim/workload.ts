import { PAGE_SIZE, type GuestRam } from './ram.js';

export interface WorkloadOptions {
  /** Pages written per second while the VM runs. 0: idle guest. */
  dirtyPagesPerSecond: number;
  /** First byte of the working set. Default 1 MiB (above the legacy BIOS area). */
  workingSetStart?: number;
  /** Bytes of the working set. Default: the rest of RAM. */
  workingSetBytes?: number;
  /** Tick of the simulated vCPUs. Default 10 ms. */
  tickMs?: number;
  /**
   * The most time one tick makes up for, ms. Default 50. A vCPU that did not get the CPU did
   * not store: on a starved host the guest dirties less, as a real guest does, instead of
   * catching up in bursts (which made pre-copy never converge on a loaded machine).
   */
  maxCatchUpMs?: number;
}

/**
 * A guest CPU that stores into RAM at a steady rate over a working set, like a memory-bound
 * guest. Runs only while started (the VM runs); each store changes 8 bytes of a page and is
 * seen by the dirty log, as a vCPU write is.
 */
export class CpuWorkload {
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  private carry = 0;
  private cursor = 0;
  private counter = 1n;
  private readonly firstPage: number;
  private readonly pages: number;
  private readonly word = Buffer.alloc(8);
  pagesWritten = 0;

  constructor(
    private readonly ram: GuestRam,
    private readonly options: WorkloadOptions,
  ) {
    const start = Math.min(options.workingSetStart ?? 1 << 20, ram.size - PAGE_SIZE);
    this.firstPage = Math.floor(Math.max(0, start) / PAGE_SIZE);
    const bytes = options.workingSetBytes ?? ram.size - this.firstPage * PAGE_SIZE;
    this.pages = Math.max(1, Math.min(ram.pageCount - this.firstPage, Math.floor(bytes / PAGE_SIZE)));
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    if (this.timer || this.options.dirtyPagesPerSecond <= 0) return;
    this.last = performance.now();
    this.timer = setInterval(() => this.tick(), this.options.tickMs ?? 10);
    this.timer.unref();
  }

  stop(): void {
    if (!this.timer) return;
    this.tick();
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Writes the pages due since the last tick. */
  tick(): void {
    const now = performance.now();
    const ran = Math.min(now - this.last, this.options.maxCatchUpMs ?? 50);
    const due = (ran / 1000) * this.options.dirtyPagesPerSecond + this.carry;
    this.last = now;
    const count = Math.floor(due);
    this.carry = due - count;
    for (let i = 0; i < count; i++) {
      // A stride through the working set touches distinct pages, like a streaming guest.
      const page = this.firstPage + this.cursor;
      this.cursor = (this.cursor + 1) % this.pages;
      this.word.writeBigUInt64LE(this.counter++);
      this.ram.write(page * PAGE_SIZE + ((Number(this.counter) * 8) % PAGE_SIZE), this.word);
      this.pagesWritten++;
    }
  }
}
