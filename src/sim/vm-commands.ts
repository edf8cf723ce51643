import { MigrationStatusSchema } from '../qmp/schemas.js';
import type { AnnounceRequest } from './device.js';
import { checkMigrationParameters } from './migration-config.js';
import { genericError, QmpFailure } from './qmp-args.js';
import { commandArgSpec, extensionSchemaEntries, selectSchema, SIMULATED_EVENTS } from './qmp-schema.js';
import { IncomingMigration } from './stream/destination.js';
import { OutgoingMigration } from './stream/source.js';
import { parseMigrationUri } from './stream/uri.js';
import type { SimVm } from './vm.js';

const MIGRATION_ACTIVE = "There's a migration process in progress";

/**
 * The stock QEMU commands the simulator answers, with QEMU's checks and wording, as the
 * version the VM presents has them (vm.profile).
 */
export function registerStockCommands(vm: SimVm): void {
  const r = vm.registry;
  const profile = vm.profile;
  const migration = profile.migration;
  // Objects are built in QAPI's member order: QEMU's QDict puts colliding keys last-first.
  const { major, minor, micro } = profile.greeting.qemu;
  r.register({ name: 'query-version', handler: () => ({ qemu: { major, minor, micro }, package: profile.greeting.package }) });
  r.register({ name: 'query-name', handler: () => ({ name: vm.name }) });
  r.register({ name: 'query-commands', handler: () => ['qmp_capabilities', ...r.names()].map((name) => ({ name })) });
  r.register({
    name: 'query-qmp-schema',
    handler: () => {
      const extensions = r.extensionNames().flatMap((name) => extensionSchemaEntries(name, r.definition(name)?.args));
      return selectSchema(profile.recording, ['qmp_capabilities', ...r.names()], SIMULATED_EVENTS, extensions);
    },
  });
  // A simulated host stands for one with the VF: KVM runs its guests.
  r.register({ name: 'query-kvm', handler: () => ({ enabled: true, present: true }) });
  r.register({
    name: 'query-status',
    handler: () => (profile.statusHasSinglestep ? { running: vm.isRunning, singlestep: false, status: vm.runState } : { running: vm.isRunning, status: vm.runState }),
  });
  r.register({
    name: 'stop',
    handler: () => {
      if (vm.runState === 'inmigrate') vm.autostart = false;
      else vm.vmStop('paused');
    },
  });
  r.register({
    name: 'cont',
    handler: () => {
      if (vm.runState === 'finish-migrate') throw genericError('Migration is not finalized yet');
      if (vm.runState === 'shutdown') throw genericError('Resetting the Virtual Machine is required');
      if (vm.runState === 'inmigrate') vm.autostart = true;
      else vm.vmStart();
    },
  });
  r.register({ name: 'quit', handler: () => vm.quit() });
  // The QOM paths nicmig reads: /machine's type, the peripheral containers and their devices'
  // type, addr, parent_bus (and a virtio-net NIC's mac); QEMU's answers and errors for those. The rest of QEMU's tree
  // is not modelled (a path outside it is DeviceNotFound).
  r.register({
    name: 'qom-get',
    args: { path: { type: 'str' }, property: { type: 'str' } },
    handler: (args) => {
      const path = String(args.path);
      const property = String(args.property);
      const object = qomObject(vm, path);
      const value = object.properties[property];
      if (value === undefined) throw genericError(`Property '${object.type}.${property}' not found`);
      return value;
    },
  });
  r.register({
    name: 'qom-list',
    args: { path: { type: 'str' } },
    handler: (args) => {
      const path = String(args.path);
      const object = qomObject(vm, path);
      if (!object.children) throw genericError(`the simulator does not model the properties of ${path} (only of /machine/peripheral and /machine/peripheral-anon)`);
      return [{ name: 'type', type: 'string' }, ...object.children.map(([name, type]) => ({ name, type: `child<${type}>` }))];
    },
  });
  // The machine types of this QEMU version, as recorded (QEMU's own order is its hash table's).
  // 10.0's `compat-props` (unstable) is taken and not modelled: no entry carries them.
  r.register({ name: 'query-machines', args: commandArgSpec(profile.recording, 'query-machines'), handler: () => structuredClone(profile.machines) });
  r.register({ name: 'query-memdev', handler: () => vm.hardware.memdevs() });
  r.register({ name: 'x-query-ramblock', handler: () => ({ 'human-readable-text': vm.hardware.ramBlockTable(profile.ramBlockHostColumns) }) });
  r.register({ name: 'query-pci', handler: () => vm.hardware.pci() });
  r.register({
    name: 'device_del',
    args: { id: { type: 'str' } },
    handler: (args) => {
      throw new QmpFailure('DeviceNotFound', `Device '${String(args.id)}' not found`);
    },
  });
  r.register({
    name: 'balloon',
    args: { value: { type: 'int' } },
    handler: () => {
      throw new QmpFailure('DeviceNotActive', 'No balloon device has been activated');
    },
  });
  r.register({
    name: 'announce-self',
    args: {
      initial: { type: 'int' },
      max: { type: 'int' },
      rounds: { type: 'int' },
      step: { type: 'int' },
      interfaces: { type: { list: 'str' }, optional: true },
      id: { type: 'str', optional: true },
    },
    handler: (args) => {
      for (const device of vm.devices) device.onAnnounce?.(args as unknown as AnnounceRequest);
    },
  });

  r.register({
    name: 'query-migrate-capabilities',
    handler: () => migration.capabilities.map((capability) => ({ capability, state: vm.capability(capability) })),
  });
  r.register({
    name: 'migrate-set-capabilities',
    args: migration.setCapabilitiesArgs,
    handler: (args) => {
      if (vm.outgoing?.isRunning) throw genericError(MIGRATION_ACTIVE);
      const list = args.capabilities as { capability: string; state: boolean }[];
      for (const { capability, state } of list) vm.capabilities.set(capability, state);
    },
  });
  r.register({ name: 'query-migrate-parameters', handler: () => ({ ...vm.parameters }) });
  r.register({
    name: 'migrate-set-parameters',
    args: migration.setParametersArgs,
    handler: (args) => {
      checkMigrationParameters(args);
      Object.assign(vm.parameters, args);
    },
  });

  // qmp_query_migrate(): the incoming record first, then the outgoing one over it once a
  // migration out of this QEMU ever started (a guest that came in and goes out again).
  r.register({ name: 'query-migrate', handler: () => ({ ...vm.incoming?.info(), ...vm.outgoing?.info() }) });
  r.register({
    name: 'migrate',
    args: profile.migrateArgs,
    handler: (args) => {
      const uri = String(args.uri);
      if (profile.migrateChecksUriFirst) {
        // qmp_migrate() of 10.0: the URI is parsed before migrate_prepare(), so a bad one
        // leaves no migration behind (no event, query-migrate stays as it was).
        // Not modelled (docs/simulator.md): the channel list nicmig never sends.
        if (args.channels !== undefined) throw genericError("the simulator takes 'uri', not 'channels'");
        if (args.uri === undefined) throw genericError("need either 'uri' or 'channels' argument");
        if (!parseMigrationUri(uri)) throw genericError(`unknown migration protocol: ${uri}`);
      }
      if (vm.outgoing?.isRunning) throw genericError(MIGRATION_ACTIVE);
      if (vm.runState === 'inmigrate') throw genericError('Guest is waiting for an incoming migration');
      const migration = new OutgoingMigration(vm);
      vm.outgoing = migration;
      // migrate_init(): setup (event with `events`), before the URI is even looked at.
      migration.enterSetup();
      const target = parseMigrationUri(uri);
      if (!target) {
        migration.failAtOnce();
        throw genericError("Parameter 'uri' expects a valid migration protocol");
      }
      migration.start(target);
    },
  });
  r.register({ name: 'migrate_cancel', handler: () => vm.outgoing?.cancel() });
  r.register({
    name: 'migrate-continue',
    args: { state: { type: { enum: MigrationStatusSchema.options } } },
    handler: (args) => {
      const status = vm.outgoing?.status ?? 'none';
      if (status !== args.state) throw genericError(`Migration not in expected state: ${status}`);
      vm.outgoing?.continueFromPause();
    },
  });
  r.register({
    name: 'migrate-incoming',
    args: profile.migrateIncomingArgs,
    handler: async (args) => {
      if (vm.incoming) throw genericError('The incoming migration has already been started');
      if (vm.runState !== 'inmigrate' || !vm.incomingDeferred) throw genericError("'-incoming' was not specified on the command line");
      if (args.channels !== undefined) throw genericError("the simulator takes 'uri', not 'channels'");
      if (args.uri === undefined) throw genericError("need either 'uri' or 'channels' argument");
      const uri = String(args.uri);
      IncomingMigration.announceSetup(vm);
      const target = parseMigrationUri(uri);
      if (!target) throw genericError(`unknown migration protocol: ${uri}`);
      const incoming = new IncomingMigration(vm, { exitOnError: args['exit-on-error'] !== false });
      vm.incoming = incoming;
      vm.incomingDeferred = false;
      await incoming.listen(target);
    },
  });
}

interface QomObject {
  type: string;
  properties: Record<string, unknown>;
  /** Listed by qom-list (containers); undefined where the simulator does not model the list. */
  children?: [string, string][];
}

/** The simulated QOM object at `path`, or QEMU's DeviceNotFound. */
function qomObject(vm: SimVm, path: string): QomObject {
  const peripherals = vm.hardware.peripherals();
  if (path === '/machine') return { type: `${vm.machineType}-machine`, properties: { type: `${vm.machineType}-machine` } };
  if (path === '/machine/peripheral') return { type: 'container', properties: { type: 'container' }, children: peripherals.map((p) => [p.id, p.type]) };
  if (path === '/machine/peripheral-anon') return { type: 'container', properties: { type: 'container' }, children: [] };
  const device = peripherals.find((p) => path === `/machine/peripheral/${p.id}`);
  if (device) return { type: device.type, properties: { type: device.type, addr: device.devfn, parent_bus: vm.hardware.rootBusPath, ...(device.mac === undefined ? {} : { mac: device.mac }) } };
  throw new QmpFailure('DeviceNotFound', `Device '${path}' not found`);
}
