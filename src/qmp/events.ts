import { z } from 'zod';
import { QmpTimeoutError, type QmpError } from './errors.js';

export const QmpEventSchema = z.looseObject({
  event: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
  timestamp: z.looseObject({ seconds: z.number(), microseconds: z.number() }).optional(),
});
export type QmpEvent = z.infer<typeof QmpEventSchema>;

export interface QmpEventFilter {
  /** Event names to keep; all when absent. */
  names?: readonly string[] | undefined;
  predicate?: ((event: QmpEvent) => boolean) | undefined;
}

/** Event time in ms since the epoch, from QEMU's own timestamp. */
export function eventTimeMs(event: QmpEvent): number | undefined {
  if (!event.timestamp) return undefined;
  return event.timestamp.seconds * 1000 + event.timestamp.microseconds / 1000;
}

/**
 * A queue of the events that pass a filter, filled from the moment it is registered, so an
 * event that arrives before anyone awaits it is kept.
 */
export class QmpEventListener implements AsyncIterable<QmpEvent> {
  private readonly queue: QmpEvent[] = [];
  private waiters: { resolve: (event: QmpEvent) => void; reject: (error: Error) => void }[] = [];
  private endError: Error | undefined;
  /** When set, events go here instead of the queue. */
  onPush: ((event: QmpEvent) => void) | undefined;

  constructor(
    private readonly filter: QmpEventFilter,
    private readonly unregister: (listener: QmpEventListener) => void,
  ) {}

  push(event: QmpEvent): void {
    if (this.endError) return;
    if (this.filter.names && !this.filter.names.includes(event.event)) return;
    if (this.filter.predicate && !this.filter.predicate(event)) return;
    if (this.onPush) {
      this.onPush(event);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(event);
    else this.queue.push(event);
  }

  /** The next event; rejects on timeout (QmpTimeoutError) or when the connection ends. */
  next(timeoutMs?: number): Promise<QmpEvent> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.endError) return Promise.reject(this.endError);
    return new Promise<QmpEvent>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = {
        resolve: (event: QmpEvent) => {
          if (timer) clearTimeout(timer);
          resolve(event);
        },
        reject: (error: Error) => {
          if (timer) clearTimeout(timer);
          reject(error);
        },
      };
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          const names = this.filter.names ? this.filter.names.join(' or ') : 'any';
          reject(new QmpTimeoutError(`no ${names} event within ${timeoutMs} ms`, { details: { events: this.filter.names, timeoutMs } }));
        }, timeoutMs);
      }
      this.waiters.push(waiter);
    });
  }

  /** Events already received and not yet taken. */
  drain(): QmpEvent[] {
    return this.queue.splice(0);
  }

  close(): void {
    this.unregister(this);
    this.end(undefined);
  }

  terminate(error: QmpError): void {
    this.end(error);
  }

  private end(error: Error | undefined): void {
    if (this.endError) return;
    this.endError = error ?? new Error('event listener closed');
    for (const waiter of this.waiters) waiter.reject(this.endError);
    this.waiters = [];
  }

  async *[Symbol.asyncIterator](): AsyncIterator<QmpEvent> {
    for (;;) {
      const queued = this.queue.shift();
      if (queued) {
        yield queued;
        continue;
      }
      if (this.endError) return;
      try {
        yield await this.next();
      } catch {
        return;
      }
    }
  }
}
