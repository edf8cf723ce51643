import { asUint64, genericError, type ArgSpec } from './qmp-args.js';

/** QEMU 7.2's MigrationCapability enum, in its order (query-migrate-capabilities lists them so). */
export const MIGRATION_CAPABILITIES = [
  'xbzrle', 'rdma-pin-all', 'auto-converge', 'zero-blocks', 'compress', 'events', 'postcopy-ram',
  'x-colo', 'release-ram', 'block', 'return-path', 'pause-before-switchover', 'multifd',
  'dirty-bitmaps', 'postcopy-blocktime', 'late-block-activate', 'x-ignore-shared', 'validate-uuid',
  'background-snapshot', 'zero-copy-send', 'postcopy-preempt',
] as const;
export type MigrationCapabilityName = (typeof MIGRATION_CAPABILITIES)[number];

export const SET_CAPABILITIES_ARGS: ArgSpec = {
  capabilities: {
    type: { list: { object: { capability: { type: { enum: MIGRATION_CAPABILITIES } }, state: { type: 'bool' } } } },
  },
};

/** MigrationParameters of QEMU 7.2 with their QAPI types and defaults (as `query-migrate-parameters` shows them). */
const PARAMETER_TYPES = {
  'announce-initial': 'size',
  'announce-max': 'size',
  'announce-rounds': 'size',
  'announce-step': 'size',
  'compress-level': 'uint8',
  'compress-threads': 'uint8',
  'compress-wait-thread': 'bool',
  'decompress-threads': 'uint8',
  'throttle-trigger-threshold': 'uint8',
  'cpu-throttle-initial': 'uint8',
  'cpu-throttle-increment': 'uint8',
  'cpu-throttle-tailslow': 'bool',
  'tls-creds': 'str',
  'tls-hostname': 'str',
  'tls-authz': 'str',
  'max-bandwidth': 'size',
  'downtime-limit': 'uint64',
  'x-checkpoint-delay': 'uint32',
  'block-incremental': 'bool',
  'multifd-channels': 'uint8',
  'xbzrle-cache-size': 'size',
  'max-postcopy-bandwidth': 'size',
  'max-cpu-throttle': 'uint8',
  'multifd-compression': { enum: ['none', 'zlib', 'zstd'] },
  'multifd-zlib-level': 'uint8',
  'multifd-zstd-level': 'uint8',
} as const;

export type MigrationParameters = Record<keyof typeof PARAMETER_TYPES, number | boolean | string>;

export function defaultMigrationParameters(): MigrationParameters {
  return {
    'announce-initial': 50,
    'announce-max': 550,
    'announce-rounds': 5,
    'announce-step': 100,
    'compress-level': 1,
    'compress-threads': 8,
    'compress-wait-thread': true,
    'decompress-threads': 2,
    'throttle-trigger-threshold': 50,
    'cpu-throttle-initial': 20,
    'cpu-throttle-increment': 10,
    'cpu-throttle-tailslow': false,
    'tls-creds': '',
    'tls-hostname': '',
    'tls-authz': '',
    'max-bandwidth': 134217728, // what Debian's 7.2 reports (test/sim/conformance.test.ts)
    'downtime-limit': 300,
    'x-checkpoint-delay': 20000,
    'block-incremental': false,
    'multifd-channels': 2,
    'xbzrle-cache-size': 67108864,
    'max-postcopy-bandwidth': 0,
    'max-cpu-throttle': 99,
    'multifd-compression': 'none',
    'multifd-zlib-level': 1,
    'multifd-zstd-level': 1,
  };
}

export const SET_PARAMETERS_ARGS: ArgSpec = Object.fromEntries(
  Object.entries(PARAMETER_TYPES).map(([name, type]) => [name, { type, optional: true }]),
);

function range(name: string, value: unknown, min: number, max: number, text: string): void {
  if (typeof value !== 'number') return;
  const v = asUint64(value);
  if (v < min || v > max) throw genericError(`Parameter '${name}' expects ${text}`);
}

/** migrate_params_check() of QEMU 7.2: ranges, with its wording (underscored names). */
export function checkMigrationParameters(params: Record<string, unknown>): void {
  range('compress_level', params['compress-level'], 0, 9, 'a value between 0 and 9');
  range('compress_threads', params['compress-threads'], 1, 255, 'a value between 1 and 255');
  range('decompress_threads', params['decompress-threads'], 1, 255, 'a value between 1 and 255');
  range('throttle_trigger_threshold', params['throttle-trigger-threshold'], 1, 100, 'an integer in the range of 1 to 100');
  range('cpu_throttle_initial', params['cpu-throttle-initial'], 1, 99, 'an integer in the range of 1 to 99');
  range('cpu_throttle_increment', params['cpu-throttle-increment'], 1, 99, 'an integer in the range of 1 to 99');
  range('downtime_limit', params['downtime-limit'], 0, 2000 * 1000, 'an integer in the range of 0 to (2000 * 1000) ms');
  range('multifd_channels', params['multifd-channels'], 1, 255, 'is invalid, it should be in the range of 1 to 255');
  range('max_cpu_throttle', params['max-cpu-throttle'], 1, 99, 'an integer in the range of 1 to 99');
  range('announce_initial', params['announce-initial'], 0, 100000, 'a value between 0 and 100000');
  range('announce_max', params['announce-max'], 0, 100000, 'a value between 0 and 100000');
  range('announce_rounds', params['announce-rounds'], 0, 1000, 'a value between 0 and 1000');
  range('announce_step', params['announce-step'], 1, 10000, 'a value between 0 and 10000');
}
