import chalk from 'chalk';
import type { NicmigError } from '../errors.js';

/** How an error reads on a terminal: the message, its code, and what to do next. */
export function renderError(error: NicmigError, options: { verbose: boolean }): string {
  const lines = [`${chalk.red('error')} ${error.message} ${chalk.dim(`[${error.code}]`)}`];
  if (error.hint) lines.push(`  ${chalk.yellow('hint')} ${error.hint}`);
  if (options.verbose) {
    for (const [key, value] of Object.entries(error.details)) lines.push(`  ${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
    if (error.cause instanceof Error) lines.push(`  cause: ${error.cause.message}`);
    if (error.code === 'INTERNAL' && error.stack) lines.push(error.stack);
  }
  return `${lines.join('\n')}\n`;
}
