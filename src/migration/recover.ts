import path from 'node:path';
import { currentBootId, readJournal, MigrationJournal, vmOfJournalName, type JournalRecord } from './journal.js';
import type { HostHandle, VmPresence, VmProbe } from './ports.js';
import { decideRecovery, type RecoveryDecision } from './recovery-plan.js';
import { rollBack, StepRunner, type StepResult } from './rollback.js';
import type { QemuMonitor } from '../qmp/monitor.js';

export interface RecoveryOutcome {
  vm: string;
  journal: string;
  from: string;
  to: string;
  decision: RecoveryDecision;
  /** What each side was found to be before anything was done. */
  source: VmPresence;
  destination: VmPresence;
  /** Where the guest runs now, when known. */
  runsOn: string | null;
  steps: StepResult[];
  resolved: boolean;
}

/** A host the inventory no longer names cannot say anything: that is not "gone". */
async function probe(host: HostHandle | undefined, name: string, vm: string): Promise<VmProbe> {
  if (!host) return { presence: { state: 'unknown', reason: `host '${name}' is not in the inventory`, busy: false } };
  return host.probeVm(vm);
}

/**
 * Finishes or rolls back one interrupted migration from its journal and what both hosts say
 * now (the decision is decideRecovery's), recording what it did in the same journal. With a
 * side it cannot classify it changes nothing (decision `needs-facts`). Every wait is bounded
 * by `stepTimeoutMs`.
 */
export async function recoverMigration(file: string, hosts: ReadonlyMap<string, HostHandle>, stepTimeoutMs = 30_000): Promise<RecoveryOutcome> {
  const { records } = readJournal(file);
  const begin = records.find((r: JournalRecord) => r.event === 'begin');
  const vm = String(begin?.data.vm ?? vmOfJournalName(path.basename(file)));
  const from = String(begin?.data.from ?? '');
  const to = String(begin?.data.to ?? '');
  const noHost = (): VmProbe => ({ presence: { state: 'gone', reason: 'the migration never began' } });
  const [source, destination] = begin ? await Promise.all([probe(hosts.get(from), from, vm), probe(hosts.get(to), to, vm)]) : [noHost(), noHost()];
  // Every reply within the step deadline (a QEMU stuck on a command).
  for (const side of [source, destination]) side.monitor?.setCommandTimeout(stepTimeoutMs);
  const decision = decideRecovery(records, source.presence, destination.presence, { vm, from, to, bootId: currentBootId() });
  const base = { vm, journal: file, from, to, decision, source: source.presence, destination: destination.presence };
  if (decision.action === 'needs-facts') {
    // Nothing is changed, the journal included: the next recover starts from the same place.
    source.monitor?.disconnect();
    destination.monitor?.disconnect();
    return { ...base, runsOn: null, steps: [], resolved: false };
  }
  let journal: MigrationJournal;
  try {
    journal = MigrationJournal.open(file);
  } catch (error) {
    // A journal that cannot be opened for writing (a full disk): let go of both monitors.
    source.monitor?.disconnect();
    destination.monitor?.disconnect();
    throw error;
  }
  const runner = new StepRunner(journal, { by: 'recover' });
  const quit = (monitor: QemuMonitor) => () => monitor.quitAndWait({ quitTimeoutMs: stepTimeoutMs }).then(() => undefined);
  let runsOn: string | null = null;
  try {
    journal.append('note', { recover: decision.action, reason: decision.reason, source: source.presence, destination: destination.presence });
    if (decision.action === 'nothing') {
      if (!begin) runner.record('rolled-back', { neverBegan: true });
      runsOn = decision.owner === 'source' ? from : decision.owner === 'destination' ? to : null;
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
        await releaseVm(hosts.get(from), vm, journal);
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
        await releaseVm(hosts.get(to), vm, journal);
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
  const settled = runsOn !== null || (decision.action === 'nothing' && decision.owner === null);
  return { ...base, runsOn, steps, resolved: settled };
}

/**
 * The taps the side that no longer holds the guest had (its QEMU is gone): removed, noted in
 * the journal. A failure is noted too, and changes nothing about where the guest runs.
 */
async function releaseVm(host: HostHandle | undefined, vm: string, journal: MigrationJournal): Promise<void> {
  if (!host) return;
  try {
    const taps = await host.releaseVm(vm);
    if (taps.length > 0) journal.tryAppend('note', { released: { host: host.name, taps } });
  } catch (error) {
    journal.tryAppend('note', { releaseFailed: { host: host.name, error: (error as Error).message } });
  }
}
