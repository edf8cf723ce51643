import { DEFAULT_EXTENSION_PREFIX, validateExtensionPrefix } from '../inventory/extension-prefix.js';
import { QmpClient, type ExecuteOptions } from './client.js';
import { z } from 'zod';
import { QmpCommandError, QmpDisconnectedError, QmpTimeoutError, type QmpError } from './errors.js';
import { QmpSchemaFeatures, SchemaInfoListSchema } from './schema-features.js';
import type { QmpEvent, QmpEventListener } from './events.js';
import {
  isRootBusPath,
  memdevsFrom,
  parseRamBlockTable,
  PERIPHERAL,
  PERIPHERAL_ANON,
  peripheralsFrom,
  rootPciFunctions,
  type GuestHardware,
  type Memdev,
  type Peripheral,
  type RamBlock,
} from './hardware.js';
import {
  DirtyRateInfoSchema,
  isActiveMigrationStatus,
  isTerminalMigrationStatus,
  CommandInfoListSchema,
  EmptyReturnSchema,
  HumanReadableTextSchema,
  KvmInfoSchema,
  MemdevListSchema,
  MigrationCapabilityListSchema,
  MigrationInfoSchema,
  MigrationParametersSchema,
  ObjectPropertyInfoListSchema,
  PciInfoListSchema,
  StatusInfoSchema,
  VersionInfoSchema,
  type KvmInfo,
  type MigrationCapability,
  type ObjectPropertyInfo,
  type PciInfo,
  type MigrationInfo,
  type MigrationParameters,
  type MigrationStatus,
  type StatusInfo,
  type VersionInfo,
} from './schemas.js';

export { DEFAULT_EXTENSION_PREFIX, validateExtensionPrefix } from '../inventory/extension-prefix.js';

export interface MigrateSetParameters {
  'downtime-limit'?: number;
  'max-bandwidth'?: number;
  'cpu-throttle-initial'?: number;
  'cpu-throttle-increment'?: number;
  'multifd-channels'?: number;
  'announce-initial'?: number;
  'announce-max'?: number;
  'announce-rounds'?: number;
  'announce-step'?: number;
}

export interface AnnounceParameters {
  initial: number;
  max: number;
  rounds: number;
  step: number;
  interfaces?: string[];
  id?: string;
}

/**
 * Typed facade over a QmpClient for the commands the orchestrator uses: the only door to QMP
 * for anything outside src/qmp/. Policy code calls these and never builds QMP JSON or holds a
 * client itself (libvirt's qemu_monitor split). The sequences that rollback, recover and
 * cleanup share (resume and wait, cancel and wait, quit then kill) live here once.
 */
export class QemuMonitor {
  readonly extensionPrefix: string;

  constructor(
    /** For tests and src/qmp only: everything else goes through the methods below. */
    readonly client: QmpClient,
    options: { extensionPrefix?: string } = {},
  ) {
    try {
      this.extensionPrefix = validateExtensionPrefix(options.extensionPrefix ?? DEFAULT_EXTENSION_PREFIX);
    } catch (error) {
      // The monitor owns the connection it was given: refused, it closes it (a leaked socket
      // would keep the process waiting for ever).
      client.destroy();
      throw error;
    }
  }

  /** The wire name of an extension command, e.g. `i40evf-list` -> `__org.nicmig_i40evf-list`. */
  extensionName(name: string): string {
    return `${this.extensionPrefix}${name}`;
  }

  executeExtension<T>(name: string, args: Record<string, unknown> | undefined, options: ExecuteOptions<T> = {}): Promise<T> {
    return this.client.execute(this.extensionName(name), args, options);
  }

  queryVersion(): Promise<VersionInfo> {
    return this.client.execute('query-version', undefined, { schema: VersionInfoSchema });
  }

  queryKvm(): Promise<KvmInfo> {
    return this.client.execute('query-kvm', undefined, { schema: KvmInfoSchema });
  }

  queryStatus(): Promise<StatusInfo> {
    return this.client.execute('query-status', undefined, { schema: StatusInfoSchema });
  }

  async queryCommands(): Promise<Set<string>> {
    const list = await this.client.execute('query-commands', undefined, { schema: CommandInfoListSchema });
    return new Set(list.map((entry) => entry.name));
  }

  queryMigrate(): Promise<MigrationInfo> {
    return this.client.execute('query-migrate', undefined, { schema: MigrationInfoSchema });
  }

  async queryMigrateCapabilities(): Promise<Map<string, boolean>> {
    const list = await this.client.execute('query-migrate-capabilities', undefined, { schema: MigrationCapabilityListSchema });
    return new Map(list.map((entry) => [entry.capability, entry.state]));
  }

  queryMigrateParameters(): Promise<MigrationParameters> {
    return this.client.execute('query-migrate-parameters', undefined, { schema: MigrationParametersSchema });
  }

  async migrateSetCapabilities(capabilities: Record<string, boolean> | MigrationCapability[]): Promise<void> {
    const list = Array.isArray(capabilities)
      ? capabilities
      : Object.entries(capabilities).map(([capability, state]) => ({ capability, state }));
    await this.client.execute('migrate-set-capabilities', { capabilities: list }, { schema: EmptyReturnSchema });
  }

  async migrateSetParameters(parameters: MigrateSetParameters): Promise<void> {
    await this.client.execute('migrate-set-parameters', { ...parameters }, { schema: EmptyReturnSchema });
  }

  async migrate(uri: string, options: { detach?: boolean } = {}): Promise<void> {
    const args: Record<string, unknown> = { uri };
    if (options.detach !== undefined) args.detach = options.detach;
    await this.client.execute('migrate', args, { schema: EmptyReturnSchema });
  }

  /**
   * `exitOnError: false` (QEMU 9.1+, see schemaFeatures) keeps a destination whose incoming
   * migration failed alive, so that its own error can be read (query-migrate error-desc).
   */
  async migrateIncoming(uri: string, options: { exitOnError?: boolean } = {}): Promise<void> {
    const args: Record<string, unknown> = { uri };
    if (options.exitOnError !== undefined) args['exit-on-error'] = options.exitOnError;
    await this.client.execute('migrate-incoming', args, { schema: EmptyReturnSchema });
  }

  private features: Promise<QmpSchemaFeatures> | undefined;

  /** What this QEMU offers, from its own query-qmp-schema (asked once per monitor). */
  schemaFeatures(): Promise<QmpSchemaFeatures> {
    this.features ??= this.client.execute('query-qmp-schema', undefined, { schema: SchemaInfoListSchema }).then((entries) => new QmpSchemaFeatures(entries));
    return this.features;
  }

  async migrateCancel(): Promise<void> {
    await this.client.execute('migrate_cancel', undefined, { schema: EmptyReturnSchema });
  }

  async migrateContinue(state: MigrationStatus): Promise<void> {
    await this.client.execute('migrate-continue', { state }, { schema: EmptyReturnSchema });
  }

  async stop(): Promise<void> {
    await this.client.execute('stop', undefined, { schema: EmptyReturnSchema });
  }

  async cont(): Promise<void> {
    await this.client.execute('cont', undefined, { schema: EmptyReturnSchema });
  }

  async quit(): Promise<void> {
    await this.client.execute('quit', undefined, { schema: EmptyReturnSchema });
  }

  /**
   * The machine type this QEMU runs, resolved (`qom-get /machine type`): `pc-q35-7.2` where it
   * was started as `-machine q35`. An alias names another machine on another QEMU version, so
   * a destination is started with this. Undefined when this QEMU cannot tell.
   */
  async queryMachineType(): Promise<string | undefined> {
    try {
      const type = await this.client.execute('qom-get', { path: '/machine', property: 'type' }, { schema: z.string() });
      return type.replace(/-machine$/, '');
    } catch (error) {
      if (error instanceof QmpCommandError) return undefined;
      throw error;
    }
  }

  /** The memory backend objects (query-memdev). */
  async queryMemdev(): Promise<Memdev[]> {
    return memdevsFrom(await this.client.execute('query-memdev', undefined, { schema: MemdevListSchema }));
  }

  /**
   * The RAM blocks the migration stream names (`info ramblock`): over QMP where QEMU has it
   * (`x-query-ramblock`, 6.2+), else through HMP; undefined when this QEMU offers neither.
   */
  async queryRamBlocks(): Promise<RamBlock[] | undefined> {
    try {
      const text = await this.client.execute('x-query-ramblock', undefined, { schema: HumanReadableTextSchema });
      return parseRamBlockTable(text['human-readable-text']);
    } catch (error) {
      if (!isCommandNotFound(error)) throw error;
    }
    try {
      return parseRamBlockTable(await this.client.execute('human-monitor-command', { 'command-line': 'info ramblock' }, { schema: z.string() }));
    } catch (error) {
      if (isCommandNotFound(error)) return undefined;
      throw error;
    }
  }

  /** The PCI buses and their functions, as the guest sees them (query-pci). */
  queryPci(): Promise<PciInfo[]> {
    return this.client.execute('query-pci', undefined, { schema: PciInfoListSchema });
  }

  /** The properties (children included, typed `child<TYPE>`) of the QOM object at `path`. */
  qomList(path: string): Promise<ObjectPropertyInfo[]> {
    return this.client.execute('qom-list', { path }, { schema: ObjectPropertyInfoListSchema });
  }

  qomGet<T>(path: string, property: string, schema: z.ZodType<T>): Promise<T> {
    return this.client.execute('qom-get', { path, property }, { schema });
  }

  /**
   * What the guest is made of (machine, memory, RAM blocks, PCI functions, devices), for
   * comparing two sides of a migration. One pipelined batch, then one more for anonymous
   * devices (their PCI slot). A part this QEMU cannot tell is undefined.
   */
  async guestHardware(): Promise<GuestHardware> {
    const [machineType, memdevs, ramBlocks, pci, named, anonymous] = await Promise.all([
      this.queryMachineType(),
      unlessMissing(this.queryMemdev()),
      this.queryRamBlocks(),
      unlessMissing(this.queryPci().then(rootPciFunctions)),
      unlessMissing(this.qomList(PERIPHERAL).then((list) => peripheralsFrom(PERIPHERAL, list))),
      unlessMissing(this.qomList(PERIPHERAL_ANON).then((list) => peripheralsFrom(PERIPHERAL_ANON, list))),
    ]);
    const located = anonymous && (await Promise.all(anonymous.map((device) => this.rootDevfn(device))));
    return { machineType, memdevs, ramBlocks, pci, peripherals: named && located ? [...named, ...located] : (named ?? located) };
  }

  /** An anonymous device with its devfn when it is a PCI device on a root bus (else as it was). */
  private async rootDevfn(device: Peripheral): Promise<Peripheral> {
    const [devfn, bus] = await Promise.all([
      this.qomGet(device.path, 'addr', z.number().int()).catch(asUndefinedIfNoSuchProperty),
      this.qomGet(device.path, 'parent_bus', z.string()).catch(asUndefinedIfNoSuchProperty),
    ]);
    return devfn !== undefined && devfn >= 0 && bus !== undefined && isRootBusPath(bus) ? { ...device, rootDevfn: devfn } : device;
  }

  /**
   * A device's QOM type and MAC by its id (`qom-get /machine/peripheral/<id>`, QEMU's
   * configured `mac=`, not what the guest may have set since): undefined when QEMU has no
   * device of that id, `mac` undefined when the device has no MAC (not a NIC).
   */
  async queryDeviceMac(id: string): Promise<{ type: string; mac: string | undefined } | undefined> {
    const path = `/machine/peripheral/${id}`;
    const [type, mac] = await Promise.allSettled([
      this.client.execute('qom-get', { path, property: 'type' }, { schema: z.string() }),
      this.client.execute('qom-get', { path, property: 'mac' }, { schema: z.string() }),
    ]);
    if (type.status === 'rejected') {
      if (type.reason instanceof QmpCommandError && type.reason.errorClass === 'DeviceNotFound') return undefined;
      throw type.reason;
    }
    if (mac.status === 'rejected' && !(mac.reason instanceof QmpCommandError)) throw mac.reason;
    return { type: type.value, mac: mac.status === 'fulfilled' ? mac.value.toLowerCase() : undefined };
  }

  async announceSelf(parameters: AnnounceParameters): Promise<void> {
    await this.client.execute('announce-self', { ...parameters }, { schema: EmptyReturnSchema });
  }

  // --- the connection -------------------------------------------------------------------

  get isOpen(): boolean {
    return this.client.isOpen;
  }

  /** Resolves when the connection has ended (QEMU quit or died, or nicmig let go). */
  get closed(): Promise<QmpError> {
    return this.client.closed;
  }

  /** Sets the deadline of every command sent from now on (the migration's step deadline). */
  setCommandTimeout(ms: number): void {
    this.client.setCommandTimeout(ms);
  }

  /** A command got no reply in time and nothing was answered since (see QmpClient.unresponsive). */
  get unresponsive(): boolean {
    return this.client.unresponsive;
  }

  /** Where this monitor is, for messages (`unix:/run/vm1.qmp`). */
  get peerName(): string {
    return this.client.peerName;
  }

  /** Lets go of the monitor at once: QEMU serves one client per monitor, so others may connect. */
  disconnect(): void {
    this.client.destroy();
  }

  // --- events ---------------------------------------------------------------------------

  /** Registers a listener now, before the command that causes the events. */
  listen(names: readonly string[]): QmpEventListener {
    return this.client.listen({ names });
  }

  /** Calls `handler` from inside the event's dispatch, until the returned function is called. */
  onEvent(handler: (event: QmpEvent) => void): () => void {
    return this.client.onEvent(handler);
  }

  // --- sequences --------------------------------------------------------------------------

  /**
   * `cont`, then QEMU's RESUME event; resolves with the event (its timestamp measures the
   * downtime). The listener is registered before `cont` and always closed, so no wait is left
   * behind when `cont` fails. `onContAnswered` runs as soon as QEMU answered `cont`.
   */
  async contAndWaitForResume(timeoutMs: number, onContAnswered?: () => void): Promise<QmpEvent> {
    const resumed = this.client.listen({ names: ['RESUME'] });
    try {
      await this.client.execute('cont', undefined, { schema: EmptyReturnSchema, timeoutMs });
      onContAnswered?.();
      return await resumed.next(timeoutMs).catch((error: unknown) => {
        if (error instanceof QmpTimeoutError) throw new QmpTimeoutError(`${this.peerName}: no RESUME event within ${timeoutMs} ms of cont`, { cause: error });
        throw error;
      });
    } finally {
      resumed.close();
    }
  }

  /**
   * Resumes a source whose migration ended or was cancelled: waits (within `timeoutMs`) while
   * QEMU still says finish-migrate (postmigrate follows MIGRATION completed), then `cont` and
   * RESUME unless it already runs. Returns the run state it found.
   */
  async resumeAfterMigration(timeoutMs: number): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    let status = await this.queryStatus();
    while (status.status === 'finish-migrate') {
      if (performance.now() >= deadline) {
        throw new QmpTimeoutError(`${this.peerName}: still finish-migrate ${timeoutMs} ms after the migration ended`);
      }
      await delay(10);
      status = await this.queryStatus();
    }
    if (status.status === 'running') return status.status;
    await this.contAndWaitForResume(Math.max(1, deadline - performance.now()));
    return status.status;
  }

  /**
   * Cancels the migration under way, if any, and waits for its MIGRATION event to reach a
   * terminal status (cancelled, failed, or completed when the cancel came too late).
   * Returns that status, or the one found when nothing was under way; `cancelling` for a
   * migration cancelled in setup whose connect has not ended by the deadline.
   */
  async cancelMigrationAndWait(timeoutMs: number): Promise<string | undefined> {
    const info = await this.queryMigrate();
    if (!isActiveMigrationStatus(info.status)) return info.status;
    const ended = this.client.listen({ names: ['MIGRATION'], predicate: (event) => isTerminalMigrationStatus(String(event.data?.status)) });
    try {
      await this.migrateCancel();
      const event = await ended.next(timeoutMs).catch(async (error: unknown) => {
        if (!(error instanceof QmpTimeoutError)) throw error;
        // The events capability may be off (a migration nicmig did not start): ask instead.
        const now = await this.queryMigrate();
        if (isTerminalMigrationStatus(now.status)) return { event: 'MIGRATION', data: { status: now.status } } as QmpEvent;
        // A migration cancelled in setup, its connect still under way (an unreachable
        // destination: TCP retries a connect for minutes) stays cancelling until the connect
        // ends; from cancelling QEMU never completes it (its state moves only by compare-and-
        // swap from setup/active), so it is over for whoever rolls back.
        if (info.status === 'setup' && now.status === 'cancelling') return { event: 'MIGRATION', data: { status: now.status } } as QmpEvent;
        throw new QmpTimeoutError(`${this.peerName}: the migration did not end within ${timeoutMs} ms of migrate_cancel (status ${now.status ?? 'none'})`, { cause: error });
      });
      return String(event.data?.status);
    } finally {
      ended.close();
    }
  }

  /**
   * Ends the QEMU behind this monitor as QEMU's own Python machine class does: `quit`, wait
   * up to `quitTimeoutMs` for the monitor to close; if it does not, `kill` (SIGTERM then
   * SIGKILL, the caller's, who knows the process) and wait for the close again. A QEMU
   * already going away is fine. Resolves once the monitor is closed, with how the QEMU went:
   * `quit` (it answered and closed), `gone` (the connection had ended, or ended before any
   * answer: the QEMU died, and may have left its socket and pid file), `killed`.
   */
  async quitAndWait(options: { quitTimeoutMs: number; kill?: () => Promise<void>; killTimeoutMs?: number }): Promise<'quit' | 'gone' | 'killed'> {
    if (!this.isOpen) return 'gone';
    const closed = this.closed;
    let unanswered: QmpTimeoutError | undefined;
    let gone = false;
    await this.client.execute('quit', undefined, { schema: EmptyReturnSchema, timeoutMs: options.quitTimeoutMs }).catch((error: unknown) => {
      // QEMU answers quit before it closes the monitor: an end without the answer is a death.
      if (error instanceof QmpDisconnectedError) {
        gone = true;
        return;
      }
      if (error instanceof QmpTimeoutError) {
        // QEMU answers quit before it closes: no answer means no close is coming soon either.
        unanswered = error;
        return;
      }
      throw error;
    });
    if (gone) return 'gone';
    if (!unanswered && (await settlesWithin(closed, options.quitTimeoutMs))) return 'quit';
    if (!this.isOpen) return 'gone';
    if (!options.kill) throw unanswered ?? new QmpTimeoutError(`${this.peerName}: QEMU did not quit within ${options.quitTimeoutMs} ms`);
    await options.kill();
    const killTimeoutMs = options.killTimeoutMs ?? 5_000;
    if (!(await settlesWithin(closed, killTimeoutMs))) {
      this.disconnect();
      throw new QmpTimeoutError(`${this.peerName}: the monitor stayed open ${killTimeoutMs} ms after the process was killed`);
    }
    return 'killed';
  }

  /**
   * The guest's dirty rate in bytes/s, measured by QEMU over `seconds` (calc-dirty-rate,
   * QEMU 5.2+); null when this QEMU cannot measure it or gave no figure in time.
   */
  async calcDirtyRate(seconds: number): Promise<number | null> {
    try {
      await this.client.execute('calc-dirty-rate', { 'calc-time': seconds }, { schema: EmptyReturnSchema });
    } catch {
      return null;
    }
    const deadline = performance.now() + seconds * 1000 + 5000;
    while (performance.now() < deadline) {
      await delay(200);
      const info = await this.client.execute('query-dirty-rate', undefined, { schema: DirtyRateInfoSchema });
      if (info.status === 'measured' && info['dirty-rate'] !== undefined) return info['dirty-rate'] * 1024 * 1024;
    }
    return null;
  }

  /** The TCP port an incoming migration (`migrate-incoming tcp:HOST:0`) listens on, if any. */
  async incomingMigrationPort(): Promise<number | undefined> {
    const info = await this.queryMigrate();
    const inet = info['socket-address']?.find((address) => address.type === 'inet');
    const port = inet && inet.type === 'inet' ? Number(inet.port) : NaN;
    return Number.isInteger(port) && port > 0 ? port : undefined;
  }
}

function isCommandNotFound(error: unknown): boolean {
  return error instanceof QmpCommandError && error.errorClass === 'CommandNotFound';
}

/** A query this QEMU does not have (CommandNotFound) answers undefined; other failures stay failures. */
function unlessMissing<T>(query: Promise<T>): Promise<T | undefined> {
  return query.catch((error: unknown) => {
    if (isCommandNotFound(error)) return undefined;
    throw error;
  });
}

/** qom-get of a property the object does not have (a device that is not PCI has no `addr`): GenericError. */
function asUndefinedIfNoSuchProperty(error: unknown): undefined {
  if (error instanceof QmpCommandError && error.errorClass === 'GenericError' && /^Property '.*' not found$/.test(error.desc)) return undefined;
  throw error;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Whether `promise` settles within `ms`. */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    timer.unref();
    promise.then(
      () => (clearTimeout(timer), resolve(true)),
      () => (clearTimeout(timer), resolve(true)),
    );
  });
}
