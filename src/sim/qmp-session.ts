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

const TOP_LEVEL_KEYS = new Set(['execute', 'exec-oob', 'arguments', 'id', 'control']);

/**
 * One QMP connection's protocol state, without I/O: lines in, messages out. Mirrors QEMU
 * 7.2's monitor/qmp.c and qapi/qmp-dispatch.c: greeting, capabilities negotiation, in-order
 * replies with the id echoed as given, events only after negotiation.
 */
export class QmpSession {
  private negotiated = false;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly registry: QmpCommandRegistry,
    private readonly send: (message: Record<string, unknown>) => void,
  ) {}

  greet(version: QmpGreetingVersion): void {
    this.send({ QMP: { version, capabilities: ['oob'] } });
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

  /** One line from the client. Commands run strictly one after the other. */
  receiveLine(line: string): Promise<void> {
    if (line.trim() === '') return this.queue;
    this.queue = this.queue.then(() => this.handleLine(line));
    return this.queue;
  }

  private reply(message: Record<string, unknown>): void {
    if (!this.closed) this.send(message);
  }

  private async handleLine(line: string): Promise<void> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      this.reply({ error: { class: 'GenericError', desc: 'JSON parse error, invalid JSON' } });
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      this.reply({ error: { class: 'GenericError', desc: 'QMP input must be a JSON object' } });
      return;
    }
    const message = parsed as Record<string, unknown>;
    const hasId = 'id' in message;
    const withId = (body: Record<string, unknown>): Record<string, unknown> => (hasId ? { ...body, id: message.id } : body);
    try {
      const { name, args } = this.validate(message);
      const result = await this.dispatch(name, args);
      this.reply(withId({ return: result }));
    } catch (error) {
      const failure = error instanceof QmpFailure ? error : genericError(error instanceof Error ? error.message : String(error));
      let desc = failure.desc;
      // QEMU replaces the message for anything but qmp_capabilities before negotiation.
      if (!this.negotiated && failure.errorClass === 'CommandNotFound') desc = "Expecting capabilities negotiation with 'qmp_capabilities'";
      this.reply(withId({ error: { class: failure.errorClass, desc } }));
    }
  }

  private validate(message: Record<string, unknown>): { name: string; args: Record<string, unknown> } {
    const execute = message.execute ?? message['exec-oob'];
    if (execute === undefined) throw genericError("QMP input lacks member 'execute'");
    if (typeof execute !== 'string') throw genericError("QMP input member 'execute' must be a string");
    for (const key of Object.keys(message)) {
      if (!TOP_LEVEL_KEYS.has(key)) throw genericError(`QMP input member '${key}' is unexpected`);
    }
    const args = message.arguments ?? {};
    if (typeof args !== 'object' || args === null || Array.isArray(args)) throw genericError("QMP input member 'arguments' must be an object");
    return { name: execute, args: args as Record<string, unknown> };
  }

  private async dispatch(name: string, args: Record<string, unknown>): Promise<unknown> {
    if (name === 'qmp_capabilities') {
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
      return {};
    }
    if (!this.negotiated) throw new QmpFailure('CommandNotFound', `The command ${name} has not been found`);
    return this.registry.dispatch(name, args);
  }
}
