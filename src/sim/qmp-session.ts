import type { JsonStreamItem } from '../qmp/json-stream.js';
import { qdictOrder } from '../qmp/json-writer.js';
import { genericError, QmpFailure } from './qmp-args.js';
import type { QmpCommandRegistry } from './qmp-registry.js';

export interface QmpGreetingVersion {
  qemu: { micro: number; minor: number; major: number };
  package: string;
}

export interface SimEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

export function eventTimestamp(nowMs = Date.now()): SimEvent['timestamp'] {
  const micros = Math.round(nowMs * 1000);
  return { seconds: Math.floor(micros / 1e6), microseconds: micros % 1e6 };
}

/** What the session needs to know of the commands beyond running them. */
export interface QmpSessionCommands {
  registry: QmpCommandRegistry;
  /** Whether `name` may run with `exec-oob` (QAPI's allow-oob). */
  allowsOob(name: string): boolean;
}

type Request = { name: string; args: Record<string, unknown>; oob: boolean };

/**
 * One QMP connection's protocol state, without I/O: parsed input in (values and parse errors
 * from the JSON stream), messages out. Mirrors QEMU 7.2's monitor/qmp.c and
 * qapi/qmp-dispatch.c: greeting, capabilities negotiation (with `oob`), requests checked in
 * qmp_dispatch_check_obj()'s order and words, in-order replies with the id echoed as given,
 * parse errors answered without an id, events only after negotiation.
 */
export class QmpSession {
  private negotiated = false;
  private oobEnabled = false;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly commands: QmpSessionCommands,
    private readonly send: (message: Record<string, unknown>) => void,
  ) {}

  greet(version: QmpGreetingVersion): void {
    // Members in QAPI's order, so that QEMU's QDict order comes out for colliding keys too.
    const { major, minor, micro } = version.qemu;
    this.send({ QMP: { version: { qemu: { major, minor, micro }, package: version.package }, capabilities: ['oob'] } });
  }

  get isNegotiated(): boolean {
    return this.negotiated;
  }

  /** An event from the VM; dropped until the client has negotiated, as QEMU does. */
  event(event: SimEvent): void {
    if (this.negotiated && !this.closed) this.send(event as unknown as Record<string, unknown>);
  }

  close(): void {
    this.closed = true;
  }

  /**
   * One value or parse error from the client. In-band commands run strictly one after the
   * other; with OOB negotiated, an `exec-oob` request is answered at once (QEMU dispatches it
   * from its I/O thread, ahead of queued in-band commands).
   */
  receive(item: JsonStreamItem): Promise<void> {
    if (item.kind === 'value' && this.oobEnabled && isOobShaped(item.value)) return this.handle(item);
    this.queue = this.queue.then(() => this.handle(item));
    return this.queue;
  }

  private reply(message: Record<string, unknown>): void {
    if (!this.closed) this.send(message);
  }

  private async handle(item: JsonStreamItem): Promise<void> {
    if (item.kind === 'error') {
      this.reply({ error: { class: 'GenericError', desc: item.message } });
      return;
    }
    const value = item.value;
    const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
    const message = (isObject ? value : {}) as Record<string, unknown>;
    const hasId = isObject && Object.prototype.hasOwnProperty.call(message, 'id');
    const withId = (body: Record<string, unknown>): Record<string, unknown> => (hasId ? { ...body, id: message.id } : body);
    try {
      if (!isObject) throw genericError('QMP input must be a JSON object');
      const request = this.check(message);
      const result = await this.dispatch(request);
      this.reply(withId({ return: result }));
    } catch (error) {
      const failure = error instanceof QmpFailure ? error : genericError(error instanceof Error ? error.message : String(error));
      let desc = failure.desc;
      // QEMU replaces the message for anything but qmp_capabilities before negotiation.
      if (!this.negotiated && failure.errorClass === 'CommandNotFound') desc = "Expecting capabilities negotiation with 'qmp_capabilities'";
      this.reply(withId({ error: { class: failure.errorClass, desc } }));
    }
  }

  /** qmp_dispatch_check_obj(): members in QEMU's iteration order, the first fault wins. */
  private check(message: Record<string, unknown>): Request {
    let execKey: string | undefined;
    for (const key of qdictOrder(Object.keys(message))) {
      const value = message[key];
      if (key === 'execute' || (key === 'exec-oob' && this.oobEnabled)) {
        if (typeof value !== 'string') throw genericError(`QMP input member '${key}' must be a string`);
        if (execKey) throw genericError(`QMP input member '${key}' clashes with '${execKey}'`);
        execKey = key;
      } else if (key === 'arguments') {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) throw genericError("QMP input member 'arguments' must be an object");
      } else if (key !== 'id') {
        throw genericError(`QMP input member '${key}' is unexpected`);
      }
    }
    if (!execKey) throw genericError("QMP input lacks member 'execute'");
    return {
      name: message[execKey] as string,
      args: (message.arguments ?? {}) as Record<string, unknown>,
      oob: execKey === 'exec-oob',
    };
  }

  /** qmp_dispatch() after the checks: find the command, OOB allowed?, then its own checks. */
  private async dispatch({ name, args, oob }: Request): Promise<unknown> {
    const known = name === 'qmp_capabilities' || (this.negotiated && this.commands.registry.has(name));
    if (!known) throw new QmpFailure('CommandNotFound', `The command ${name} has not been found`);
    if (oob && !this.commands.allowsOob(name)) throw genericError(`The command ${name} does not support OOB`);
    if (name !== 'qmp_capabilities') return this.commands.registry.dispatch(name, args);
    if (this.negotiated) throw new QmpFailure('CommandNotFound', 'Capabilities negotiation is already complete, command ignored');
    for (const key of Object.keys(args)) {
      if (key !== 'enable') throw genericError(`Parameter '${key}' is unexpected`);
    }
    const enable = args.enable;
    if (enable !== undefined) {
      if (!Array.isArray(enable)) throw genericError("Invalid parameter type for 'enable', expected: array");
      for (const capability of enable) {
        if (capability !== 'oob') throw genericError(`Parameter 'enable' does not accept value '${String(capability)}'`);
      }
    }
    this.negotiated = true;
    this.oobEnabled = Array.isArray(enable) && enable.includes('oob');
    return {};
  }
}

/** qmp_is_oob(): `exec-oob` without `execute`. */
function isOobShaped(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return 'exec-oob' in value && !('execute' in value);
}
