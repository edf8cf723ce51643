import path from 'node:path';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { asNicmigError } from '../errors.js';
import { DEMO_DOWNTIME_LIMIT_MS, DEMO_GUEST_DRIVER, DemoLab, nextSteps, renderNextSteps } from '../lab/demo-lab.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration } from '../migration/orchestrator.js';
import type { MigrationResult, MigrationSummary } from '../migration/result.js';
import { PlainStrategy } from '../migration/strategy.js';
import { VfReplayStrategy } from '../migration/vf-replay.js';
import { hasVf, type VmSpec } from '../inventory/vm-spec.js';
import { progressDisplay } from '../ui/progress.js';
import { renderSummary } from '../ui/summary.js';
import { checkReportPath, renderReport, writeReportFile } from '../ui/report.js';
import type { TrafficReport } from '../sim/network/traffic.js';

export default class Demo extends BaseCommand<typeof Demo> {
  static override summary = 'Watch a VM move between two simulated hosts (no hardware, no QEMU needed).';

  static override description = `Starts a lab of two simulated hosts in this process, a VM vm1 with a busy guest on hostA, migrates it to hostB with the normal progress display, prints the summary, and removes everything it made. What to try next is printed at the end.`;

  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --memory 1024 --dirty-rate 20000', '<%= config.bin %> demo --json', '<%= config.bin %> demo --report demo.html'];

  static override flags = {
    memory: Flags.integer({ description: 'Guest RAM of vm1, MiB.', default: 256, min: 16, max: 4096 }),
    'dirty-rate': Flags.integer({ description: 'Pages per second the guest dirties.', default: 5000, min: 0 }),
    'downtime-limit': Flags.integer({
      description: 'Longest pause of the guest QEMU may plan for, in ms (QEMU and `nicmig migrate` default to 300).',
      default: DEMO_DOWNTIME_LIMIT_MS,
      min: 1,
    }),
    report: Flags.string({ description: 'Also write an HTML timeline of the migration (phases, downtime, probes per ms) to this file.' }),
  };

  public async run(): Promise<MigrationSummary & { frames: TrafficReport }> {
    // Before anything starts: a report that cannot be written is a usage error now, not later.
    const reportFile = this.flags.report === undefined ? undefined : checkReportPath(this.flags.report);
    const limit = this.flags['downtime-limit'];
    const lab = await DemoLab.start({ memoryMiB: this.flags.memory, dirtyPagesPerSecond: this.flags['dirty-rate'], guest: DEMO_GUEST_DRIVER });
    const progress = progressDisplay();
    let migration: Migration | undefined;
    try {
      if (!this.jsonEnabled()) {
        process.stderr.write(
          `Lab: hostA and hostB (simulated QEMU 7.2, an XL710 PF each, one switch) in ${lab.dir}.\n` +
            `vm1 (${this.flags.memory} MiB, guest dirtying ${this.flags['dirty-rate']} pages/s, an i40e VF its driver configured) runs on hostA,\n` +
            `answering 2,000 probes/s. A guest with a passthrough NIC loses its traffic for as long as it is paused,\n` +
            `so the demo sets a ${limit} ms ceiling on the pause (--downtime-limit; QEMU's default limit is 300 ms):\n` +
            `nicmig gives QEMU an eighth of it first and raises it only while pre-copy does not converge, so pre-copy\n` +
            `goes on until what is left to copy fits. Migrating vm1 to hostB:\n\n`,
        );
      }
      lab.startTraffic(DEMO_PROBES_PER_SECOND);
      await lab.trafficFlowing(200);
      progress.start();
      migration = new Migration(
        { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, downtimeLimitMs: limit, progressIntervalMs: 200 }, spec: lab.inventory.vms.get('vm1') },
        {
          hosts: lab.hosts,
          strategy: hasVf(lab.inventory.vms.get('vm1') as VmSpec) ? new VfReplayStrategy() : new PlainStrategy(),
          journalDir: path.join(lab.inventory.stateDir, 'journal'),
          onEvent: (event) => progress.handle(event),
        },
      );
      const migrated = await migration.run();
      await progress.stop();
      // Traffic through the new host, then the count of what the switchover cost.
      await lab.trafficFlowing(200);
      const summary = { ...migrated, frames: lab.stopTraffic() };
      if (reportFile) this.writeReport(reportFile, migration, migrated, lab);
      if (!this.jsonEnabled()) {
        const f = summary.frames;
        this.out(
          renderSummary({ ...summary, journal: null }, [
            ['probes (2,000/s, echoed)', `${f.sent} sent, ${f.lost} lost, ${f.duplicated} duplicated, ${f.reordered} reordered`],
            ['longest traffic gap', `${Math.round(f.longestGapMs)} ms`],
          ]),
        );
        this.out(
          '\nWhat they mean: downtime is how long vm1 was paused (STOP -> RESUME); the probes lost are the ones that reached it\n' +
            'during that pause (about 2 per ms at 2,000/s); the longest gap is the silence the traffic saw around it.\n',
        );
        this.out(renderNextSteps(nextSteps(this.config.root, process.cwd())));
      }
      return summary;
    } catch (error) {
      const failure = asNicmigError(error);
      await progress.stop(failure);
      if (reportFile && migration) {
        lab.traffic.stop();
        this.writeReport(reportFile, migration, migration.failedResult(failure), lab);
      }
      throw error;
    } finally {
      await lab.close();
    }
  }

  /** The HTML report; a failure to write it is a warning: the migration's outcome stands. */
  private writeReport(file: string, migration: Migration, result: MigrationResult, lab: DemoLab): void {
    try {
      const traffic = { report: lab.traffic.report(), arrivals: lab.traffic.arrivals(), ratePerSecond: DEMO_PROBES_PER_SECOND };
      writeReportFile(file, renderReport({ timeline: migration.timeline(), result, traffic, generatedAt: Date.now() }));
      if (!this.jsonEnabled()) process.stderr.write(`Report: ${file}\n`);
    } catch (error) {
      process.stderr.write(`warning: could not write the report ${file}: ${(error as Error).message}\n`);
    }
  }
}

const DEMO_PROBES_PER_SECOND = 2000;

