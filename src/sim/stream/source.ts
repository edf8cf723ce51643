import type net from 'node:net';
import type { MigrationStatus } from '../../qmp/schemas.js';
import { PAGE_SIZE } from '../ram.js';
import type { SimVm } from '../vm.js';
import { connectTarget, describeTarget, errnoText, sleep, writable, yieldToEventLoop } from './socket-io.js';
import type { MigrationTarget } from './uri.js';
import {
  encodeDevice,
  encodeEof,
  encodeHeader,
  encodePass,
  encodeRunState,
  PAGE_RECORD_BYTES,
  ReturnRecord,
  writePageRecord,
  writeZeroRecord,
} from './wire.js';

/** QEMU's BUFFER_DELAY: the rate limit and the counters work in 100 ms windows. */
const WINDOW_MS = 100;
/** Pages per write: big enough to be cheap, small enough to keep the event loop responsive. */
const BATCH_PAGES = 256;
const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);

const RUNNING_STATES: ReadonlySet<MigrationStatus> = new Set(['setup', 'active', 'cancelling', 'pre-switchover', 'device']);

class Cancelled extends Error {}
class StreamFailure extends Error {}

/**
 * The source side of one migration (QEMU's migration thread): pre-copy passes under the
 * bandwidth limit, QEMU's convergence rule, stop-and-copy with optional pause before
 * switchover, device sections, and the status changes and events QEMU 7.2 makes.
 */
export class OutgoingMigration {
  status: MigrationStatus = 'none';
  private socket: net.Socket | undefined;
  private errorDesc: string | undefined;
  private cancelRequested = false;
  private aborted = false;
  private pending!: Uint8Array;
  private pendingCount = 0;
  private continueWaiter: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private returnWaiter: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private returnBuffer = Buffer.alloc(0);
  private stoppedVm = false;
  private vmWasRunning = false;
  // Counters (query-migrate).
  private startedAt = 0;
  private setupTime = 0;
  private totalTime = 0;
  private downtimeStart = 0;
  private downtime = 0;
  private transferred = 0;
  private precopyBytes = 0;
  private downtimeBytes = 0;
  private duplicate = 0;
  private normal = 0;
  private dirtySyncCount = 0;
  private dirtyPagesRate = 0;
  private lastSyncAt = 0;
  private mbps = 0;
  private pagesPerSecond = 0;
  private bandwidthBytesPerMs = 0;
  private thresholdBytes = 0;
  private expectedDowntime: number;
  private windowStart = 0;
  private windowTransferred = 0;
  private windowPages = 0;
  private pagesSent = 0;
  /** PASS markers waiting to go out in front of the next batch. */
  private markers: Buffer[] = [];
  /** Settles when the migration has ended, whatever the outcome. */
  finished: Promise<void> = Promise.resolve();

  constructor(private readonly vm: SimVm) {
    this.expectedDowntime = Number(vm.parameters['downtime-limit']);
  }

  get isRunning(): boolean {
    return RUNNING_STATES.has(this.status);
  }

  /** migrate_init(): the `setup` status and its event come first, even for a bad URI. */
  enterSetup(): void {
    this.startedAt = performance.now();
    this.setStatus('setup');
  }

  /** A URI QEMU cannot parse: failed at once, no error-desc (as QEMU 7.2 reports it). */
  failAtOnce(): void {
    this.setStatus('failed');
  }

  start(target: MigrationTarget): void {
    this.finished = this.run(target);
  }

  cancel(): void {
    if (!this.isRunning || this.status === 'cancelling') return;
    this.cancelRequested = true;
    this.setStatus('cancelling');
    this.continueWaiter?.reject(new Cancelled());
    this.returnWaiter?.reject(new Cancelled());
    this.socket?.destroy();
  }

  /** migrate-continue in pre-switchover. */
  continueFromPause(): void {
    const waiter = this.continueWaiter;
    this.continueWaiter = undefined;
    // QEMU replies first, then moves on to `device` from the migration thread.
    if (waiter) setImmediate(() => waiter.resolve());
  }

  /** The VM process is going away: stop without further events. */
  abort(): void {
    this.aborted = true;
    this.continueWaiter?.reject(new Cancelled());
    this.returnWaiter?.reject(new Cancelled());
    this.socket?.destroy();
  }

  info(): Record<string, unknown> {
    switch (this.status) {
      case 'none':
        return {};
      case 'setup':
        return { status: 'setup' };
      case 'failed':
        return this.errorDesc === undefined ? { status: 'failed' } : { status: 'failed', 'error-desc': this.errorDesc };
      case 'cancelled':
        return { status: 'cancelled' };
      case 'completed':
        return { status: 'completed', 'setup-time': this.setupTime, downtime: this.downtime, 'total-time': this.totalTime, ram: this.ramInfo() };
      default:
        return {
          'expected-downtime': this.expectedDowntime,
          status: this.status,
          'setup-time': this.setupTime,
          'total-time': Math.round(performance.now() - this.startedAt),
          ram: this.ramInfo(),
        };
    }
  }

  /** MigrationStats as the simulated version has it (10.0 has no `skipped`). */
  private ramInfo(): Record<string, unknown> {
    const members = this.vm.profile.ramStatsMembers;
    return Object.fromEntries(Object.entries(this.allRamCounters()).filter(([name]) => members.has(name)));
  }

  private allRamCounters(): Record<string, unknown> {
    return {
      transferred: this.transferred,
      remaining: this.pendingCount * PAGE_SIZE,
      total: this.vm.ram.size,
      duplicate: this.duplicate,
      skipped: 0,
      normal: this.normal,
      'normal-bytes': this.normal * PAGE_SIZE,
      'dirty-pages-rate': this.dirtyPagesRate,
      mbps: this.mbps,
      'dirty-sync-count': this.dirtySyncCount,
      'postcopy-requests': 0,
      'page-size': PAGE_SIZE,
      'multifd-bytes': 0,
      'pages-per-second': this.pagesPerSecond,
      'precopy-bytes': this.precopyBytes,
      'downtime-bytes': this.downtimeBytes,
      'postcopy-bytes': 0,
      'dirty-sync-missed-zero-copy': 0,
    };
  }

  private setStatus(status: MigrationStatus): void {
    this.status = status;
    if (!this.aborted) this.vm.migrationEvent(status, 'source');
  }

  private checkStop(): void {
    if (this.aborted || this.cancelRequested) throw new Cancelled();
  }

  private async run(target: MigrationTarget): Promise<void> {
    try {
      try {
        this.socket = await (this.vm.connectMigration ?? connectTarget)(target);
      } catch (error) {
        throw new StreamFailure(`Failed to connect to '${describeTarget(target)}': ${errnoText(error as NodeJS.ErrnoException)}`);
      }
      const socket = this.socket;
      let socketError: NodeJS.ErrnoException | undefined;
      socket.on('error', (error: NodeJS.ErrnoException) => {
        socketError = error;
      });
      socket.on('data', (chunk: Buffer) => this.onReturnPath(chunk));
      socket.on('close', () => {
        this.returnWaiter?.reject(new StreamFailure(`Unable to write to socket: ${errnoText(socketError)}`));
      });
      this.checkStop();
      this.setupTime = Math.round(performance.now() - this.startedAt);

      // ram_save_setup(): every page is dirty for the first pass.
      const ram = this.vm.ram;
      ram.startDirtyLog();
      this.pending = new Uint8Array(ram.pageCount).fill(1);
      this.pendingCount = ram.pageCount;
      this.dirtySyncCount = 1;
      this.lastSyncAt = performance.now();
      this.emitPass();
      this.setStatus('active');
      await this.write(encodeHeader(ram.pageCount), () => socketError);
      this.windowStart = performance.now();

      // migration_iteration_run(), QEMU 7.2.
      for (;;) {
        this.checkStop();
        let pendingBytes = this.pendingCount * PAGE_SIZE;
        if (pendingBytes < this.thresholdBytes) {
          this.sync();
          pendingBytes = this.pendingCount * PAGE_SIZE;
        }
        if (pendingBytes === 0 || pendingBytes < this.thresholdBytes) break;
        await this.sendBatch(true, () => socketError);
      }
      await this.complete(() => socketError);
    } catch (error) {
      await this.finishWithError(error);
    }
  }

  /** migration_completion(): stop the vCPUs, maybe pause, last pass, devices, end. */
  private async complete(socketError: () => NodeJS.ErrnoException | undefined): Promise<void> {
    this.downtimeStart = performance.now();
    this.vmWasRunning = this.vm.isRunning;
    this.stoppedVm = true;
    this.vm.vmStopForce('finish-migrate');
    if (this.vm.capability('pause-before-switchover')) {
      const resumed = new Promise<void>((resolve, reject) => {
        this.continueWaiter = { resolve, reject };
      });
      this.setStatus('pre-switchover');
      await resumed;
      this.checkStop();
      this.setStatus('device');
    } else if (this.vm.profile.deviceStateWithoutPause) {
      // 10.0 passes through `device` whether or not it paused before it.
      this.setStatus('device');
    }
    for (const device of this.vm.devices) await device.beforeFinalSync?.();
    this.checkStop();
    this.sync();
    while (this.pendingCount > 0) await this.sendBatch(false, socketError);
    const tail: Buffer[] = [];
    for (const device of this.vm.devices) {
      if (device.saveState) tail.push(encodeDevice(device.id, await device.saveState()));
    }
    tail.unshift(...this.markers.splice(0));
    tail.push(encodeRunState(this.vmWasRunning), encodeEof());
    const tailBytes = Buffer.concat(tail);
    this.transferred += tailBytes.length;
    this.downtimeBytes += tailBytes.length;
    const returnPath = this.vm.capability('return-path')
      ? new Promise<void>((resolve, reject) => {
          this.returnWaiter = { resolve, reject };
        })
      : undefined;
    await this.writeLast(tailBytes, socketError);
    if (returnPath) await returnPath;
    this.checkStop();
    const now = performance.now();
    this.downtime = Math.round(now - this.downtimeStart);
    this.totalTime = Math.round(now - this.startedAt);
    this.updateCounters(now);
    this.vm.ram.stopDirtyLog();
    this.socket?.end();
    this.setStatus('completed');
    this.vm.setRunState('postmigrate');
  }

  private async finishWithError(error: unknown): Promise<void> {
    this.socket?.destroy();
    this.continueWaiter = undefined;
    this.vm.ram.stopDirtyLog();
    if (this.aborted) return;
    if (!this.cancelRequested) {
      this.errorDesc = error instanceof Error ? error.message : String(error);
      this.setStatus('failed');
    }
    // migration_iteration_finish(): the source runs again if it ran before.
    if (this.stoppedVm) {
      if (this.vmWasRunning) this.vm.vmStart();
      else if (this.vm.runState === 'finish-migrate') this.vm.setRunState('postmigrate');
    }
    if (this.cancelRequested) {
      // migrate_fd_cleanup() runs in a bottom half after the thread ended.
      await yieldToEventLoop();
      this.setStatus('cancelled');
    }
  }

  private sync(): void {
    const now = performance.now();
    const pages = this.vm.ram.syncDirtyLog();
    for (const page of pages) {
      if (this.pending[page] === 0) {
        this.pending[page] = 1;
        this.pendingCount++;
      }
    }
    const seconds = (now - this.lastSyncAt) / 1000;
    if (seconds > 0) this.dirtyPagesRate = Math.round(pages.length / seconds);
    this.lastSyncAt = now;
    this.dirtySyncCount++;
    this.markers.push(encodePass(this.dirtySyncCount));
    this.emitPass();
  }

  private emitPass(): void {
    if (this.vm.capability('events') && !this.aborted) this.vm.emitEvent('MIGRATION_PASS', { pass: this.dirtySyncCount });
  }

  /** Sends up to one batch of pending pages; with `limited`, within max-bandwidth per 100 ms window. */
  private async sendBatch(limited: boolean, socketError: () => NodeJS.ErrnoException | undefined): Promise<void> {
    let now = performance.now();
    if (now - this.windowStart >= WINDOW_MS) this.updateCounters(now);
    if (limited) {
      const budget = Number(this.vm.parameters['max-bandwidth']) / (1000 / WINDOW_MS);
      if (this.transferred - this.windowTransferred >= budget) {
        await sleep(this.windowStart + WINDOW_MS - now);
        this.checkStop();
        now = performance.now();
        this.updateCounters(now);
      }
    }
    const budgetBytes = limited
      ? Math.max(PAGE_RECORD_BYTES, Number(this.vm.parameters['max-bandwidth']) / (1000 / WINDOW_MS) - (this.transferred - this.windowTransferred))
      : Infinity;
    const maxPages = Math.min(BATCH_PAGES, Math.ceil(budgetBytes / PAGE_RECORD_BYTES));
    const buffer = Buffer.allocUnsafe(maxPages * PAGE_RECORD_BYTES);
    let offset = 0;
    let sent = 0;
    const ram = this.vm.ram;
    for (let page = 0; page < ram.pageCount && sent < maxPages && this.pendingCount > 0; page++) {
      if (this.pending[page] === 0) continue;
      this.pending[page] = 0;
      this.pendingCount--;
      const bytes = ram.page(page);
      if (bytes.equals(ZERO_PAGE)) {
        offset = writeZeroRecord(buffer, offset, page);
        this.duplicate++;
      } else {
        offset = writePageRecord(buffer, offset, page, bytes);
        this.normal++;
      }
      sent++;
    }
    this.pagesSent += sent;
    const markers = Buffer.concat(this.markers.splice(0));
    offset += markers.length;
    this.transferred += offset;
    if (this.stoppedVm) this.downtimeBytes += offset;
    else this.precopyBytes += offset;
    await this.write(markers.length > 0 ? Buffer.concat([markers, buffer.subarray(0, offset - markers.length)]) : buffer.subarray(0, offset), socketError);
  }

  private async write(data: Buffer, socketError: () => NodeJS.ErrnoException | undefined): Promise<void> {
    const socket = this.socket;
    if (!socket) throw new StreamFailure('no migration connection');
    if (socket.destroyed) this.failIfClosed(socketError());
    if (!socket.write(data)) await writable(socket);
    this.checkStop();
    if (socket.destroyed) this.failIfClosed(socketError());
    await yieldToEventLoop();
    this.checkStop();
    if (socket.destroyed) this.failIfClosed(socketError());
  }

  /**
   * The stream's last bytes (devices, run state, EOF): done once the kernel took them, as QEMU's
   * final qemu_fflush() is. The destination may load them and close its end at once; a close
   * after that is the destination finishing, not a failed write (without the return path the
   * source cannot tell more, nor does QEMU).
   */
  private async writeLast(data: Buffer, socketError: () => NodeJS.ErrnoException | undefined): Promise<void> {
    const socket = this.socket;
    if (!socket) throw new StreamFailure('no migration connection');
    if (socket.destroyed) this.failIfClosed(socketError());
    await new Promise<void>((resolve, reject) => {
      socket.write(data, (error) => (error ? reject(new StreamFailure(`Unable to write to socket: ${errnoText(error as NodeJS.ErrnoException)}`)) : resolve()));
    }).catch((error: unknown) => {
      this.checkStop();
      throw error;
    });
    this.checkStop();
  }

  private failIfClosed(error: NodeJS.ErrnoException | undefined): never {
    this.checkStop();
    throw new StreamFailure(`Unable to write to socket: ${errnoText(error)}`);
  }

  /** migration_update_counters(): bandwidth, threshold, expected downtime, every window. */
  private updateCounters(now: number): void {
    const elapsed = now - this.windowStart;
    if (elapsed <= 0) return;
    const bytes = this.transferred - this.windowTransferred;
    this.bandwidthBytesPerMs = bytes / elapsed;
    this.thresholdBytes = this.bandwidthBytesPerMs * Number(this.vm.parameters['downtime-limit']);
    this.mbps = (bytes * 8) / (elapsed / 1000) / 1e6;
    this.pagesPerSecond = Math.round(((this.pagesSent - this.windowPages) * 1000) / elapsed);
    if (this.bandwidthBytesPerMs > 0) this.expectedDowntime = Math.round((this.pendingCount * PAGE_SIZE) / this.bandwidthBytesPerMs);
    this.windowStart = now;
    this.windowTransferred = this.transferred;
    this.windowPages = this.pagesSent;
  }

  private onReturnPath(chunk: Buffer): void {
    this.returnBuffer = Buffer.concat([this.returnBuffer, chunk]);
    const type = this.returnBuffer[0];
    if (type === ReturnRecord.LOADED) {
      this.returnWaiter?.resolve();
    } else if (type === ReturnRecord.REFUSED && this.returnBuffer.length >= 5) {
      const length = this.returnBuffer.readUInt32BE(1);
      if (this.returnBuffer.length >= 5 + length) {
        const message = this.returnBuffer.toString('utf8', 5, 5 + length);
        this.returnWaiter?.reject(new StreamFailure(`Destination failed to load the migration stream: ${message}`));
      }
    }
  }
}
