import { UsageError } from '../errors.js';
import { QmpClient, type ExecuteOptions } from './client.js';
import {
  CommandInfoListSchema,
  EmptyReturnSchema,
  MigrationCapabilityListSchema,
  MigrationInfoSchema,
  MigrationParametersSchema,
  StatusInfoSchema,
  VersionInfoSchema,
  type MigrationCapability,
  type MigrationInfo,
  type MigrationParameters,
  type MigrationStatus,
  type StatusInfo,
  type VersionInfo,
} from './schemas.js';

/**
 * Downstream extension commands carry a vendor prefix (`__RFQDN_`), which differs between
 * builds of a patched QEMU; this one is ours unless configured otherwise.
 */
export const DEFAULT_EXTENSION_PREFIX = '__org.nicmig_';

const PREFIX_PATTERN = /^(?:|x-|__[A-Za-z][A-Za-z0-9.-]*_)$/;

export function validateExtensionPrefix(prefix: string): string {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new UsageError('BAD_EXTENSION_PREFIX', `invalid QMP extension prefix '${prefix}'`, {
      hint: "a downstream prefix looks like '__com.example_' (reverse domain between '__' and '_'), or 'x-', or empty",
    });
  }
  return prefix;
}

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
 * Typed facade over a QmpClient for the commands the orchestrator uses. Policy code calls
 * these and never builds QMP JSON itself (libvirt's qemu_monitor split).
 */
export class QemuMonitor {
  readonly extensionPrefix: string;

  constructor(
    readonly client: QmpClient,
    options: { extensionPrefix?: string } = {},
  ) {
    this.extensionPrefix = validateExtensionPrefix(options.extensionPrefix ?? DEFAULT_EXTENSION_PREFIX);
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

  async migrateIncoming(uri: string): Promise<void> {
    await this.client.execute('migrate-incoming', { uri }, { schema: EmptyReturnSchema });
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

  async announceSelf(parameters: AnnounceParameters): Promise<void> {
    await this.client.execute('announce-self', { ...parameters }, { schema: EmptyReturnSchema });
  }
}

