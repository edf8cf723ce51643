import type { QmpClient, QmpEvent, QmpEventListener } from '../../src/qmp/client.js';
import { QmpCommandError } from '../../src/qmp/errors.js';

/** A MIGRATION event as `MIGRATION:status`; other events by name (PASS counts vary, see `passFacts`). */
export function eventName(event: QmpEvent): string {
  if (event.event === 'MIGRATION') return `MIGRATION:${String(event.data?.status)}`;
  if (event.event === 'SHUTDOWN') return `SHUTDOWN:${String(event.data?.reason)}`;
  return event.event;
}

/** An event that QEMU emits or not, by a race it does not close, between two others. */
export interface RacedEvent {
  event: string;
  after: string;
  before: string;
  /** where in QEMU the race is, for the reader */
  why: string;
}

/**
 * The events with `race.event` left out where (and only where) QEMU allows it either way:
 * directly between `race.after` and `race.before`. Anywhere else it stays, so that an event
 * out of place still shows as a difference. Pure.
 */
export function withoutRacedEvent(events: readonly string[], race: RacedEvent): string[] {
  return events.filter((name, index) => !(name === race.event && events[index - 1] === race.after && events[index + 1] === race.before));
}

/**
 * What a scenario observed, normalised so that real QEMU and the simulator can be compared
 * line by line: command outcomes (error class and description), statuses, and the events
 * of each side in order (MIGRATION_PASS left out: their number varies with timing).
 */
export class Trace {
  readonly lines: string[] = [];
  private readonly listeners = new Map<string, { listener: QmpEventListener; all: QmpEvent[] }>();

  note(line: string): void {
    this.lines.push(line);
  }

  /** Starts recording `side`'s events (call before the commands that cause them). */
  watch(side: string, client: QmpClient): void {
    const listener = client.listen({});
    const entry = { listener, all: [] as QmpEvent[] };
    listener.onPush = (event) => entry.all.push(event);
    this.listeners.set(side, entry);
  }

  /** The events of one side so far, MIGRATION_PASS left out. */
  events(side: string): string[] {
    return (this.listeners.get(side)?.all ?? []).filter((e) => e.event !== 'MIGRATION_PASS').map(eventName);
  }

  /** Facts about MIGRATION_PASS that hold on QEMU 7.2 whatever the timing. */
  passFacts(side: string): string[] {
    const all = this.listeners.get(side)?.all ?? [];
    const names = all.map((e) => (e.event === 'MIGRATION_PASS' ? `PASS:${String(e.data?.pass)}` : eventName(e)));
    const passes = all.filter((e) => e.event === 'MIGRATION_PASS').map((e) => Number(e.data?.pass));
    const facts = [`passes numbered 1..n: ${passes.every((p, i) => p === i + 1)}`];
    if (passes.length > 0) facts.push(`first pass before active: ${names.indexOf('PASS:1') < names.indexOf('MIGRATION:active')}`);
    const device = names.indexOf('MIGRATION:device');
    if (device >= 0) facts.push(`a pass between device and completed: ${names.slice(device).some((n) => n.startsWith('PASS:'))}`);
    return facts;
  }

  /** Records the outcome of a command: `ok`, or the error class and description. */
  async step(label: string, call: Promise<unknown>, options: { desc?: boolean } = {}): Promise<unknown> {
    try {
      const result = await call;
      this.lines.push(`${label} -> ok`);
      return result;
    } catch (error) {
      if (!(error instanceof QmpCommandError)) throw error;
      this.lines.push(`${label} -> ${error.errorClass}${options.desc === false ? '' : `: ${error.desc}`}`);
      return undefined;
    }
  }

  async status(side: string, client: QmpClient): Promise<void> {
    const status = (await client.execute('query-status')) as { status: string; running: boolean; singlestep?: boolean };
    this.lines.push(`${side} query-status: ${status.status} running=${status.running} singlestep=${String(status.singlestep)}`);
  }

  async migrateInfo(side: string, client: QmpClient, keys: readonly string[] = []): Promise<Record<string, unknown>> {
    const info = (await client.execute('query-migrate')) as Record<string, unknown>;
    const present = keys.filter((key) => key in info);
    this.lines.push(`${side} query-migrate: status=${String(info.status)} has=[${present.join(',')}]`);
    return info;
  }
}
