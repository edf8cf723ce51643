import { asUint64, genericError, type ArgSpec, type IntegerWidth } from './qmp-args.js';
import { commandArgSpec, type SchemaRecording } from './qmp-schema.js';

/**
 * The migration capabilities and parameters of the QEMU version being simulated, from its
 * recording (fixtures/qmp/schema/qemu-MAJOR.MINOR.json): the capability list in the order
 * `query-migrate-capabilities` gives it, the parameters `migrate-set-parameters` takes (names,
 * order, enums from the recorded schema) and their defaults as `query-migrate-parameters`
 * reported them. Introspection says only `int` for every integer; the widths that decide
 * QEMU's error wording are QAPI's (qapi/migration.json), here.
 */
const INTEGER_WIDTHS: Readonly<Record<string, IntegerWidth>> = {
  'announce-initial': 'size',
  'announce-max': 'size',
  'announce-rounds': 'size',
  'announce-step': 'size',
  'compress-level': 'uint8',
  'compress-threads': 'uint8',
  'decompress-threads': 'uint8',
  'throttle-trigger-threshold': 'uint8',
  'cpu-throttle-initial': 'uint8',
  'cpu-throttle-increment': 'uint8',
  'max-bandwidth': 'size',
  'avail-switchover-bandwidth': 'size',
  'downtime-limit': 'uint64',
  'x-checkpoint-delay': 'uint32',
  'multifd-channels': 'uint8',
  'xbzrle-cache-size': 'size',
  'max-postcopy-bandwidth': 'size',
  'max-cpu-throttle': 'uint8',
  'multifd-zlib-level': 'uint8',
  'multifd-qatzip-level': 'uint8',
  'multifd-zstd-level': 'uint8',
  'x-vcpu-dirty-limit-period': 'uint64',
  'vcpu-dirty-limit': 'uint64',
};

export type MigrationParameters = Record<string, unknown>;

export interface MigrationConfig {
  /** `query-migrate-capabilities`' capabilities, in its order. */
  capabilities: readonly string[];
  setCapabilitiesArgs: ArgSpec;
  setParametersArgs: ArgSpec;
  /** A fresh copy of the defaults, as `query-migrate-parameters` reports them on a new QEMU. */
  defaultParameters(): MigrationParameters;
}

/** What the recording says about migration configuration. Throws when it lacks what is needed. */
export function migrationConfig(recording: SchemaRecording): MigrationConfig {
  const { migrateCapabilities, migrateParameters } = recording;
  if (!migrateCapabilities || !migrateParameters) {
    throw new Error(`the recording of QEMU ${versionOf(recording)} lacks query-migrate-capabilities or query-migrate-parameters; record it again with scripts/record-qmp-schema.js`);
  }
  return {
    capabilities: migrateCapabilities,
    setCapabilitiesArgs: commandArgSpec(recording, 'migrate-set-capabilities'),
    setParametersArgs: commandArgSpec(recording, 'migrate-set-parameters', INTEGER_WIDTHS),
    defaultParameters: () => structuredClone(migrateParameters),
  };
}

function versionOf(recording: SchemaRecording): string {
  return `${recording.recorded.version.major}.${recording.recorded.version.minor}`;
}

function range(name: string, value: unknown, min: number, max: number, text: string): void {
  if (typeof value !== 'number') return;
  const v = asUint64(value);
  if (v < min || v > max) throw genericError(`Parameter '${name}' expects ${text}`);
}

/**
 * migrate_params_check(): the ranges of the parameters both 7.2 and 10.0 have, with their
 * wording (underscored names; the error-classes scenario checks it on both). 10.0's checks of
 * its own new parameters are not modelled (docs/simulator.md).
 */
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
