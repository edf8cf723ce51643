import { readJournal, MigrationJournal, type JournalRecord } from './journal.js';
import type { HostHandle } from './ports.js';
import { decideRecovery, type RecoveryDecision, type SideState } from './recovery-plan.js';
import { QmpDisconnectedError } from '../qmp/errors.js';
import type { QemuMonitor } from '../qmp/monitor.js';

export interface RecoveryOutcome {
  vm: string;
  journal: string;
  from: string;
  to: string;
  decision: RecoveryDecision;
  /** Where the guest runs now, when known. */
  runsOn: string | null;
  steps: { step: string; ok: boolean; error?: string }[];
  resolved: boolean;
}

/** Quits a QEMU and waits for its monitor to close; one that is already going away is fine. */
async function quitAndWait(monitor: QemuMonitor): Promise<void> {
  const closed = monitor.client.closed;
  await monitor.quit().catch((error: unknown) => {
    if (!(error instanceof QmpDisconnectedError)) throw error;
  });
  await closed;
}

async function probe(host: HostHandle | undefined, vm: string): Promise<{ state: SideState; monitor?: QemuMonitor }> {
  if (!host) return { state: { alive: false } };
  const monitor = await host.connectVm(vm).catch(() => undefined);
  if (!monitor) return { state: { alive: false } };
  const [status, migration] = await Promise.all([monitor.queryStatus(), monitor.queryMigrate().catch(() => ({ status: undefined }))]);
  return { state: { alive: true, status: status.status, migration: migration.status }, monitor };
}

/**
 * Finishes or rolls back one interrupted migration from its journal and what both hosts say
 * now (the decision is decideRecovery's), recording what it did in the same journal.
 */
export async function recoverMigration(file: string, hosts: ReadonlyMap<string, HostHandle>, stepTimeoutMs = 30_000): Promise<RecoveryOutcome> {
  const { records } = readJournal(file);
  const begin = records.find((r: JournalRecord) => r.event === 'begin');
  const vm = String(begin?.data.vm ?? '');
  const from = String(begin?.data.from ?? '');
  const to = String(begin?.data.to ?? '');
  const source = await probe(hosts.get(from), vm);
  const destination = await probe(hosts.get(to), vm);
  const decision = decideRecovery(records, source.state, destination.state);
  const steps: RecoveryOutcome['steps'] = [];
  const journal = MigrationJournal.open(file);
  const attempt = async (step: string, body: () => Promise<void>) => {
    try {
      await body();
      steps.push({ step, ok: true });
      journal.append('rollback-step', { step, ok: true, by: 'recover' });
    } catch (error) {
      steps.push({ step, ok: false, error: (error as Error).message });
      journal.append('rollback-step', { step, ok: false, error: (error as Error).message, by: 'recover' });
    }
  };
  let runsOn: string | null = null;
  try {
    journal.append('note', { recover: decision.action, reason: decision.reason, source: source.state, destination: destination.state });
    if (decision.action === 'nothing') {
      runsOn = decision.owner === 'source' ? from : to;
    } else if (decision.action === 'finish') {
      const dst = destination.monitor as QemuMonitor;
      if (decision.resumeDestination) {
        await attempt('resume the destination', async () => {
          journal.append('destination-resuming', { by: 'recover' });
          const resumed = dst.client.waitFor('RESUME', undefined, stepTimeoutMs);
          await dst.cont();
          await resumed;
        });
      }
      if (decision.quitSource && source.monitor) {
        const src = source.monitor;
        await attempt('quit the source', () => quitAndWait(src));
      }
      if (steps.every((s) => s.ok)) {
        journal.append('finished', { by: 'recover' });
        runsOn = to;
      }
    } else if (decision.action === 'roll-back') {
      const src = source.monitor as QemuMonitor;
      if (decision.cancelMigration) {
        await attempt('cancel the migration on the source', async () => {
          const ended = src.client.waitFor('MIGRATION', (e) => ['cancelled', 'failed', 'completed'].includes(String(e.data?.status)), stepTimeoutMs);
          await src.migrateCancel();
          await ended.catch(() => undefined);
        });
      }
      if (decision.killDestination && destination.monitor) {
        const dst = destination.monitor;
        // It may be exiting already (a cancelled incoming migration ends QEMU): gone is what we want.
        await attempt('stop the destination QEMU', () => quitAndWait(dst));
      }
      if (decision.resumeSource) {
        await attempt('resume the source', async () => {
          let status = await src.queryStatus();
          const deadline = performance.now() + stepTimeoutMs;
          while (status.status === 'finish-migrate' && performance.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 10));
            status = await src.queryStatus();
          }
          if (status.status === 'running') return;
          const resumed = src.client.waitFor('RESUME', undefined, stepTimeoutMs);
          await src.cont();
          await resumed;
        });
      }
      if (steps.every((s) => s.ok)) {
        journal.append('rolled-back', { by: 'recover' });
        runsOn = from;
      }
    } else {
      journal.append('uncertain', { by: 'recover', reason: decision.reason });
    }
  } finally {
    journal.close();
    source.monitor?.client.destroy();
    destination.monitor?.client.destroy();
  }
  return { vm, journal: file, from, to, decision, runsOn, steps, resolved: runsOn !== null };
}
