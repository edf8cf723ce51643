// The baseline the migration benchmarks compare nicmig with: the least a script can do to
// live-migrate a QEMU VM with pause-before-switchover (the same capabilities and parameters
// nicmig sets), and nothing else: no journal, no probes, no policy. bench/migrate and
// bench/guest run it on the same hosts as nicmig, in the same run.
import { eventTimeMs } from '../../dist/qmp/events.js';

/** The next event of `listener` that `match` accepts, within `timeoutMs`. */
async function nextMatching(listener, match, timeoutMs, what) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`minimal migration: no ${what} within ${timeoutMs} ms`);
    const event = await listener.next(left);
    if (match(event)) return event;
  }
}

const isMigration = (status) => (e) => e.event === 'MIGRATION' && e.data?.status === status;

/**
 * Migrates `vm` from the QEMU behind `source` (a QemuMonitor) to a destination started on
 * `destinationHost` (a QemuHost), the stream to `address`. Returns QEMU's own figures and the
 * driver's time inside the downtime, from QEMU's event timestamps:
 *   measuredDowntimeMs  source STOP -> destination RESUME
 *   downtimeMs          QEMU's downtime (query-migrate on the source)
 *   windows             pre-switchover -> device (switchover) and completed -> RESUME (resume)
 *   orchestratorDowntimeMs  their sum
 *   totalTimeMs         from starting the destination to the source's quit
 *   passes              dirty-sync-count
 * The source is quit at the end; the caller owns the destination that now runs the VM.
 */
export async function minimalMigration({ source, destinationHost, vm, address = '127.0.0.1', downtimeLimitMs = 300, bandwidth = 1 << 30, autoConverge = false, machineType, timeoutMs = 120_000 }) {
  const started = performance.now();
  const destination = await destinationHost.startIncoming(vm, machineType ? { machineType } : {});
  const dst = destination.monitor;
  const src = source;
  try {
    await dst.migrateSetCapabilities({ events: true });
    const dstEvents = dst.listen(['MIGRATION', 'RESUME']);
    await dst.migrateIncoming(`tcp:${address}:0`);
    const port = await dst.incomingMigrationPort();
    if (port === undefined) throw new Error('minimal migration: the destination reported no port');
    await src.migrateSetCapabilities({ events: true, 'pause-before-switchover': true, 'auto-converge': autoConverge });
    await src.migrateSetParameters({ 'downtime-limit': downtimeLimitMs, 'max-bandwidth': bandwidth });
    const srcEvents = src.listen(['MIGRATION', 'STOP']);
    await src.migrate(`tcp:${address}:${port}`);
    const stop = await nextMatching(srcEvents, (e) => e.event === 'STOP', timeoutMs, 'source STOP');
    const preSwitchover = await nextMatching(srcEvents, isMigration('pre-switchover'), timeoutMs, 'pre-switchover');
    await src.migrateContinue('pre-switchover');
    const device = await nextMatching(srcEvents, isMigration('device'), 30_000, 'source device');
    const completed = await nextMatching(dstEvents, isMigration('completed'), 30_000, 'destination completed');
    await dst.cont();
    const resume = await nextMatching(dstEvents, (e) => e.event === 'RESUME', 30_000, 'destination RESUME');
    await nextMatching(srcEvents, isMigration('completed'), 30_000, 'source completed');
    const info = await src.queryMigrate();
    await src.quitAndWait({ quitTimeoutMs: 10_000 });
    const windows = { switchover: eventTimeMs(device) - eventTimeMs(preSwitchover), resume: eventTimeMs(resume) - eventTimeMs(completed) };
    return {
      measuredDowntimeMs: eventTimeMs(resume) - eventTimeMs(stop),
      downtimeMs: info.downtime ?? null,
      windows,
      orchestratorDowntimeMs: windows.switchover + windows.resume,
      totalTimeMs: performance.now() - started,
      passes: info.ram?.['dirty-sync-count'] ?? null,
    };
  } finally {
    dst.disconnect();
  }
}
