import { ExitCode, NicmigError, type NicmigErrorOptions } from '../errors.js';

/** The migration was refused before anything changed; `reasons` lists every problem found. */
export class PreflightError extends NicmigError {
  constructor(readonly reasons: string[], options: NicmigErrorOptions = {}) {
    super('PREFLIGHT_REFUSED', `preflight refused the migration:\n  - ${reasons.join('\n  - ')}`, ExitCode.PREFLIGHT_REFUSED, {
      ...options,
      details: { reasons, ...options.details },
    });
  }
}

export type MigrationFailureKind = 'failed' | 'timed-out' | 'interrupted';

const EXIT_BY_KIND: Record<MigrationFailureKind, number> = {
  failed: ExitCode.FAILED_ROLLED_BACK,
  'timed-out': ExitCode.TIMED_OUT_ROLLED_BACK,
  interrupted: ExitCode.INTERRUPTED_ROLLED_BACK,
};

const CODE_BY_KIND: Record<MigrationFailureKind, string> = {
  failed: 'MIGRATION_FAILED',
  'timed-out': 'MIGRATION_TIMED_OUT',
  interrupted: 'MIGRATION_INTERRUPTED',
};

/** A failure during the migration, before the destination ran; thrown after rollback. */
export class MigrationError extends NicmigError {
  constructor(
    readonly kind: MigrationFailureKind,
    readonly phase: string,
    message: string,
    options: NicmigErrorOptions = {},
  ) {
    super(CODE_BY_KIND[kind], message, EXIT_BY_KIND[kind], { ...options, details: { phase, ...options.details } });
  }
}

/** Rollback (or a crash) left the guest's location unconfirmed: `nicmig recover` must run. */
export class UncertainError extends NicmigError {
  constructor(message: string, options: NicmigErrorOptions = {}) {
    super('MIGRATION_UNCERTAIN', message, ExitCode.UNCERTAIN_NEEDS_RECOVER, {
      hint: 'run `nicmig recover <vm>` before anything else touches this VM',
      ...options,
    });
  }
}

/**
 * A second SIGINT or SIGTERM while the first one's rollback ran: nicmig stopped waiting and
 * exits 130 at once. Its journal is unfinished; `nicmig recover` settles where the guest is.
 */
export class AbandonedError extends NicmigError {
  constructor(message: string, options: NicmigErrorOptions = {}) {
    super('MIGRATION_ABANDONED', message, ExitCode.ABANDONED, {
      hint: 'run `nicmig recover <vm>` before anything else touches this VM',
      ...options,
    });
  }
}

/**
 * `nicmig recover` could not classify a side (a monitor busy with another client, a hung or
 * unreachable QEMU): it changed nothing. `needs` says what an operator must do first.
 */
export class RecoverNeedsFactsError extends NicmigError {
  constructor(message: string, readonly needs: string[], options: NicmigErrorOptions = {}) {
    super('RECOVER_NEEDS_FACTS', message, ExitCode.RECOVER_NEEDS_FACTS, {
      hint: `${needs.join('; ')}; then run \`nicmig recover\` again`,
      ...options,
      details: { needs, ...options.details },
    });
  }
}
