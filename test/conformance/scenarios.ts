import type { QmpClient } from '../../src/qmp/client.js';
import type { ConformanceTarget } from './targets.js';
import { Trace, withoutRacedEvent, type RacedEvent } from './trace.js';

/**
 * QMP scenarios run unchanged against real QEMU 7.2 and the simulator. Each returns a Trace;
 * the runner (test/sim/conformance.test.ts) requires the simulator's to equal QEMU's.
 */
export interface Scenario {
  name: string;
  run(target: ConformanceTarget): Promise<Trace>;
}

const DEADLINE = 60_000;
const ACTIVE_KEYS = ['status', 'total-time', 'expected-downtime', 'setup-time', 'ram', 'downtime', 'error-desc', 'socket-address'] as const;
const RAM_KEYS = ['transferred', 'remaining', 'total', 'duplicate', 'normal', 'normal-bytes', 'dirty-pages-rate', 'mbps', 'dirty-sync-count', 'page-size', 'pages-per-second', 'precopy-bytes', 'downtime-bytes'];

/**
 * QEMU 7.2's migrate_fd_cancel() posts the pause semaphore before it moves the state from
 * pre-switchover to cancelling; the migration thread, woken, may move it to device first (and
 * emit MIGRATION:device) or find it cancelling already. It cannot go further: it then waits for
 * the BQL, which the cancelling QMP command holds, and sees `cancelling`. Both orders are QEMU's.
 */
const CANCEL_IN_PRE_SWITCHOVER: RacedEvent = {
  event: 'MIGRATION:device',
  after: 'MIGRATION:pre-switchover',
  before: 'MIGRATION:cancelling',
  why: 'migrate_fd_cancel posts pause_sem before it sets cancelling',
};

function waitStatus(client: QmpClient, statuses: string[]) {
  return client.waitFor('MIGRATION', (e) => statuses.includes(String(e.data?.status)), DEADLINE);
}

/** The run state once QEMU has left finish-migrate (within the deadline). */
async function settledStatus(client: QmpClient): Promise<string> {
  const deadline = Date.now() + DEADLINE;
  for (;;) {
    const { status } = (await client.execute('query-status')) as { status: string };
    if (status !== 'finish-migrate') return status;
    if (Date.now() > deadline) throw new Error(`still finish-migrate ${DEADLINE} ms after MIGRATION completed`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function incomingPort(info: Record<string, unknown>): number {
  const addresses = info['socket-address'] as { port?: string | number }[] | undefined;
  return Number(addresses?.[0]?.port);
}

/** Destination `-S -incoming defer` listening with events on; returns its port. */
async function listeningDestination(target: ConformanceTarget, trace: Trace) {
  const vm = await target.start({ name: 'destination', paused: true, incoming: true });
  const dst = await vm.connect();
  trace.watch('destination', dst);
  await dst.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
  await trace.step('destination migrate-incoming tcp:127.0.0.1:0', dst.execute('migrate-incoming', { uri: 'tcp:127.0.0.1:0' }));
  const info = (await dst.execute('query-migrate')) as Record<string, unknown>;
  const address = (info['socket-address'] as Record<string, unknown>[] | undefined)?.[0] ?? {};
  trace.note(`destination query-migrate keys=${Object.keys(info).sort().join(',')} address=${address.type}/${address.host}/${typeof address.port}`);
  return { vm, dst, port: incomingPort(info) };
}

/** A source with random RAM migrating at 8 MiB/s, so there is time to interfere. */
async function slowMigration(target: ConformanceTarget, trace: Trace, pauseBeforeSwitchover: boolean) {
  const destination = await listeningDestination(target, trace);
  const vm = await target.start({ name: 'source', randomRam: true });
  const src = await vm.connect();
  trace.watch('source', src);
  await src.execute('migrate-set-capabilities', {
    capabilities: [
      { capability: 'events', state: true },
      { capability: 'pause-before-switchover', state: pauseBeforeSwitchover },
    ],
  });
  await src.execute('migrate-set-parameters', { 'max-bandwidth': 8 << 20 });
  const active = waitStatus(src, ['active']);
  await trace.step('source migrate', src.execute('migrate', { uri: `tcp:127.0.0.1:${destination.port}` }));
  await active;
  return { destination, source: { vm, src } };
}

export const scenarios: Scenario[] = [
  {
    name: 'negotiation',
    async run(target) {
      const trace = new Trace();
      const vm = await target.start({ name: 'vm1' });
      const client = await vm.connect();
      const { version, capabilities } = client.greeting.QMP;
      trace.note(`greeting capabilities=${JSON.stringify(capabilities)} qemu=${version.qemu.major}.${version.qemu.minor} package=${typeof version.package}`);
      const reported = (await client.execute('query-version')) as { qemu: unknown };
      trace.note(`query-version equals greeting: ${JSON.stringify(reported.qemu) === JSON.stringify(version.qemu)}`);
      await trace.status('vm1', client);
      trace.note(`query-name: ${JSON.stringify(await client.execute('query-name'))}`);
      const commands = new Set(((await client.execute('query-commands')) as { name: string }[]).map((c) => c.name));
      for (const name of ['qmp_capabilities', 'query-status', 'query-version', 'query-migrate', 'migrate', 'migrate-incoming', 'migrate-continue', 'migrate_cancel', 'migrate-set-capabilities', 'migrate-set-parameters', 'announce-self', 'cont', 'stop', 'quit']) {
        trace.note(`query-commands has ${name}: ${commands.has(name)}`);
      }
      await trace.step('qmp_capabilities again', client.execute('qmp_capabilities'));
      const capabilities2 = (await client.execute('query-migrate-capabilities')) as { capability: string; state: boolean }[];
      trace.note(`migrate capabilities all off: ${capabilities2.every((c) => !c.state)}; has ${['events', 'pause-before-switchover', 'return-path', 'auto-converge', 'multifd', 'postcopy-ram'].filter((n) => capabilities2.some((c) => c.capability === n)).join(',')}`);
      // The whole list, in QEMU's order: what differs between versions (switchover-ack, mapped-ram, ...).
      trace.note(`migrate capabilities: ${capabilities2.map((c) => c.capability).join(',')}`);
      const parameters = (await client.execute('query-migrate-parameters')) as Record<string, unknown>;
      trace.note(`parameters: ${['downtime-limit', 'max-bandwidth', 'cpu-throttle-initial', 'cpu-throttle-increment', 'max-cpu-throttle', 'multifd-channels', 'announce-initial', 'announce-max', 'announce-rounds', 'announce-step'].map((k) => `${k}=${String(parameters[k])}`).join(' ')}`);
      // Every member and its default (QEMU's key order is its hash table's: by name here).
      trace.note(`all parameters: ${JSON.stringify(Object.fromEntries(Object.entries(parameters).sort(([a], [b]) => a.localeCompare(b))))}`);
      // Pipelined commands are answered in order with their ids.
      const replies = await Promise.all(['query-name', 'query-status', 'query-version', 'query-name'].map((name) => client.execute(name)));
      trace.note(`pipelined replies in order: ${replies.map((r) => Object.keys(r as object).sort()[0]).join(',')}`);
      return trace;
    },
  },
  {
    name: 'qom-get /machine type: the machine the alias q35 resolved to',
    async run(target) {
      const trace = new Trace();
      const client = await (await target.start({ name: 'vm1' })).connect();
      trace.note(`type: ${JSON.stringify(await client.execute('qom-get', { path: '/machine', property: 'type' }))}`);
      // What a destination's QEMU offers (preflight's machine check); QEMU lists them in hash order.
      const machines = (await client.execute('query-machines')) as { name: string }[];
      for (const machine of [...machines].sort((a, b) => a.name.localeCompare(b.name))) trace.note(`query-machines: ${JSON.stringify(machine)}`);
      await trace.step('qom-get /machine nope', client.execute('qom-get', { path: '/machine', property: 'nope' }));
      await trace.step('qom-get /nope type', client.execute('qom-get', { path: '/nope', property: 'type' }));
      await trace.step('qom-get without property', client.execute('qom-get', { path: '/machine' }));
      return trace;
    },
  },
  {
    // What preflight compares between the two sides (src/migration/compare-sides.ts), on a VM
    // started -S as a destination is, so that no firmware has programmed BARs and IRQs yet.
    name: 'guest hardware: memory backends, RAM blocks, PCI functions, devices by id (q35 and pc)',
    async run(target) {
      const trace = new Trace();
      const nics = [
        { id: 'net0', mac: '52:54:00:12:34:56', netdev: 'user' as const },
        { id: 'net1', mac: '52:54:00:12:34:57', netdev: 'none' as const },
      ];
      for (const machine of ['q35', 'pc']) {
        const client = await (await target.start({ name: `vm-${machine}`, paused: true, memoryMiB: 64, machine, nics })).connect();
        const ask = async (label: string, command: string, args?: Record<string, unknown>) => {
          const reply = await trace.step(`${machine} ${label}`, client.execute(command, args));
          if (reply !== undefined) trace.note(`${machine} ${label}: ${JSON.stringify(reply)}`);
          return reply;
        };
        await ask('query-memdev', 'query-memdev');
        const text = (await client.execute('x-query-ramblock')) as { 'human-readable-text': string };
        // 10.0's HVA column is a host address, another each run: masked, its width kept.
        for (const line of text['human-readable-text'].split('\n')) trace.note(`${machine} x-query-ramblock | ${line.replace(/ 0x[0-9a-f]{16}( {2}r[ow])$/, ' 0xHHHHHHHHHHHHHHHH$1')}`);
        await ask('query-pci', 'query-pci');
        // QEMU lists a container's children in its hash table's order: compared as a set.
        const children = (await client.execute('qom-list', { path: '/machine/peripheral' })) as { name: string; type: string }[];
        trace.note(`${machine} qom-list /machine/peripheral: ${JSON.stringify([...children].sort((a, b) => a.name.localeCompare(b.name)))}`);
        await ask('qom-list /machine/peripheral-anon', 'qom-list', { path: '/machine/peripheral-anon' });
        await ask('qom-get /machine/peripheral type', 'qom-get', { path: '/machine/peripheral', property: 'type' });
        for (const property of ['type', 'addr', 'parent_bus', 'mac', 'nope']) await ask(`qom-get net1 ${property}`, 'qom-get', { path: '/machine/peripheral/net1', property });
        await ask('qom-get /machine/peripheral/nope type', 'qom-get', { path: '/machine/peripheral/nope', property: 'type' });
        await ask('qom-list /machine/nope', 'qom-list', { path: '/machine/nope' });
        await ask('qom-list without path', 'qom-list', {});
        await ask('query-pci with an argument', 'query-pci', { bus: 0 });
      }
      return trace;
    },
  },
  {
    name: 'qom-get of a NIC by its id: its type and the MAC it was given',
    async run(target) {
      const trace = new Trace();
      const client = await (await target.start({ name: 'vm1', nics: [{ id: 'net0', mac: '52:54:00:AB:CD:01', netdev: 'none' }] })).connect();
      await trace.step('qom-get net0 type', client.execute('qom-get', { path: '/machine/peripheral/net0', property: 'type' }));
      await trace.step('qom-get net0 mac', client.execute('qom-get', { path: '/machine/peripheral/net0', property: 'mac' }));
      await trace.step('qom-get net0 nope', client.execute('qom-get', { path: '/machine/peripheral/net0', property: 'nope' }));
      await trace.step('qom-get net1 mac', client.execute('qom-get', { path: '/machine/peripheral/net1', property: 'mac' }));
      return trace;
    },
  },
  {
    name: 'before-negotiation',
    async run(target) {
      const trace = new Trace();
      const vm = await target.start({ name: 'vm1' });
      const client = await vm.connect({ negotiate: false });
      trace.watch('vm1', client);
      await trace.step('query-status', client.execute('query-status'));
      await trace.step('no-such-command', client.execute('no-such-command'));
      await trace.step('stop', client.execute('stop'));
      await trace.step('qmp_capabilities', client.execute('qmp_capabilities', {}));
      await trace.status('vm1', client);
      trace.note(`events: ${trace.events('vm1').join(' ')}`);
      return trace;
    },
  },
  {
    name: 'run-states running/paused',
    async run(target) {
      const trace = new Trace();
      const vm = await target.start({ name: 'vm1' });
      const client = await vm.connect();
      trace.watch('vm1', client);
      await trace.status('vm1', client);
      await trace.step('stop', client.execute('stop'));
      await trace.status('vm1', client);
      await trace.step('stop again', client.execute('stop'));
      await trace.status('vm1', client);
      const resumed = client.waitFor('RESUME', undefined, DEADLINE);
      await trace.step('cont', client.execute('cont'));
      await resumed;
      await trace.status('vm1', client);
      await trace.step('cont while running', client.execute('cont'));
      await trace.status('vm1', client);
      trace.note(`events: ${trace.events('vm1').join(' ')}`);
      const shutdown = client.waitFor('SHUTDOWN', undefined, DEADLINE);
      await trace.step('quit', client.execute('quit'));
      await shutdown;
      const closed = await client.closed;
      trace.note(`after quit: ${closed.code}; events: ${trace.events('vm1').join(' ')}; exit ${String(await vm.exitCode())}`);
      return trace;
    },
  },
  {
    name: 'run-states prelaunch and inmigrate',
    async run(target) {
      const trace = new Trace();
      const prelaunch = await (await target.start({ name: 'vm1', paused: true })).connect();
      trace.watch('vm1', prelaunch);
      await trace.status('vm1', prelaunch);
      await trace.step('vm1 migrate-incoming', prelaunch.execute('migrate-incoming', { uri: 'tcp:127.0.0.1:0' }));
      const resumed = prelaunch.waitFor('RESUME', undefined, DEADLINE);
      await trace.step('vm1 cont', prelaunch.execute('cont'));
      await resumed;
      await trace.status('vm1', prelaunch);
      trace.note(`vm1 events: ${trace.events('vm1').join(' ')}`);

      const incoming = await (await target.start({ name: 'vm2', incoming: true })).connect();
      trace.watch('vm2', incoming);
      await trace.status('vm2', incoming);
      await trace.step('vm2 cont', incoming.execute('cont'));
      await trace.status('vm2', incoming);
      await trace.step('vm2 stop', incoming.execute('stop'));
      await trace.status('vm2', incoming);
      await trace.step('vm2 migrate', incoming.execute('migrate', { uri: 'tcp:127.0.0.1:1' }));
      await trace.migrateInfo('vm2', incoming, ACTIVE_KEYS);
      await trace.step('vm2 migrate-incoming bogus:uri', incoming.execute('migrate-incoming', { uri: 'bogus:uri' }));
      await trace.step('vm2 migrate-incoming without uri', incoming.execute('migrate-incoming', {}));
      // Without the events capability: QEMU 7.2 sends `setup` for migrate-incoming regardless.
      await trace.step('vm2 migrate-incoming', incoming.execute('migrate-incoming', { uri: 'tcp:127.0.0.1:0' }));
      await trace.step('vm2 migrate-incoming again', incoming.execute('migrate-incoming', { uri: 'tcp:127.0.0.1:0' }));
      await trace.migrateInfo('vm2', incoming, ACTIVE_KEYS);
      await trace.status('vm2', incoming);
      trace.note(`vm2 events: ${trace.events('vm2').join(' ')}`);
      return trace;
    },
  },
  {
    name: 'error-classes',
    async run(target) {
      const trace = new Trace();
      const client = await (await target.start({ name: 'vm1' })).connect();
      const cases: [string, Record<string, unknown> | undefined][] = [
        ['no-such-command', undefined],
        ['migrate-set-parameters', { 'downtime-limit': 'soon' }],
        ['migrate-set-parameters', { 'downtime-limit': 2_000_001 }],
        ['migrate-set-parameters', { 'max-bandwidth': 1.5 }],
        ['migrate-set-parameters', { 'cpu-throttle-initial': 0 }],
        ['migrate-set-parameters', { 'cpu-throttle-increment': 300 }],
        ['migrate-set-parameters', { 'no-such-parameter': 1 }],
        ['migrate-set-parameters', { 'downtime-limit': 500, 'max-bandwidth': 1 << 20 }],
        ['cont', { bogus: 1 }],
        ['device_del', { id: 'no-such-device' }],
        ['balloon', { value: 1 << 20 }],
        ['migrate-continue', { state: 'pre-switchover' }],
        ['migrate-continue', { state: 'no-such-state' }],
        ['migrate', {}],
        ['migrate', { uri: 5 }],
        ['migrate-set-capabilities', { capabilities: [{ capability: 'events', state: 'yes' }] }],
        ['migrate-set-capabilities', { capabilities: [{ capability: 'events' }] }],
        ['migrate-set-capabilities', { capabilities: {} }],
        ['migrate-incoming', { uri: 'tcp:127.0.0.1:0' }],
        ['announce-self', { initial: 50, max: 550, rounds: 5 }],
        ['announce-self', { initial: 50, max: 550, rounds: 5, step: 100 }],
        ['migrate_cancel', undefined],
        ['query-status', { verbose: true }],
      ];
      for (const [name, args] of cases) await trace.step(`${name} ${JSON.stringify(args ?? {})}`, client.execute(name, args));
      const parameters = (await client.execute('query-migrate-parameters')) as Record<string, unknown>;
      trace.note(`downtime-limit=${String(parameters['downtime-limit'])} max-bandwidth=${String(parameters['max-bandwidth'])}`);
      await trace.migrateInfo('vm1', client, ACTIVE_KEYS);
      await trace.status('vm1', client);
      return trace;
    },
  },
  {
    name: 'migration with pause-before-switchover to completion',
    async run(target) {
      const trace = new Trace();
      const { dst, vm: destinationVm } = await listeningDestination(target, trace).then(async (d) => {
        trace.note(`destination query-status before: ${JSON.stringify(await d.dst.execute('query-status'))}`);
        return d;
      });
      const port = incomingPort((await dst.execute('query-migrate')) as Record<string, unknown>);
      const srcVm = await target.start({ name: 'source', randomRam: true });
      const src = await srcVm.connect();
      trace.watch('source', src);
      await src.execute('migrate-set-capabilities', {
        capabilities: [
          { capability: 'events', state: true },
          { capability: 'pause-before-switchover', state: true },
        ],
      });
      await src.execute('migrate-set-parameters', { 'max-bandwidth': 1 << 30, 'downtime-limit': 300 });
      const paused = waitStatus(src, ['pre-switchover', 'failed']);
      await trace.step('source migrate', src.execute('migrate', { uri: `tcp:127.0.0.1:${port}` }));
      await paused;
      await trace.status('source', src);
      const info = await trace.migrateInfo('source', src, ACTIVE_KEYS);
      const ram = (info.ram ?? {}) as Record<string, unknown>;
      trace.note(`source ram keys: ${RAM_KEYS.filter((k) => typeof ram[k] === 'number').join(',')}`);
      trace.note(`source query-migrate in pre-switchover, every key: ${Object.keys(info).sort().join(',')}; ram: ${Object.keys(ram).sort().join(',')}`);
      await trace.step('source migrate-set-capabilities during migration', src.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] }));
      await trace.step('source migrate during migration', src.execute('migrate', { uri: `tcp:127.0.0.1:${port}` }));
      await trace.step('source cont in pre-switchover', src.execute('cont'));
      await trace.status('destination', dst);
      const sourceDone = waitStatus(src, ['completed', 'failed']);
      const destinationDone = waitStatus(dst, ['completed', 'failed']);
      await trace.step('source migrate-continue', src.execute('migrate-continue', { state: 'pre-switchover' }));
      await sourceDone;
      await destinationDone;
      const completed = await trace.migrateInfo('source', src, ACTIVE_KEYS);
      trace.note(`source query-migrate completed, every key: ${Object.keys(completed).sort().join(',')}; ram: ${Object.keys((completed.ram ?? {}) as object).sort().join(',')}`);
      await trace.migrateInfo('destination', dst, ACTIVE_KEYS);
      await trace.status('source', src);
      await trace.status('destination', dst);
      await trace.step('source migrate-continue after completion', src.execute('migrate-continue', { state: 'pre-switchover' }));
      const resumed = dst.waitFor('RESUME', undefined, DEADLINE);
      await trace.step('destination cont', dst.execute('cont'));
      await resumed;
      await trace.status('destination', dst);
      await trace.status('source', src);
      trace.note(`source events: ${trace.events('source').join(' ')}`);
      trace.note(`source passes: ${trace.passFacts('source').join('; ')}`);
      trace.note(`destination events: ${trace.events('destination').join(' ')}`);
      void destinationVm;
      return trace;
    },
  },
  {
    // A guest that came in and now goes out again: the incoming and outgoing migrations are
    // separate records in QEMU, and query-migrate reports the outgoing one once it exists.
    name: 'return migration: the outgoing record, not the completed incoming one',
    async run(target) {
      const trace = new Trace();
      const there = await listeningDestination(target, trace);
      const src = await (await target.start({ name: 'source' })).connect();
      trace.watch('source', src);
      await src.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
      const arrived = waitStatus(there.dst, ['completed', 'failed']);
      const left = waitStatus(src, ['completed', 'failed']);
      await trace.step('source migrate', src.execute('migrate', { uri: `tcp:127.0.0.1:${there.port}` }));
      await Promise.all([arrived, left]);
      await trace.migrateInfo('destination', there.dst, ACTIVE_KEYS);
      const resumed = there.dst.waitFor('RESUME', undefined, DEADLINE);
      await trace.step('destination cont', there.dst.execute('cont'));
      await resumed;
      // Back again, to a new incoming QEMU, pausing before the switchover.
      const back = await target.start({ name: 'back', paused: true, incoming: true });
      const backClient = await back.connect();
      trace.watch('back', backClient);
      await backClient.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
      await trace.step('back migrate-incoming', backClient.execute('migrate-incoming', { uri: 'tcp:127.0.0.1:0' }));
      const backPort = incomingPort((await backClient.execute('query-migrate')) as Record<string, unknown>);
      await there.dst.execute('migrate-set-capabilities', { capabilities: [{ capability: 'pause-before-switchover', state: true }] });
      const paused = waitStatus(there.dst, ['pre-switchover', 'failed']);
      await trace.step('destination migrate back', there.dst.execute('migrate', { uri: `tcp:127.0.0.1:${backPort}` }));
      await paused;
      await trace.migrateInfo('destination', there.dst, ACTIVE_KEYS);
      await trace.status('destination', there.dst);
      const outDone = waitStatus(there.dst, ['completed', 'failed']);
      const backDone = waitStatus(backClient, ['completed', 'failed']);
      await trace.step('destination migrate-continue', there.dst.execute('migrate-continue', { state: 'pre-switchover' }));
      await Promise.all([outDone, backDone]);
      await trace.migrateInfo('destination', there.dst, ACTIVE_KEYS);
      await trace.migrateInfo('back', backClient, ACTIVE_KEYS);
      // QEMU may still say finish-migrate right after MIGRATION completed: compare where it settles.
      trace.note(`destination settles in: ${await settledStatus(there.dst)}`);
      await trace.status('back', backClient);
      trace.note(`destination events: ${trace.events('destination').join(' ')}`);
      trace.note(`back events: ${trace.events('back').join(' ')}`);
      return trace;
    },
  },
  {
    name: 'migrate_cancel while active',
    async run(target) {
      const trace = new Trace();
      const { destination, source } = await slowMigration(target, trace, true);
      const cancelled = waitStatus(source.src, ['cancelled']);
      await trace.step('source migrate_cancel', source.src.execute('migrate_cancel'));
      await cancelled;
      trace.note(`destination exit code: ${String(await destination.vm.exitCode())}`);
      await trace.migrateInfo('source', source.src, ACTIVE_KEYS);
      await trace.status('source', source.src);
      await trace.step('source migrate_cancel again', source.src.execute('migrate_cancel'));
      trace.note(`source events: ${trace.events('source').join(' ')}`);
      trace.note(`destination events: ${trace.events('destination').join(' ')}`);
      return trace;
    },
  },
  {
    name: 'destination killed mid-stream',
    async run(target) {
      const trace = new Trace();
      const { destination, source } = await slowMigration(target, trace, true);
      const failed = waitStatus(source.src, ['failed']);
      await destination.vm.kill();
      await failed;
      const info = await trace.migrateInfo('source', source.src, ACTIVE_KEYS);
      trace.note(`error-desc is text: ${typeof info['error-desc'] === 'string' && String(info['error-desc']).length > 0}`);
      await trace.status('source', source.src);
      trace.note(`source events: ${trace.events('source').join(' ')}`);
      return trace;
    },
  },
  {
    // QEMU 9.1+ takes migrate-incoming exit-on-error: false, and then keeps a destination whose
    // load failed, in `failed` with its error-desc (nicmig reads it). 7.2 refuses the argument.
    name: 'a failed incoming migration with exit-on-error false',
    async run(target) {
      const trace = new Trace();
      // The destination's RAM is half the source's: the load fails at the RAM section.
      const vm = await target.start({ name: 'destination', paused: true, incoming: true, memoryMiB: 32 });
      const dst = await vm.connect();
      trace.watch('destination', dst);
      await dst.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
      const listening = await trace.step('destination migrate-incoming exit-on-error false', dst.execute('migrate-incoming', { uri: 'tcp:127.0.0.1:0', 'exit-on-error': false }));
      if (listening === undefined) {
        await trace.migrateInfo('destination', dst, ACTIVE_KEYS);
        await trace.status('destination', dst);
        return trace;
      }
      const port = incomingPort((await dst.execute('query-migrate')) as Record<string, unknown>);
      const src = await (await target.start({ name: 'source', randomRam: true, memoryMiB: 64 })).connect();
      trace.watch('source', src);
      await src.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
      await src.execute('migrate-set-parameters', { 'max-bandwidth': 8 << 20 });
      const destinationFailed = waitStatus(dst, ['failed', 'completed']);
      const sourceEnded = waitStatus(src, ['failed', 'completed']);
      await trace.step('source migrate', src.execute('migrate', { uri: `tcp:127.0.0.1:${port}` }));
      await destinationFailed;
      await sourceEnded;
      const info = await trace.migrateInfo('destination', dst, ACTIVE_KEYS);
      trace.note(`destination error-desc: ${String(info['error-desc'])}`);
      await trace.status('destination', dst);
      await trace.step('destination migrate-incoming again', dst.execute('migrate-incoming', { uri: 'tcp:127.0.0.1:0' }));
      await trace.migrateInfo('source', src, ACTIVE_KEYS);
      await trace.status('source', src);
      trace.note(`destination events: ${trace.events('destination').join(' ')}`);
      trace.note(`source events: ${trace.events('source').join(' ')}`);
      const quit = dst.waitFor('SHUTDOWN', undefined, DEADLINE);
      await trace.step('destination quit', dst.execute('quit'));
      await quit;
      trace.note(`destination exit code: ${String(await vm.exitCode())}`);
      return trace;
    },
  },
  {
    name: 'migrate_cancel in pre-switchover resumes the source',
    async run(target) {
      const trace = new Trace();
      const destination = await listeningDestination(target, trace);
      const src = await (await target.start({ name: 'source' })).connect();
      trace.watch('source', src);
      await src.execute('migrate-set-capabilities', {
        capabilities: [
          { capability: 'events', state: true },
          { capability: 'pause-before-switchover', state: true },
        ],
      });
      const paused = waitStatus(src, ['pre-switchover']);
      await trace.step('source migrate', src.execute('migrate', { uri: `tcp:127.0.0.1:${destination.port}` }));
      await paused;
      await trace.status('source', src);
      const cancelled = waitStatus(src, ['cancelled']);
      await trace.step('source migrate_cancel', src.execute('migrate_cancel'));
      await cancelled;
      trace.note(`destination exit code: ${String(await destination.vm.exitCode())}`);
      await trace.status('source', src);
      trace.note(`source events (${CANCEL_IN_PRE_SWITCHOVER.event} between ${CANCEL_IN_PRE_SWITCHOVER.after} and ${CANCEL_IN_PRE_SWITCHOVER.before} either way): ${withoutRacedEvent(trace.events('source'), CANCEL_IN_PRE_SWITCHOVER).join(' ')}`);
      trace.note(`destination events: ${trace.events('destination').join(' ')}`);
      return trace;
    },
  },
  {
    name: 'cont from postmigrate',
    async run(target) {
      const trace = new Trace();
      const destination = await listeningDestination(target, trace);
      const src = await (await target.start({ name: 'source' })).connect();
      trace.watch('source', src);
      await src.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
      const completed = waitStatus(src, ['completed', 'failed']);
      const destinationDone = waitStatus(destination.dst, ['completed', 'failed']);
      await trace.step('source migrate', src.execute('migrate', { uri: `tcp:127.0.0.1:${destination.port}` }));
      await completed;
      await destinationDone;
      await trace.migrateInfo('source', src, ACTIVE_KEYS);
      // MIGRATION completed may come while QEMU still says finish-migrate; postmigrate follows
      // (REFERENCE-qmp.md). What QEMU guarantees is where it settles, not when.
      trace.note(`source settles in: ${await settledStatus(src)}`);
      await trace.status('destination', destination.dst);
      await destination.vm.kill();
      await trace.step('source stop in postmigrate', src.execute('stop'));
      await trace.status('source', src);
      const resumed = src.waitFor('RESUME', undefined, DEADLINE);
      await trace.step('source cont', src.execute('cont'));
      await resumed;
      await trace.status('source', src);
      trace.note(`source events: ${trace.events('source').join(' ')}`);
      trace.note(`destination events: ${trace.events('destination').join(' ')}`);
      return trace;
    },
  },
  {
    name: 'bad migration arguments',
    async run(target) {
      const trace = new Trace();
      const src = await (await target.start({ name: 'source' })).connect();
      trace.watch('source', src);
      await src.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
      await trace.step('migrate-continue', src.execute('migrate-continue', { state: 'pre-switchover' }));
      await trace.migrateInfo('source', src, ACTIVE_KEYS);
      await trace.step('migrate bogus:uri', src.execute('migrate', { uri: 'bogus:uri' }));
      await trace.step('migrate-set-parameters downtime-limit -1', src.execute('migrate-set-parameters', { 'downtime-limit': -1 }));
      await trace.step('migrate-set-capabilities no-such-capability', src.execute('migrate-set-capabilities', { capabilities: [{ capability: 'no-such-capability', state: true }] }));
      await trace.migrateInfo('source', src, ACTIVE_KEYS);
      await trace.status('source', src);
      // A refused connection fails asynchronously, with error-desc.
      const failed = waitStatus(src, ['failed']);
      await trace.step('migrate to a closed port', src.execute('migrate', { uri: 'tcp:127.0.0.1:1' }));
      await failed;
      await trace.migrateInfo('source', src, ACTIVE_KEYS);
      await trace.status('source', src);
      trace.note(`source events: ${trace.events('source').join(' ')}`);
      return trace;
    },
  },
];
