import path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { NicmigError, ExitCode } from '../errors.js';
import { loadInventory } from '../inventory/inventory.js';
import { processAlive, readMarker } from '../migration/active.js';
import { UncertainError } from '../migration/errors.js';
import { listJournals } from '../migration/journal.js';

export default class Cancel extends BaseCommand<typeof Cancel> {
  static override summary = 'Cancel a migration that another nicmig is running; it rolls back.';

  static override description = `Sends SIGTERM to the nicmig process migrating VM (as Ctrl-C in its terminal would) and waits until it has rolled back. A migration past the destination's resume cannot be cancelled: it finishes.`;

  static override examples = ['<%= config.bin %> cancel vm1', '<%= config.bin %> cancel vm1 --wait 120 --json'];

  static override args = {
    vm: Args.string({ description: 'VM whose migration to cancel', required: true }),
  };

  static override flags = {
    wait: Flags.integer({ description: 'Seconds to wait for the rollback to end.', default: 120, min: 1 }),
  };

  public async run(): Promise<{ vm: string; outcome: string; journal: string | null }> {
    const { vm } = this.args;
    const inventory = loadInventory(this.flags.config);
    const marker = readMarker(inventory.stateDir, vm);
    if (!marker) throw new NicmigError('NO_MIGRATION', `no migration of '${vm}' is in flight`, ExitCode.USAGE);
    if (!processAlive(marker.pid)) {
      throw new UncertainError(`the nicmig (pid ${marker.pid}) that migrated '${vm}' is gone`, { hint: `run \`nicmig recover ${vm}\`` });
    }
    process.kill(marker.pid, 'SIGTERM');
    const deadline = Date.now() + this.flags.wait * 1000;
    while (processAlive(marker.pid) && readMarker(inventory.stateDir, vm)?.pid === marker.pid && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (readMarker(inventory.stateDir, vm)?.pid === marker.pid && processAlive(marker.pid)) {
      throw new NicmigError('CANCEL_TIMED_OUT', `nicmig (pid ${marker.pid}) is still rolling back '${vm}' after ${this.flags.wait} s`, ExitCode.TIMED_OUT_ROLLED_BACK);
    }
    const journal = listJournals(path.join(inventory.stateDir, 'journal'), vm)[0];
    const last = journal?.records[journal.records.length - 1]?.event ?? 'unknown';
    const outcome = last === 'rolled-back' ? 'rolled-back' : last === 'finished' ? 'finished' : last;
    if (!this.jsonEnabled()) {
      this.out(
        outcome === 'rolled-back'
          ? `cancelled: ${vm} was rolled back and runs on the source`
          : outcome === 'finished'
            ? `too late to cancel: ${vm} had already resumed on the destination and now runs there`
            : `nicmig ended with '${outcome}': run \`nicmig status ${vm}\``,
      );
    }
    return { vm, outcome, journal: journal?.file ?? null };
  }
}
