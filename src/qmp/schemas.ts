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

/** Commands that return nothing reply `{}`. */
export const EmptyReturnSchema = z.looseObject({});
