import chalk from 'chalk';
import { formatBytes } from '../migration/convergence.js';
import type { MigrationSummary } from '../migration/result.js';

const ms = (value: number | null) => (value === null ? '-' : `${value < 10 ? value.toFixed(2) : Math.round(value)} ms`);

/** The table a human reads at the end of `nicmig migrate`. */
export function renderSummary(summary: MigrationSummary, extraRows: [string, string][] = []): string {
  const rows: [string, string][] = [
    ['VM', summary.vm],
    ['from -> to', `${summary.from} -> ${summary.to}`],
    ['strategy', summary.strategy],
    ['destination built from', describeDestination(summary)],
  ];
  if (summary.status !== 'dry-run') {
    rows.push(
    ['total time', ms(summary.totalTimeMs)],
    ['downtime (QEMU)', ms(summary.downtimeMs)],
    ['downtime (STOP -> RESUME)', ms(summary.measuredDowntimeMs)],
    ['nicmig inside downtime', ms(summary.orchestratorDowntimeMs)],
    ['bytes sent', summary.bytes === null ? '-' : formatBytes(summary.bytes)],
    ['passes', summary.passes === null ? '-' : String(summary.passes)],
    );
  }
  if (summary.status === 'migrated' && summary.downtimePolicy) {
    const policy = summary.downtimePolicy;
    const felt = policy.feltShareOfCeiling === null ? 'not measured' : `${Math.round(policy.feltShareOfCeiling * 100)}% of`;
    rows.push(['downtime ceiling', `${felt} the ${policy.ceilingMs} ms ceiling; QEMU limit ${policy.steps.map((s) => `${s.limitMs}`).join(' -> ')} ms`]);
  }
  if (summary.replay) {
    rows.push(['VF messages replayed', `${summary.replay.replayed} (captured ${summary.replay.captured})`]);
    rows.push(['VF state verified', summary.replay.verified ? 'yes' : 'NO']);
  }
  if (summary.status === 'dry-run') {
    const plan = summary.plan;
    rows.push(['phases', plan.phases.join(' -> ')]);
    for (const rewrite of summary.destination.rewrites) rows.push(['destination change', rewrite]);
    for (const vf of plan.vfs) {
      rows.push([`VF ${vf.id}`, `${vf.replayMessages < 0 ? 'no plan' : `${vf.replayMessages} messages to replay`} for ${vf.captured} captured; ${formatBytes(vf.rxBufferBytes)} of RX buffers`]);
    }
    rows.push(['guest dirty rate', plan.dirtyBytesPerSecond === null ? 'not measurable here' : `${formatBytes(plan.dirtyBytesPerSecond)}/s`]);
    rows.push(['bandwidth / limit', `${formatBytes(plan.bandwidth)}/s, downtime limit ${plan.downtimeLimitMs} ms`]);
    rows.push([
      'predicted downtime',
      plan.converges === false
        ? 'pre-copy will not converge: the guest dirties faster than the bandwidth (raise --bandwidth or use --on-timeout force)'
        : `${plan.predictedDowntimeMs} ms${plan.dirtyBytesPerSecond === null ? ' at most' : ''}`,
    ]);
  }
  rows.push(...extraRows);
  if (summary.journal) rows.push(['journal', summary.journal]);
  const width = Math.max(...rows.map(([key]) => key.length));
  const title =
    summary.status === 'migrated'
      ? chalk.green(`${summary.vm} now runs on ${summary.to}`)
      : chalk.cyan(`dry run: ${summary.vm} can move from ${summary.from} to ${summary.to}; nothing was changed`);
  const lines = [title, ...rows.map(([key, value]) => `  ${key.padEnd(width)}  ${value}`)];
  for (const warning of [...summary.preflightWarnings, ...summary.cleanupWarnings]) lines.push(chalk.yellow(`  warning: ${warning}`));
  return `${lines.join('\n')}\n`;
}

/** Where the destination's command line comes from, in words. */
export function describeDestination(summary: MigrationSummary): string {
  const { builtFrom, rewrites } = summary.destination;
  return builtFrom === 'spec' ? "the inventory's VM spec" : `the source's command line (${rewrites.length} change${rewrites.length === 1 ? '' : 's'})`;
}
