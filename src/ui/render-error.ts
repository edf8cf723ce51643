import chalk from 'chalk';
import type { NicmigError } from '../errors.js';

/**
 * What to do after a migration's failure whose error carries no hint of its own: the failure
 * is the last thing a person reads (in a CI log too), so it says where the VM is and the way on.
 */
const NEXT_STEP: Record<string, string> = {
  PREFLIGHT_REFUSED: 'nothing was changed and the VM runs where it ran; fix the reasons above, then run the migration again (--dry-run checks without moving)',
  MIGRATION_FAILED: 'rolled back: the VM runs on the source as before; --verbose shows the QMP traffic, --report an HTML timeline',
  MIGRATION_TIMED_OUT: 'rolled back: the VM runs on the source as before; raise --bandwidth or --timeout, or pass --on-timeout force to accept a longer pause',
  MIGRATION_INTERRUPTED: 'rolled back on request: the VM runs on the source as before',
};

/** How an error reads on a terminal: the message, its code, and what to do next. */
export function renderError(error: NicmigError, options: { verbose: boolean }): string {
  const lines = [`${chalk.red('error')} ${error.message} ${chalk.dim(`[${error.code}]`)}`];
  const hint = error.hint ?? NEXT_STEP[error.code];
  if (hint) lines.push(`  ${chalk.yellow('hint')} ${hint}`);
  if (options.verbose) {
    for (const [key, value] of Object.entries(error.details)) lines.push(`  ${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
    if (error.cause instanceof Error) lines.push(`  cause: ${error.cause.message}`);
    if (error.code === 'INTERNAL' && error.stack) lines.push(error.stack);
  }
  return `${lines.join('\n')}\n`;
}
