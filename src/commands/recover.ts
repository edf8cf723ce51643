import path from 'node:path';
import { Args } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { hostsFromInventory } from '../hosts/hosts.js';
import { describePresence } from '../hosts/probe.js';
import { loadInventory } from '../inventory/inventory.js';
import { clearStaleMarker, readMarker, processAlive } from '../migration/active.js';
import { RecoverNeedsFactsError, UncertainError } from '../migration/errors.js';
import { listJournals } from '../migration/journal.js';
import { recoverMigration, type RecoveryOutcome } from '../migration/recover.js';

export default class Recover extends BaseCommand<typeof Recover> {
  static override summary = 'Finish or roll back migrations that nicmig itself did not see to the end.';

  static override description = `After nicmig was killed or its host crashed mid-migration, reads each unfinished journal, asks both hosts where the guest is, and either finishes the migration (the destination already runs: the source is quit, never resumed) or rolls it back (the destination was never resumed: it is stopped and the source resumed if it ran before). It says which and why. It acts only on facts: a host whose QEMU does not answer (its monitor held by another client, hung, unreachable) is not taken for gone; then it changes nothing, says what it needs, and exits 15. When the facts are known but neither way is safe it changes nothing and exits 14 with the reason.`;

  static override examples = ['<%= config.bin %> recover', '<%= config.bin %> recover vm1', '<%= config.bin %> recover vm1 --json'];

  static override args = {
    vm: Args.string({ description: 'only this VM (default: every unfinished migration)' }),
  };

  public async run(): Promise<{ recovered: RecoveryOutcome[] }> {
    const inventory = loadInventory(this.flags.config);
    const journals = listJournals(path.join(inventory.stateDir, 'journal'), this.args.vm).filter((j) => !j.ended);
    const recovered: RecoveryOutcome[] = [];
    const hosts = hostsFromInventory(inventory);
    for (const journal of journals) {
      const marker = readMarker(inventory.stateDir, journal.vm);
      if (marker && marker.pid !== process.pid && processAlive(marker.pid)) {
        this.log2(`${journal.vm}: a nicmig (pid ${marker.pid}) is still migrating it; use \`nicmig cancel ${journal.vm}\``);
        continue;
      }
      const outcome = await recoverMigration(journal.file, hosts);
      recovered.push(outcome);
      const { decision } = outcome;
      const verb = { finish: 'finished', 'roll-back': 'rolled back', nothing: 'already settled', 'needs-facts': 'NOT recovered, nothing changed', uncertain: 'NOT recovered' }[decision.action];
      this.log2(`${outcome.vm}: ${verb}: ${decision.reason}${outcome.runsOn ? `; it runs on ${outcome.runsOn}` : ''}`);
      this.log2(`  ${outcome.from || '?'} (source): ${describePresence(outcome.source)}`);
      this.log2(`  ${outcome.to || '?'} (destination): ${describePresence(outcome.destination)}`);
      if (decision.action === 'needs-facts') for (const need of decision.needs) this.log2(`  needed: ${need}`);
      for (const step of outcome.steps) this.log2(`  ${step.ok ? 'ok' : 'FAILED'}  ${step.step}${step.error ? `: ${step.error}` : ''}`);
    }
    if (journals.length === 0) this.log2(this.args.vm ? `nothing to recover for ${this.args.vm}` : 'nothing to recover');
    // A nicmig killed before it could remove its marker: the marker's process is gone, and the
    // VM's journal (if it had one) is settled above or waits for facts; the marker says nothing more.
    for (const vm of this.args.vm ? [this.args.vm] : [...inventory.vms.keys()]) {
      if (recovered.some((o) => o.vm === vm && !o.resolved)) continue;
      const stale = clearStaleMarker(inventory.stateDir, vm);
      if (stale) this.log2(`${vm}: removed the marker of nicmig pid ${stale.pid}, which no longer runs`);
    }
    const unresolved = recovered.filter((o) => !o.resolved);
    const waiting = unresolved.filter((o) => o.decision.action === 'needs-facts');
    if (unresolved.length > 0 && waiting.length === unresolved.length) {
      const needs = waiting.flatMap((o) => (o.decision.action === 'needs-facts' ? o.decision.needs : []));
      throw new RecoverNeedsFactsError(`recover needs more facts, nothing was changed: ${waiting.map((o) => `${o.vm} (${o.decision.reason})`).join('; ')}`, needs, {
        details: { recovered },
      });
    }
    if (unresolved.length > 0) {
      const error = new UncertainError(`could not settle: ${unresolved.map((o) => `${o.vm} (${o.decision.reason})`).join('; ')}`, {
        details: { recovered },
        hint: 'check both hosts by hand (nicmig status, nicmig qmp ... query-status) before running anything else',
      });
      throw error;
    }
    return { recovered };
  }

  private log2(line: string): void {
    if (!this.jsonEnabled()) this.out(line);
  }
}
