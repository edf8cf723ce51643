import { readJournal, MigrationJournal, type JournalRecord } from './journal.js';
import type { HostHandle } from './ports.js';
import { decideRecovery, type RecoveryDecision, type SideState } from './recovery-plan.js';
import { rollBack, StepRunner, type StepResult } from './rollback.js';
import type { QemuMonitor } from '../qmp/monitor.js';

export interface RecoveryOutcome {
  vm: string;
  journal: string;
  from: string;
  to: string;
  decision: RecoveryDecision;
  /** Where the guest runs now, when known. */
  runsOn: string | null;
  steps: StepResult[];
  resolved: boolean;
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
  const journal = MigrationJournal.open(file);
  const runner = new StepRunner(journal, { by: 'recover' });
  const quit = (monitor: QemuMonitor) => () => monitor.quitAndWait({ quitTimeoutMs: stepTimeoutMs });
  let runsOn: string | null = null;
  try {
    journal.append('note', { recover: decision.action, reason: decision.reason, source: source.state, destination: destination.state });
    if (decision.action === 'nothing') {
      runsOn = decision.owner === 'source' ? from : to;
    } else if (decision.action === 'finish') {
      const dst = destination.monitor as QemuMonitor;
      if (decision.resumeDestination) {
        await runner.attempt('resume the destination', async () => {
          runner.record('destination-resuming');
          await dst.contAndWaitForResume(stepTimeoutMs);
        });
      }
      if (decision.quitSource && source.monitor) await runner.attempt('quit the source', quit(source.monitor));
      if (runner.allOk) {
        runner.record('finished');
        runsOn = to;
      }
    } else if (decision.action === 'roll-back') {
      await rollBack(
        runner,
        {
          source: source.monitor,
          cancelMigration: decision.cancelMigration,
          // It may be exiting already (a cancelled incoming migration ends QEMU): gone is what we want.
          stopDestination: decision.killDestination && destination.monitor ? quit(destination.monitor) : undefined,
          resumeSource: decision.resumeSource,
        },
        stepTimeoutMs,
      );
      if (runner.allOk) {
        runner.record('rolled-back');
        runsOn = from;
      }
    } else {
      runner.record('uncertain', { reason: decision.reason });
    }
  } finally {
    journal.close();
    source.monitor?.disconnect();
    destination.monitor?.disconnect();
  }
  const steps = runner.results;
  return { vm, journal: file, from, to, decision, runsOn, steps, resolved: runsOn !== null };
}
