import { DEFAULT_SIM_QEMU_VERSION, SIM_QEMU_VERSIONS, type SimQemuVersion } from '../inventory/sim-qemu-version.js';
import { SimError } from './errors.js';
import { migrationConfig, type MigrationConfig } from './migration-config.js';
import type { ArgSpec } from './qmp-args.js';
import { commandArgSpec, loadSchemaRecording, type RecordedMachine, type SchemaEntry, type SchemaRecording } from './qmp-schema.js';
import type { QmpGreetingVersion } from './qmp-session.js';

/**
 * Everything about a simulated QEMU that depends on its version: what it says it is, its QMP
 * schema, migration capabilities and parameters, machine types (all from its recording,
 * fixtures/qmp/schema/), and the behaviours that differ between the versions, each as seen on
 * the real QEMU (test/sim/conformance.test.ts runs the same scenarios against both).
 */
/**
 * The behaviours that differ between the simulated versions, each as the conformance run saw
 * the real QEMU do it (test/conformance/scenarios.ts names the scenario that shows it).
 */
export interface VersionBehaviour {
  /**
   * `migrate` parses the URI before it starts a migration (10.0): a bad URI ("unknown migration
   * protocol: X") leaves no record, `query-migrate` stays empty and no event is sent; 7.2 has
   * entered `setup` by then ("Parameter 'uri' expects a valid migration protocol") and ends in
   * `failed`. Scenarios: bad migration arguments, error-classes.
   */
  readonly migrateChecksUriFirst: boolean;
  /**
   * `migrate-incoming` moves the incoming state to `setup` (10.0): `query-migrate` says `setup`
   * while listening, and the MIGRATION event goes out only with the `events` capability; 7.2
   * sends the event always and reports no status until a source connects. Scenarios: run-states
   * prelaunch and inmigrate, the migrations' `destination query-migrate keys`.
   */
  readonly incomingSetupIsAState: boolean;
  /**
   * The source passes through `device` (MIGRATION event) after STOP even without
   * `pause-before-switchover` (10.0); 7.2 goes from `active` to `completed`. Scenario: cont
   * from postmigrate.
   */
  readonly deviceStateWithoutPause: boolean;
  /** `x-query-ramblock` has the HVA and RO columns (10.0). Scenario: guest hardware. */
  readonly ramBlockHostColumns: boolean;
}

const BEHAVIOURS: Record<SimQemuVersion, VersionBehaviour> = {
  '7.2': { migrateChecksUriFirst: false, incomingSetupIsAState: false, deviceStateWithoutPause: false, ramBlockHostColumns: false },
  '10.0': { migrateChecksUriFirst: true, incomingSetupIsAState: true, deviceStateWithoutPause: true, ramBlockHostColumns: true },
};

/**
 * Everything about a simulated QEMU that depends on its version: what it says it is, its QMP
 * schema, migration capabilities and parameters, machine types, reply members (all from its
 * recording, fixtures/qmp/schema/), and the behaviours that differ (VersionBehaviour).
 */
export interface SimQemuProfile extends VersionBehaviour {
  readonly version: SimQemuVersion;
  /** The greeting's and query-version's `qemu` (the recording's micro) and the simulator's package. */
  readonly greeting: QmpGreetingVersion;
  readonly recording: SchemaRecording;
  readonly migration: MigrationConfig;
  /** `query-machines`, as recorded. */
  readonly machines: readonly RecordedMachine[];
  /** `query-status` reports `singlestep` (7.2; gone from 10.0's StatusInfo). */
  readonly statusHasSinglestep: boolean;
  /** `migrate-incoming` takes `exit-on-error` (9.1+). */
  readonly incomingExitOnError: boolean;
  /** The members of `query-migrate`'s `ram` (MigrationStats): 7.2's `skipped` is gone from 10.0. */
  readonly ramStatsMembers: ReadonlySet<string>;
  /** `migrate`'s arguments: `uri` required (7.2) or optional beside `channels` (10.0). */
  readonly migrateArgs: ArgSpec;
  /** `migrate-incoming`'s arguments: `uri` (7.2); `uri`, `channels`, `exit-on-error` (10.0). */
  readonly migrateIncomingArgs: ArgSpec;
}

const PACKAGE = 'nicmig simulator (patched-QEMU model)';
const profiles = new Map<SimQemuVersion, SimQemuProfile>();

/** The profile of QEMU `version` (read once). */
export function simQemuProfile(version: SimQemuVersion = DEFAULT_SIM_QEMU_VERSION): SimQemuProfile {
  let profile = profiles.get(version);
  if (profile) return profile;
  const [major, minor] = version.split('.').map(Number) as [number, number];
  let recording: SchemaRecording;
  try {
    recording = loadSchemaRecording(major, minor);
  } catch (error) {
    throw new SimError('SIM_HOST_FAILED', `cannot simulate QEMU ${version}: ${(error as Error).message}`, { cause: error, hint: `simulated versions: ${SIM_QEMU_VERSIONS.join(', ')}` });
  }
  if (!recording.machines) throw new SimError('SIM_HOST_FAILED', `cannot simulate QEMU ${version}: its recording lacks query-machines; record it again with scripts/record-qmp-schema.js`);
  const byName = new Map(recording.schema.map((entry) => [entry.name, entry]));
  const argsOf = (command: string): SchemaEntry | undefined => byName.get(byName.get(command)?.['arg-type'] as string);
  const members = (entry: SchemaEntry | undefined): string[] => ((entry?.members ?? []) as { name: string }[]).map((member) => member.name);
  const statusInfo = byName.get(byName.get('query-status')?.['ret-type'] as string);
  const migrationInfo = byName.get(byName.get('query-migrate')?.['ret-type'] as string);
  const ramStats = byName.get((migrationInfo?.members as { name: string; type: string }[] | undefined)?.find((member) => member.name === 'ram')?.type ?? '');
  profile = {
    ...BEHAVIOURS[version],
    version,
    greeting: { qemu: { ...recording.recorded.version }, package: PACKAGE },
    recording,
    migration: migrationConfig(recording),
    machines: recording.machines,
    statusHasSinglestep: members(statusInfo).includes('singlestep'),
    incomingExitOnError: members(argsOf('migrate-incoming')).includes('exit-on-error'),
    ramStatsMembers: new Set(members(ramStats)),
    migrateArgs: commandArgSpec(recording, 'migrate'),
    migrateIncomingArgs: commandArgSpec(recording, 'migrate-incoming'),
  };
  profiles.set(version, profile);
  return profile;
}

/**
 * The machine type QEMU runs for `-machine NAME` (an alias such as `q35` resolved to this
 * version's type), or undefined when this QEMU has no machine of that name. Pure.
 */
export function resolveMachine(machines: readonly RecordedMachine[], name: string): string | undefined {
  return machines.find((machine) => machine.name === name || machine.alias === name)?.name;
}

/**
 * What to offer instead of `name`: up to four types of its family (`pc-q35-`), newest first,
 * or the aliases when there are none. Pure.
 */
export function similarMachines(machines: readonly RecordedMachine[], name: string): string[] {
  const version = (type: string): number[] => (/(\d+)\.(\d+)$/.exec(type) ?? []).slice(1).map(Number);
  const newestFirst = (a: string, b: string): number => (version(b)[0] ?? 0) - (version(a)[0] ?? 0) || (version(b)[1] ?? 0) - (version(a)[1] ?? 0);
  const family = name.replace(/\d+\.\d+$/, '');
  const sameFamily = family === name ? [] : machines.map((m) => m.name).filter((type) => type.startsWith(family) && /\d+\.\d+$/.test(type));
  if (sameFamily.length > 0) return sameFamily.sort(newestFirst).slice(0, 4);
  return machines.filter((m) => m.alias !== undefined).map((m) => `${m.alias} (${m.name})`);
}

/** The names `-machine` takes, aliases first, as `-machine help` lists them. Pure. */
export function machineNames(machines: readonly RecordedMachine[]): string[] {
  return [...machines.flatMap((machine) => (machine.alias === undefined ? [] : [machine.alias])), ...machines.map((machine) => machine.name)];
}
