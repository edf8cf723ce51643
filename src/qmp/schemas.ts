import { z } from 'zod';

/**
 * Schemas of the QMP replies the orchestrator relies on (qapi/*.json of QEMU 7.2). Objects
 * are loose: QEMU adds fields over versions, and an unknown field is kept, never an error.
 */

export const RunStateSchema = z.enum([
  'debug', 'inmigrate', 'internal-error', 'io-error', 'paused', 'postmigrate', 'prelaunch',
  'finish-migrate', 'restore-vm', 'running', 'save-vm', 'shutdown', 'suspended', 'watchdog',
  'guest-panicked', 'colo',
]);
export type RunState = z.infer<typeof RunStateSchema>;

export const MigrationStatusSchema = z.enum([
  'none', 'setup', 'cancelling', 'cancelled', 'active', 'postcopy-active', 'postcopy-paused',
  'postcopy-recover', 'completed', 'failed', 'colo', 'pre-switchover', 'device', 'wait-unplug',
]);
export type MigrationStatus = z.infer<typeof MigrationStatusSchema>;

/** A migration in one of these is under way: nothing else may start, a rollback cancels it. */
const ACTIVE_MIGRATION_STATUSES: ReadonlySet<string> = new Set<MigrationStatus>([
  'setup', 'active', 'pre-switchover', 'device', 'cancelling', 'postcopy-active', 'postcopy-paused',
  'postcopy-recover', 'wait-unplug', 'colo',
]);
/** A migration in one of these has ended; its MIGRATION event is the last one. */
const TERMINAL_MIGRATION_STATUSES: ReadonlySet<string> = new Set<MigrationStatus>(['completed', 'failed', 'cancelled']);

export function isActiveMigrationStatus(status: string | undefined | null): boolean {
  return status != null && ACTIVE_MIGRATION_STATUSES.has(status);
}

export function isTerminalMigrationStatus(status: string | undefined | null): boolean {
  return status != null && TERMINAL_MIGRATION_STATUSES.has(status);
}

export const VersionInfoSchema = z.looseObject({
  qemu: z.looseObject({ major: z.number().int(), minor: z.number().int(), micro: z.number().int() }),
  package: z.string(),
});
export type VersionInfo = z.infer<typeof VersionInfoSchema>;

export const StatusInfoSchema = z.looseObject({
  running: z.boolean(),
  singlestep: z.boolean().optional(),
  status: RunStateSchema,
});
export type StatusInfo = z.infer<typeof StatusInfoSchema>;

/** query-kvm: whether KVM runs the guest (`enabled`), or TCG does. */
export const KvmInfoSchema = z.looseObject({ enabled: z.boolean(), present: z.boolean() });
export type KvmInfo = z.infer<typeof KvmInfoSchema>;

export const CommandInfoListSchema = z.array(z.looseObject({ name: z.string() }));

const u64 = z.number().int().nonnegative();

export const MigrationStatsSchema = z.looseObject({
  transferred: u64,
  remaining: u64,
  total: u64,
  duplicate: u64,
  normal: u64,
  'normal-bytes': u64,
  'dirty-pages-rate': u64,
  mbps: z.number(),
  'dirty-sync-count': u64,
  'page-size': u64.optional(),
  'pages-per-second': u64.optional(),
  'precopy-bytes': u64.optional(),
  'downtime-bytes': u64.optional(),
  'postcopy-bytes': u64.optional(),
  'multifd-bytes': u64.optional(),
  skipped: u64.optional(),
  'postcopy-requests': u64.optional(),
});
export type MigrationStats = z.infer<typeof MigrationStatsSchema>;

/** qapi/sockets.json SocketAddress: QEMU 7.2 reports a listening incoming migration as `inet`. */
export const SocketAddressSchema = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('inet'), host: z.string(), port: z.string() }),
  z.looseObject({ type: z.literal('unix'), path: z.string() }),
  z.looseObject({ type: z.literal('vsock'), cid: z.string(), port: z.string() }),
  z.looseObject({ type: z.literal('fd'), str: z.string() }),
]);
export type SocketAddress = z.infer<typeof SocketAddressSchema>;

export const MigrationInfoSchema = z.looseObject({
  status: MigrationStatusSchema.optional(),
  ram: MigrationStatsSchema.optional(),
  'total-time': u64.optional(),
  'expected-downtime': u64.optional(),
  downtime: u64.optional(),
  'setup-time': u64.optional(),
  'cpu-throttle-percentage': u64.optional(),
  'error-desc': z.string().optional(),
  'blocked-reasons': z.array(z.string()).optional(),
  /** Where an incoming migration listens (`migrate-incoming` with port 0 included). */
  'socket-address': z.array(SocketAddressSchema).optional(),
});
export type MigrationInfo = z.infer<typeof MigrationInfoSchema>;

export const MigrationCapabilitySchema = z.looseObject({ capability: z.string(), state: z.boolean() });
export type MigrationCapability = z.infer<typeof MigrationCapabilitySchema>;
export const MigrationCapabilityListSchema = z.array(MigrationCapabilitySchema);

export const MigrationParametersSchema = z.looseObject({
  'downtime-limit': u64.optional(),
  'max-bandwidth': u64.optional(),
  'cpu-throttle-initial': u64.optional(),
  'cpu-throttle-increment': u64.optional(),
  'cpu-throttle-tailslow': z.boolean().optional(),
  'max-cpu-throttle': u64.optional(),
  'multifd-channels': u64.optional(),
  'announce-initial': u64.optional(),
  'announce-max': u64.optional(),
  'announce-rounds': u64.optional(),
  'announce-step': u64.optional(),
  'x-checkpoint-delay': u64.optional(),
  'xbzrle-cache-size': u64.optional(),
});
export type MigrationParameters = z.infer<typeof MigrationParametersSchema>;

/** qapi/migration.json DirtyRateInfo (calc-dirty-rate, QEMU 5.2+); the rate is in MiB/s. */
export const DirtyRateInfoSchema = z.looseObject({
  'dirty-rate': z.number().int().optional(),
  status: z.enum(['unstarted', 'measuring', 'measured']),
  'start-time': z.number().int(),
  'calc-time': z.number().int(),
});
export type DirtyRateInfo = z.infer<typeof DirtyRateInfoSchema>;

/** Commands that return nothing reply `{}`. */
export const EmptyReturnSchema = z.looseObject({});

/** qapi/machine.json Memdev (query-memdev): one memory backend object. */
export const MemdevSchema = z.looseObject({
  id: z.string().optional(),
  size: u64,
  merge: z.boolean(),
  dump: z.boolean(),
  prealloc: z.boolean(),
  share: z.boolean(),
  reserve: z.boolean().optional(),
  'host-nodes': z.array(z.number().int()),
  policy: z.string(),
});
export const MemdevListSchema = z.array(MemdevSchema);
export type MemdevInfo = z.infer<typeof MemdevSchema>;

/** HumanReadableText (x-query-ramblock and the other x-query-* commands, QEMU 6.2+). */
export const HumanReadableTextSchema = z.looseObject({ 'human-readable-text': z.string() });

/** qapi/qom.json ObjectPropertyInfo (qom-list): a child is typed `child<TYPE>`. */
export const ObjectPropertyInfoListSchema = z.array(z.looseObject({ name: z.string(), type: z.string() }));
export type ObjectPropertyInfo = z.infer<typeof ObjectPropertyInfoListSchema>[number];

/** qapi/pci.json PciMemoryRegion: a BAR (6 is the expansion ROM). */
export const PciMemoryRegionSchema = z.looseObject({
  bar: z.number().int(),
  type: z.string(),
  address: z.number().int(),
  size: z.number().int(),
  prefetch: z.boolean().optional(),
  mem_type_64: z.boolean().optional(),
});

/** qapi/pci.json PciDeviceInfo, its bridge's secondary bus nested (devices only once the guest numbered it). */
export interface PciDeviceInfo {
  bus: number;
  slot: number;
  function: number;
  class_info: { desc?: string | undefined; class: number };
  id: { device: number; vendor: number; subsystem?: number | undefined; 'subsystem-vendor'?: number | undefined };
  irq?: number | undefined;
  irq_pin: number;
  qdev_id: string;
  pci_bridge?: { bus: { number: number; secondary: number; subordinate: number }; devices?: PciDeviceInfo[] | undefined } | undefined;
  regions: z.infer<typeof PciMemoryRegionSchema>[];
}

export const PciDeviceInfoSchema: z.ZodType<PciDeviceInfo> = z.lazy(() =>
  z.looseObject({
    bus: z.number().int(),
    slot: z.number().int(),
    function: z.number().int(),
    class_info: z.looseObject({ desc: z.string().optional(), class: z.number().int() }),
    id: z.looseObject({ device: z.number().int(), vendor: z.number().int(), subsystem: z.number().int().optional(), 'subsystem-vendor': z.number().int().optional() }),
    irq: z.number().int().optional(),
    irq_pin: z.number().int(),
    qdev_id: z.string(),
    pci_bridge: z
      .looseObject({
        bus: z.looseObject({ number: z.number().int(), secondary: z.number().int(), subordinate: z.number().int() }),
        devices: z.array(PciDeviceInfoSchema).optional(),
      })
      .optional(),
    regions: z.array(PciMemoryRegionSchema),
  }),
);

/** query-pci: one entry per root bus. */
export const PciInfoListSchema = z.array(z.looseObject({ bus: z.number().int(), devices: z.array(PciDeviceInfoSchema) }));
export type PciInfo = z.infer<typeof PciInfoListSchema>[number];
