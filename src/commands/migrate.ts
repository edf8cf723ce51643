import path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { asNicmigError, ExitCode, UsageError } from '../errors.js';
import { hostsFromInventory } from '../hosts/hosts.js';
import { loadInventory } from '../inventory/inventory.js';
import { hasVf } from '../inventory/vm-spec.js';
import { claimVm, releaseVm } from '../migration/active.js';
import { leftBehind } from '../migration/abandon.js';
import { overheadFromHistory } from '../migration/downtime-policy.js';
import { AbandonedError, MigrationError, PreflightError } from '../migration/errors.js';
import { readJournal, switchoverHistory } from '../migration/journal.js';
import { checkStreamLimits } from '../migration/limits.js';
import type { MigrationEvent, Phase } from '../migration/events.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration } from '../migration/orchestrator.js';
import type { MigrationResult, MigrationSummary } from '../migration/result.js';
import { PlainStrategy } from '../migration/strategy.js';
import { VfReplayStrategy } from '../migration/vf-replay.js';
import { progressDisplay } from '../ui/progress.js';
import { renderError } from '../ui/render-error.js';
import { checkReportPath, renderReport, writeReportFile } from '../ui/report.js';
import { renderSummary } from '../ui/summary.js';
import { parseBandwidth } from '../ui/units.js';

export default class Migrate extends BaseCommand<typeof Migrate> {
  static override summary = 'Live-migrate a VM to another host, guest unaware.';

  static override description = `Moves a running VM to HOST: pre-copies its memory while it runs, stops it for the switchover, rebuilds its i40e VF state on the destination VF (VMs with vfio-i40evf devices), resumes it there, and quits the source. Any failure before the destination resumes rolls back: the VM keeps running on the source and nothing is left behind. Ctrl-C or SIGTERM (or \`nicmig cancel VM\` from another terminal) cancels and rolls back.

Progress goes to stderr; the summary to stdout. --json prints one summary document on stdout; --events prints NDJSON events on stdout as they happen, the summary as the last one. Exit codes: 0 migrated, 10 refused by preflight, 11 failed and rolled back, 12 timed out and rolled back, 13 interrupted and rolled back, 14 guest location uncertain (run nicmig recover), 130 a second Ctrl-C stopped waiting for the rollback (run nicmig recover).`;

  static override examples = [
    '<%= config.bin %> migrate vm1 hostB',
    '<%= config.bin %> migrate vm1 hostB --dry-run',
    '<%= config.bin %> migrate vm1 hostB --bandwidth 2GiB --downtime-limit 200 --timeout 300 --on-timeout force',
    '<%= config.bin %> migrate vm1 hostB --json > result.json; echo "exit $?"',
    '<%= config.bin %> migrate vm1 hostB --events | jq -c \'select(.type=="progress")\'',
    '<%= config.bin %> migrate vm1 hostB --report vm1-migration.html',
  ];

  static override args = {
    vm: Args.string({ description: 'VM name, as in the inventory', required: true }),
    host: Args.string({ description: 'destination host, as in the inventory', required: true }),
  };

  static override flags = {
    'downtime-limit': Flags.integer({
      description:
        "Ceiling on the pause the guest feels (STOP -> RESUME), in ms (1 to 2000000, QEMU's limit). QEMU gets it less the overhead measured on earlier migrations to HOST, starting from an eighth of it and raised only while pre-copy does not converge.",
      default: DEFAULT_MIGRATION_OPTIONS.downtimeLimitMs,
    }),
    'downtime-policy': Flags.string({ description: 'steps: the limit is a ceiling, approached in steps (default); fixed: hand QEMU --downtime-limit as is.', options: ['steps', 'fixed'], default: 'steps' }),
    bandwidth: Flags.string({ description: 'Migration stream bandwidth per second, e.g. 500MiB, 1G, 10gbit.', default: '1GiB' }),
    timeout: Flags.integer({ description: 'Seconds pre-copy may take before --on-timeout applies.', default: DEFAULT_MIGRATION_OPTIONS.timeoutMs / 1000, min: 1 }),
    'on-timeout': Flags.string({ description: 'At --timeout: abort (roll back) or force (stop and copy now).', options: ['abort', 'force'], default: 'abort' }),
    'auto-converge': Flags.boolean({ description: 'Let QEMU throttle vCPUs when pre-copy stops converging.', default: true, allowNo: true }),
    'dry-run': Flags.boolean({ description: 'Resolve and preflight, print the plan, change nothing.', default: false }),
    events: Flags.boolean({ description: 'Print NDJSON events on stdout as they happen.', default: false }),
    report: Flags.string({ description: 'Also write an HTML timeline of the migration (phases, passes, downtime window) to this file, also when it fails.' }),
  };

  public async run(): Promise<MigrationSummary | undefined> {
    const { vm, host } = this.args;
    // Values QEMU would refuse are refused now (exit 2), before anything is read or started.
    const downtimeLimitMs = this.flags['downtime-limit'];
    const bandwidth = parseBandwidth(this.flags.bandwidth);
    checkStreamLimits({ downtimeLimitMs, bandwidth });
    const inventory = loadInventory(this.flags.config);
    const spec = inventory.vms.get(vm);
    if (!spec) throw new UsageError('UNKNOWN_VM', `no VM named '${vm}' in ${inventory.file}`, { hint: `known VMs: ${[...inventory.vms.keys()].join(', ') || 'none'}` });
    // A report that cannot be written is refused now, before anything moves.
    const reportFile = this.flags.report === undefined ? undefined : checkReportPath(this.flags.report);
    const options = {
      ...DEFAULT_MIGRATION_OPTIONS,
      downtimeLimitMs,
      downtimePolicy: this.flags['downtime-policy'] as 'steps' | 'fixed',
      downtimeOverhead: overheadFromHistory(switchoverHistory(path.join(inventory.stateDir, 'journal'), host)),
      bandwidth,
      timeoutMs: this.flags.timeout * 1000,
      onTimeout: this.flags['on-timeout'] as 'abort' | 'force',
      autoConverge: this.flags['auto-converge'],
      dryRun: this.flags['dry-run'],
    };

    const events = this.flags.events;
    // Progress is for people, on stderr: live in a terminal, one line per phase elsewhere.
    const progress = events ? undefined : progressDisplay();
    const emit = (event: MigrationEvent) => {
      if (events) process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
      progress?.handle(event);
      if (this.flags.verbose && event.type === 'log') process.stderr.write(`${event.message}\n`);
    };

    const busy = claimVm(inventory.stateDir, { pid: process.pid, vm, to: host, journal: null, startedAt: new Date().toISOString() });
    if (busy) throw new PreflightError([`another nicmig (pid ${busy.pid}) is migrating '${vm}' to ${busy.to}; use \`nicmig cancel ${vm}\``]);

    const controller = new AbortController();
    let migration: Migration | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      if (!controller.signal.aborted) {
        process.stderr.write(`\n${signal}: cancelling, rolling back (again to stop waiting)...\n`);
        controller.abort();
        return;
      }
      this.abandon(signal, migration, { vm, to: host, stateDir: inventory.stateDir, events });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const faultHook = faultHookFromEnvironment(process.env);
    progress?.start();
    try {
      migration = new Migration(
        { vm, to: host, options, spec },
        {
          hosts: hostsFromInventory(inventory),
          strategy: hasVf(spec) ? new VfReplayStrategy() : new PlainStrategy(),
          journalDir: path.join(inventory.stateDir, 'journal'),
          onEvent: emit,
          signal: controller.signal,
          // Fault injection for tests (docs/architecture.md): SIGKILL ourselves, or fail, at a
          // phase; at the switchover this fires inside the pre-switchover event's dispatch.
          atPhase: faultHook ? (phase, point) => faultHook.at(phase, point.at) : undefined,
          atPoint: faultHook?.inside ? (point) => faultHook.at(...(point.split(':') as [Phase, string])) : undefined,
        },
      );
      const summary = await migration.run();
      if (reportFile) this.writeReport(reportFile, migration, summary);
      await progress?.stop();
      if (events) process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), type: 'summary', ...summary })}\n`);
      else if (!this.jsonEnabled()) this.out(renderSummary(summary));
      return events ? undefined : summary;
    } catch (error) {
      const failure = asNicmigError(error);
      // Machines get the same result document shape on failure, with the error in it.
      const failed = migration ? migration.failedResult(failure) : null;
      if (reportFile && migration && failed) this.writeReport(reportFile, migration, failed);
      await progress?.stop(failure);
      if (!events && !this.jsonEnabled()) throw failure;
      // The person reading stderr gets the failure last and plainly; stdout stays the document.
      if (!events) process.stderr.write(renderError(failure, { verbose: this.flags.verbose }));
      const document = failed ?? { status: 'error', vm, from: null, to: host, totalTimeMs: null, rolledBack: false, journal: null, error: failure.toJSON() };
      if (events) process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), type: 'summary', ...document })}\n`);
      else this.logJson(document);
      process.exitCode = failure.exitCode;
      return undefined;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      releaseVm(inventory.stateDir, vm);
    }
  }

  /**
   * A second SIGINT or SIGTERM: stop waiting for the rollback and exit 130 now. Says what may
   * be left (from the journal) and that the journal is unfinished, as a JSON document under
   * --json or --events; releases the active marker so that `nicmig recover` can take the VM.
   */
  private abandon(signal: NodeJS.Signals, migration: Migration | undefined, context: { vm: string; to: string; stateDir: string; events: boolean }): never {
    const { vm, to } = context;
    const placeholder = migration?.failedResult(new AbandonedError('')) ?? { vm, from: null, to, journal: null, totalTimeMs: null };
    const journal = placeholder.journal;
    let left: string[];
    try {
      left = journal === null ? leftBehind([], placeholder) : leftBehind(readJournal(journal).records, placeholder);
    } catch (error) {
      left = [`the journal ${journal} could not be read (${(error as Error).message}): check both hosts`];
    }
    const error = new AbandonedError(
      `${signal} again: stopped waiting for the rollback of '${vm}'; ${journal === null ? 'no journal was begun' : `the journal ${journal} is unfinished`}; run \`nicmig recover ${vm}\``,
      { details: { signal, journal, left }, hint: `run \`nicmig recover ${vm}\` before anything else touches this VM` },
    );
    const document = { ...(migration?.failedResult(error) ?? { status: 'interrupted', vm, from: null, to, totalTimeMs: null, rolledBack: false, journal: null, error: error.toJSON() }), journalFinished: false, left };
    try {
      releaseVm(context.stateDir, vm);
    } catch (releaseError) {
      document.left.push(`the active-migration marker could not be removed: ${(releaseError as Error).message}`);
    }
    if (context.events) process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), type: 'summary', ...document })}\n`);
    else if (this.jsonEnabled()) this.logJson(document);
    else process.stderr.write(renderError(error, { verbose: Boolean(this.flags.verbose) }) + left.map((line) => `  left: ${line}\n`).join(''));
    // Pipes and files take stdout synchronously on Linux: the document is out before the exit.
    process.exit(ExitCode.ABANDONED);
  }

  /** The HTML report; a failure to write it is a warning on stderr: the migration's outcome and exit code stand. */
  private writeReport(file: string, migration: Migration, result: MigrationResult): void {
    try {
      writeReportFile(file, renderReport({ timeline: migration.timeline(), result, generatedAt: Date.now() }));
      if (this.flags.verbose) process.stderr.write(`report written to ${file}\n`);
    } catch (error) {
      process.stderr.write(`warning: could not write the report ${file}: ${(error as Error).message}\n`);
    }
  }
}

/**
 * The fault hook of NICMIG_FAULT_KILL_AT or NICMIG_FAULT_FAIL_AT (`<phase>`, or
 * `<phase>:<point>` for a point inside it, e.g. `resume:before-cont`): says where it fires
 * (tests read it), then SIGKILLs nicmig, or fails the phase there as a step that went wrong
 * would (rolled back, exit 11). A `<phase>` alone fires where the phase starts, or for the
 * switchover inside the pre-switchover event's dispatch.
 */
function faultHookFromEnvironment(env: NodeJS.ProcessEnv): { at: (phase: Phase, at: string) => void; inside: boolean } | undefined {
  const kill = env.NICMIG_FAULT_KILL_AT;
  const where = kill ?? env.NICMIG_FAULT_FAIL_AT;
  if (!where) return undefined;
  const [faultPhase, faultPoint] = where.split(':');
  const at = (phase: Phase, at: string): void => {
    if (phase !== faultPhase || (faultPoint !== undefined && at !== faultPoint)) return;
    if (kill) {
      process.stderr.write(`fault injected: SIGKILL at ${phase} (${at})\n`);
      process.kill(process.pid, 'SIGKILL');
      return;
    }
    process.stderr.write(`fault injected: failure at ${phase} (${at})\n`);
    throw new MigrationError('failed', phase, `fault injected at ${phase} (${at})`);
  };
  return { at, inside: faultPoint !== undefined };
}
