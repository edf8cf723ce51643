import { z } from 'zod';
import { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_NESTING, QmpLineDecoder } from './framing.js';
import {
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
} from './errors.js';
import { connectSocket, formatEndpoint, parseEndpoint, type QmpEndpoint, type QmpStream } from './transport.js';
import { QmpEventListener, type QmpEvent, type QmpEventFilter, QmpEventSchema } from './events.js';

export type { QmpEvent, QmpEventFilter } from './events.js';
export { QmpEventListener } from './events.js';

const GreetingSchema = z.looseObject({
  QMP: z.looseObject({
    version: z.looseObject({
      qemu: z.looseObject({ major: z.number().int(), minor: z.number().int(), micro: z.number().int() }),
      package: z.string(),
    }),
    capabilities: z.array(z.string()),
  }),
});
export type QmpGreeting = z.infer<typeof GreetingSchema>;

const ErrorReplySchema = z.looseObject({ class: z.string(), desc: z.string() });

/** One message on the wire, for transcripts and --verbose. `t` is ms since the stream opened. */
export interface QmpTrafficEntry {
  t: number;
  dir: 'sent' | 'received';
  message: Record<string, unknown>;
}

export interface QmpClientOptions {
  /** Commands written to QEMU and not yet answered, at most. Further calls queue. Default 64. */
  maxInFlight?: number;
  /** Default deadline of a command, from the call to its reply. Default 30 s. */
  commandTimeoutMs?: number;
  /** Deadline for the greeting and for negotiation. Default 10 s. */
  greetingTimeoutMs?: number;
  /** Largest message accepted from QEMU. Default 10 MiB. */
  maxMessageBytes?: number;
  /** Deepest nesting of a message; deeper is QMP_MESSAGE_TOO_DEEP (default QEMU's 1024). */
  maxNesting?: number;
  /** Send qmp_capabilities after the greeting (default). Off only to test QEMU's own behaviour. */
  negotiate?: boolean;
  /** What the peer is called in error messages (an endpoint, a VM name). */
  peerName?: string;
  onTraffic?: (entry: QmpTrafficEntry) => void;
}

export interface ExecuteOptions<T> {
  timeoutMs?: number;
  /** Validates the `return` value; a mismatch is a QmpProtocolError (QMP_BAD_REPLY). */
  schema?: z.ZodType<T>;
}

interface PendingCommand {
  /** Numeric: QEMU 7.2 parses a string id measurably slower (bench/qmp). */
  id: number;
  name: string;
  args: Record<string, unknown> | undefined;
  schema: z.ZodType<unknown> | undefined;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  /** performance.now() after which the command times out; Infinity for none. */
  deadline: number;
  timeoutMs: number;
  sent: boolean;
  /** Text written as given instead of a built command (executeRaw); QEMU answers it without our id. */
  raw?: string;
}

export interface QmpClientStats {
  sent: number;
  received: number;
  events: number;
  /** Replies whose id was unknown (late replies to timed-out commands, or foreign ids). */
  dropped: number;
}

/**
 * A QMP client: greeting, negotiation, commands routed by id with bounded pipelining,
 * per-command deadlines, and events. Every promise it hands out settles: on a reply, a
 * deadline, or the end of the connection (then all at once, with one QmpDisconnectedError).
 */
export class QmpClient {
  readonly stats: QmpClientStats = { sent: 0, received: 0, events: 0, dropped: 0 };
  private readonly decoder: QmpLineDecoder;
  private readonly pending = new Map<number, PendingCommand>();
  /** One timer for the earliest deadline, not one per command: cheaper per round trip. */
  private deadlineTimer: NodeJS.Timeout | undefined;
  private deadlineTimerAt = Infinity;
  private readonly queue: PendingCommand[] = [];
  private readonly listeners = new Set<QmpEventListener>();
  private inFlight = 0;
  private nextId = 1;
  private terminalError: QmpError | undefined;
  private greetingWaiter: { resolve: (g: QmpGreeting) => void; reject: (e: Error) => void } | undefined;
  private readonly startedAt = performance.now();
  private readonly closedPromise: Promise<QmpError>;
  private resolveClosed!: (error: QmpError) => void;
  private closing = false;
  private greetingValue: QmpGreeting | undefined;
  readonly peerName: string;
  readonly maxInFlight: number;
  private defaultTimeoutMs: number;
  /** A command ran past its deadline and nothing has been answered since. */
  private unanswered = false;

  private constructor(
    private readonly stream: QmpStream,
    private readonly options: QmpClientOptions,
  ) {
    this.decoder = new QmpLineDecoder(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, options.maxNesting ?? DEFAULT_MAX_NESTING);
    this.peerName = options.peerName ?? 'QMP peer';
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 64);
    this.defaultTimeoutMs = options.commandTimeoutMs ?? 30_000;
    this.closedPromise = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    stream.onData((chunk) => this.onData(chunk));
    stream.onClose((error) => {
      const reason = this.closing ? 'closed by nicmig' : error ? `lost: ${error.message}` : 'closed by the peer';
      this.terminate(new QmpDisconnectedError(`connection to ${this.peerName} ${reason}`, { cause: error }));
    });
  }

  /** Default deadline of a command, from the call to its reply. */
  get commandTimeoutMs(): number {
    return this.defaultTimeoutMs;
  }

  /** Sets the default deadline of the commands called from now on (a migration's step deadline). */
  setCommandTimeout(ms: number): void {
    if (!(ms > 0)) throw new RangeError(`a command deadline must be positive, got ${ms}`);
    this.defaultTimeoutMs = ms;
  }

  /**
   * True when a command got no reply within its deadline and QEMU has answered nothing since:
   * the commands behind it on this connection wait behind it (QEMU answers in order), so
   * whoever must still act on this QEMU does it over a new connection.
   */
  get unresponsive(): boolean {
    return this.unanswered;
  }

  /** Connects to `unix:/path` or `tcp:host:port`, reads the greeting and negotiates. */
  static async connect(endpoint: string | QmpEndpoint, options: QmpClientOptions = {}): Promise<QmpClient> {
    const parsed = typeof endpoint === 'string' ? parseEndpoint(endpoint) : endpoint;
    const timeout = options.greetingTimeoutMs ?? 10_000;
    const stream = await connectSocket(parsed, timeout);
    return QmpClient.attach(stream, { peerName: formatEndpoint(parsed), ...options });
  }

  /** Runs the protocol over an already open stream. */
  static async attach(stream: QmpStream, options: QmpClientOptions = {}): Promise<QmpClient> {
    const client = new QmpClient(stream, options);
    try {
      await client.handshake(options.greetingTimeoutMs ?? 10_000, options.negotiate ?? true);
    } catch (error) {
      client.destroy();
      if (error instanceof QmpProtocolError || error instanceof QmpConnectError) throw error;
      throw new QmpConnectError(`no QMP session with ${client.peerName}: ${(error as Error).message}`, { cause: error });
    }
    return client;
  }

  get greeting(): QmpGreeting {
    if (!this.greetingValue) throw new QmpProtocolError('QMP_NOT_CONNECTED', 'no greeting received yet');
    return this.greetingValue;
  }

  get isOpen(): boolean {
    return this.terminalError === undefined;
  }

  /** Resolves when the connection has ended, with the error pending commands failed with. */
  get closed(): Promise<QmpError> {
    return this.closedPromise;
  }

  private async handshake(timeoutMs: number, negotiate: boolean): Promise<void> {
    const greeting = new Promise<QmpGreeting>((resolve, reject) => {
      this.greetingWaiter = { resolve, reject };
    });
    const timer = setTimeout(() => {
      this.greetingWaiter?.reject(new QmpConnectError(`no QMP greeting from ${this.peerName} within ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      this.greetingValue = await greeting;
    } finally {
      clearTimeout(timer);
      this.greetingWaiter = undefined;
    }
    if (!negotiate) return;
    try {
      await this.execute('qmp_capabilities', {}, { timeoutMs });
    } catch (error) {
      if (error instanceof QmpCommandError || error instanceof QmpTimeoutError) {
        throw new QmpProtocolError('QMP_NEGOTIATION_FAILED', `capability negotiation with ${this.peerName} failed: ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  /**
   * Runs one command. Calls may overlap: up to maxInFlight are on the wire at once, the rest
   * wait their turn in call order; QEMU answers in order.
   */
  execute<T = unknown>(name: string, args?: Record<string, unknown>, options: ExecuteOptions<T> = {}): Promise<T> {
    if (this.terminalError) return Promise.reject(this.terminalError);
    return new Promise<T>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs;
      const command: PendingCommand = {
        id: this.nextId++,
        name,
        args,
        schema: options.schema as z.ZodType<unknown> | undefined,
        resolve: resolve as (value: unknown) => void,
        reject,
        deadline: timeoutMs > 0 && Number.isFinite(timeoutMs) ? performance.now() + timeoutMs : Infinity,
        timeoutMs,
        sent: false,
      };
      this.pending.set(command.id, command);
      if (command.deadline < this.deadlineTimerAt) this.armDeadlineTimer(command.deadline);
      if (this.inFlight < this.maxInFlight) this.send(command);
      else this.queue.push(command);
    });
  }

  /**
   * Writes `text` exactly as given (no newline, no id added) as one command in flight, and
   * settles with the reply QEMU sends without an id: its `return`, or a QmpCommandError (a
   * parse error for text QEMU cannot read). For protocol tests and `nicmig qmp` diagnostics;
   * text that carries an id of its own is answered under that id and ends at the deadline.
   */
  executeRaw(text: string, options: { timeoutMs?: number } = {}): Promise<unknown> {
    if (this.terminalError) return Promise.reject(this.terminalError);
    return new Promise((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs;
      const command: PendingCommand = {
        id: this.nextId++,
        name: '(raw)',
        args: { text },
        schema: undefined,
        resolve,
        reject,
        deadline: timeoutMs > 0 && Number.isFinite(timeoutMs) ? performance.now() + timeoutMs : Infinity,
        timeoutMs,
        sent: false,
        raw: text,
      };
      this.pending.set(command.id, command);
      if (command.deadline < this.deadlineTimerAt) this.armDeadlineTimer(command.deadline);
      if (this.inFlight < this.maxInFlight) this.send(command);
      else this.queue.push(command);
    });
  }

  /** Registers an event listener now, before the command that causes the events. */
  listen(filter: QmpEventFilter = {}): QmpEventListener {
    const listener = new QmpEventListener(filter, (l) => this.listeners.delete(l));
    if (this.terminalError) listener.terminate(this.terminalError);
    else this.listeners.add(listener);
    return listener;
  }

  /**
   * Resolves with the first event named `names` (one or several) for which `predicate`
   * holds, arriving after this call. Register it before the command that causes it.
   */
  waitFor(
    names: string | readonly string[],
    predicate?: (event: QmpEvent) => boolean,
    timeoutMs: number = this.commandTimeoutMs,
  ): Promise<QmpEvent> {
    const listener = this.listen({ names: typeof names === 'string' ? [names] : names, predicate });
    return listener.next(timeoutMs).finally(() => listener.close());
  }

  /** Calls `handler` for every event until the returned function is called. */
  onEvent(handler: (event: QmpEvent) => void): () => void {
    const listener = this.listen({});
    listener.onPush = handler;
    return () => listener.close();
  }

  /** Closes the connection gracefully; pending commands fail with QmpDisconnectedError. */
  async close(): Promise<void> {
    if (this.terminalError) return;
    this.closing = true;
    this.stream.close();
    await this.closedPromise;
  }

  /** Drops the connection at once. */
  destroy(): void {
    if (this.terminalError) return;
    this.closing = true;
    this.terminate(new QmpDisconnectedError(`connection to ${this.peerName} closed by nicmig`));
    this.stream.destroy();
  }

  private send(command: PendingCommand): void {
    command.sent = true;
    this.inFlight++;
    if (command.raw !== undefined) {
      this.stats.sent++;
      this.trace({ t: this.elapsed(), dir: 'sent', message: { raw: command.raw } });
      this.stream.write(command.raw);
      return;
    }
    const message: Record<string, unknown> = { execute: command.name };
    if (command.args !== undefined) message.arguments = command.args;
    message.id = command.id;
    this.stats.sent++;
    this.trace({ t: this.elapsed(), dir: 'sent', message });
    this.stream.write(`${JSON.stringify(message)}\n`);
  }

  private finish(command: PendingCommand): void {
    // The deadline timer stays armed (unref'd) when nothing is pending: re-arming it on
    // every call costs more than the round trip's own work (bench/qmp).
    this.pending.delete(command.id);
    if (command.sent) {
      this.inFlight--;
      const next = this.queue.shift();
      if (next) this.send(next);
    } else {
      const index = this.queue.indexOf(command);
      if (index !== -1) this.queue.splice(index, 1);
    }
  }

  private armDeadlineTimer(at: number): void {
    this.disarmDeadlineTimer();
    this.deadlineTimerAt = at;
    this.deadlineTimer = setTimeout(() => this.expireCommands(), Math.max(0, at - performance.now()) + 1);
    // The socket keeps the process alive while commands are pending; the timer need not.
    this.deadlineTimer.unref();
  }

  private disarmDeadlineTimer(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.deadlineTimerAt = Infinity;
  }

  /** Fails the commands whose deadline has passed and re-arms for the next one. */
  private expireCommands(): void {
    this.deadlineTimer = undefined;
    this.deadlineTimerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const command of [...this.pending.values()]) {
      if (command.deadline <= now) {
        this.finish(command);
        this.unanswered = true;
        command.reject(
          new QmpTimeoutError(`${command.name}: no reply from ${this.peerName} within ${command.timeoutMs} ms`, {
            details: { command: command.name, timeoutMs: command.timeoutMs },
          }),
        );
      } else if (command.deadline < next) {
        next = command.deadline;
      }
    }
    if (next < Infinity && this.pending.size > 0) this.armDeadlineTimer(next);
  }

  private onData(chunk: Buffer): void {
    if (this.terminalError) return;
    let messages: unknown[];
    try {
      messages = this.decoder.push(chunk);
    } catch (error) {
      this.fatal(error as QmpProtocolError);
      return;
    }
    for (const message of messages) {
      if (this.terminalError) return;
      this.dispatch(message as Record<string, unknown>);
    }
  }

  private dispatch(message: Record<string, unknown>): void {
    this.stats.received++;
    this.trace({ t: this.elapsed(), dir: 'received', message });
    if (this.greetingWaiter) {
      // QEMU 7.2 can send an event (RESUME) to a client that connects while it starts, before
      // the greeting: skip it rather than fail the connection.
      if ('event' in message && !('QMP' in message)) {
        this.stats.dropped++;
        return;
      }
      const greeting = GreetingSchema.safeParse(message);
      if (!greeting.success) {
        this.fatal(
          new QmpProtocolError('QMP_BAD_GREETING', `${this.peerName} did not greet like a QMP server: ${JSON.stringify(message).slice(0, 200)}`),
        );
        return;
      }
      this.greetingWaiter.resolve(greeting.data);
      return;
    }
    if ('event' in message) {
      const event = QmpEventSchema.safeParse(message);
      if (!event.success) {
        this.stats.dropped++;
        return;
      }
      this.stats.events++;
      for (const listener of [...this.listeners]) listener.push(event.data);
      return;
    }
    // A reply, late or not: this QEMU answers again.
    this.unanswered = false;
    if (!('id' in message)) {
      this.dispatchWithoutId(message);
      return;
    }
    const id = message.id;
    const command = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (!command || !command.sent) {
      this.stats.dropped++;
      return;
    }
    this.settle(command, message);
  }

  /**
   * A reply without an id. QEMU sends one when it could not parse a request (a JSON parse
   * error) or when the request had no id. As QEMU's Python client does, it goes to the oldest
   * command in flight if that one was written without an id (executeRaw); an error reply
   * otherwise fails every command in flight at once, as nobody can tell which of them QEMU
   * could not read (its later replies, if any, are then dropped as unknown ids).
   */
  private dispatchWithoutId(message: Record<string, unknown>): void {
    const inFlight = [...this.pending.values()].filter((command) => command.sent);
    const oldest = inFlight[0];
    if (oldest?.raw !== undefined) {
      this.settle(oldest, message);
      return;
    }
    if (!('error' in message) || inFlight.length === 0) {
      this.stats.dropped++;
      return;
    }
    for (const command of inFlight) this.settle(command, message);
  }

  private settle(command: PendingCommand, message: Record<string, unknown>): void {
    this.finish(command);
    if ('return' in message) {
      if (!command.schema) {
        command.resolve(message.return);
        return;
      }
      const parsed = command.schema.safeParse(message.return);
      if (parsed.success) command.resolve(parsed.data);
      else command.reject(badReply(command, this.peerName, parsed.error, message.return));
      return;
    }
    if ('error' in message) {
      const error = ErrorReplySchema.safeParse(message.error);
      if (error.success) command.reject(new QmpCommandError(command.name, command.args, error.data.class, error.data.desc));
      else command.reject(badReply(command, this.peerName, error.error, message.error));
      return;
    }
    command.reject(
      new QmpProtocolError('QMP_BAD_REPLY', `${command.name}: reply from ${this.peerName} has neither "return" nor "error"`, {
        details: { command: command.name },
      }),
    );
  }

  private fatal(error: QmpProtocolError): void {
    this.terminate(error);
    this.stream.destroy();
  }

  private terminate(error: QmpError): void {
    if (this.terminalError) return;
    this.terminalError = error;
    this.greetingWaiter?.reject(error);
    const commands = [...this.pending.values()];
    this.pending.clear();
    this.queue.length = 0;
    this.inFlight = 0;
    this.disarmDeadlineTimer();
    for (const command of commands) command.reject(error);
    for (const listener of this.listeners) listener.terminate(error);
    this.listeners.clear();
    this.resolveClosed(error);
  }

  /** Hands an entry to the traffic observer; an observer that throws never breaks the session. */
  private trace(entry: QmpTrafficEntry): void {
    if (!this.options.onTraffic) return;
    try {
      this.options.onTraffic(entry);
    } catch {
      // A log is not the protocol: drop the entry, keep the connection.
    }
  }

  private elapsed(): number {
    return Math.round((performance.now() - this.startedAt) * 1000) / 1000;
  }
}

function badReply(command: PendingCommand, peer: string, error: z.ZodError, value: unknown): QmpProtocolError {
  const issues = error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  return new QmpProtocolError('QMP_BAD_REPLY', `${command.name}: reply from ${peer} does not match its schema: ${issues.join('; ')}`, {
    details: { command: command.name, issues, reply: value },
  });
}
