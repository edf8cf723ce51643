/**
 * One error hierarchy for the whole of nicmig. Callers branch on `code` (stable strings,
 * documented in docs/exit-codes.md), never on messages. Each error carries the exit code
 * the CLI ends with, and what an operator needs to act (`details`, `hint`).
 *
 *   NicmigError
 *    ├─ UsageError            bad flags, arguments or endpoints           exit 2
 *    ├─ ConfigError           bad config file or VM spec                  exit 3
 *    ├─ InputError            bad input file (capture, JSON)              exit 4
 *    ├─ QmpError              anything on a QMP connection
 *    │   ├─ QmpConnectError       could not connect (wraps the cause)     exit 20
 *    │   ├─ QmpDisconnectedError  connection lost with commands pending   exit 21
 *    │   ├─ QmpProtocolError      greeting, negotiation, bad/oversized
 *    │   │                        message, reply not matching its schema  exit 22
 *    │   ├─ QmpTimeoutError       no reply within the command's deadline  exit 23
 *    │   └─ QmpCommandError       QEMU answered with an error class       exit 24
 *    ├─ VfError               virtchnl decode/validation                  exit 4
 *    │   ├─ CaptureError          capture file unreadable past a point    exit 4
 *    │   ├─ VirtchnlError         one message or descriptor that fails    exit 4
 *    │   └─ VfIncompatibleError   destination VF cannot take the state    exit 10
 *    ├─ PreflightError        migration refused before it started          exit 10
 *    ├─ MigrationError        failed and rolled back                      exit 11..13
 *    ├─ UncertainError        guest location unconfirmed: run recover     exit 14
 *    ├─ AbandonedError        second Ctrl-C: stopped waiting, run recover exit 130
 *    ├─ RecoverNeedsFactsError recover cannot classify a side: nothing done exit 15
 *    ├─ JournalError          migration journal unreadable or invalid     exit 14
 *    ├─ VmStartError          a VM (QEMU) did not start on a host         exit 11
 *    ├─ CommandLineError      the source's QEMU command line unreadable,
 *    │                        or not to be carried to another host        exit 10
 *    ├─ LabError              lab state, directory or processes           exit 1..3
 *    ├─ SimError              simulated host or VM                        exit 1, 3
 *    └─ InternalError         a bug in nicmig                             exit 1
 */

export const ExitCode = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  CONFIG: 3,
  INPUT: 4,
  STATE_DIR: 5,
  PREFLIGHT_REFUSED: 10,
  FAILED_ROLLED_BACK: 11,
  TIMED_OUT_ROLLED_BACK: 12,
  INTERRUPTED_ROLLED_BACK: 13,
  UNCERTAIN_NEEDS_RECOVER: 14,
  RECOVER_NEEDS_FACTS: 15,
  QMP_CONNECT: 20,
  QMP_DISCONNECTED: 21,
  QMP_PROTOCOL: 22,
  QMP_TIMEOUT: 23,
  QMP_COMMAND: 24,
  /** 128 + SIGINT: `migrate` stopped waiting at a second Ctrl-C; its journal is unfinished. */
  ABANDONED: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface NicmigErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
  hint?: string;
}

export class NicmigError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly details: Record<string, unknown>;
  readonly hint: string | undefined;

  constructor(code: string, message: string, exitCode: number, options: NicmigErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.details = options.details ?? {};
    this.hint = options.hint;
  }

  /** The error as it appears in a `--json` document. */
  toJSON(): Record<string, unknown> {
    const cause = this.cause instanceof Error ? { name: this.cause.name, message: this.cause.message, ...('code' in this.cause ? { code: (this.cause as { code: unknown }).code } : {}) } : undefined;
    return {
      code: this.code,
      name: this.name,
      message: this.message,
      exitCode: this.exitCode,
      ...(Object.keys(this.details).length > 0 ? { details: printableDetails(this.details) } : {}),
      ...(this.hint ? { hint: this.hint } : {}),
      ...(cause ? { cause } : {}),
    };
  }
}

/** Details as they can be printed: a value JSON cannot write (a cycle, a bigint, nesting too deep) is named, not thrown. */
function printableDetails(details: Record<string, unknown>): Record<string, unknown> {
  try {
    JSON.stringify(details);
    return details;
  } catch {
    return Object.fromEntries(
      Object.entries(details).map(([key, value]) => {
        try {
          JSON.stringify(value);
          return [key, value];
        } catch (error) {
          return [key, `(not printable as JSON: ${(error as Error).message})`];
        }
      }),
    );
  }
}

export class UsageError extends NicmigError {
  constructor(code: string, message: string, options?: NicmigErrorOptions) {
    super(code, message, ExitCode.USAGE, options);
  }
}

export class ConfigError extends NicmigError {
  constructor(code: string, message: string, options?: NicmigErrorOptions) {
    super(code, message, ExitCode.CONFIG, options);
  }
}

export class InputError extends NicmigError {
  constructor(code: string, message: string, options?: NicmigErrorOptions) {
    super(code, message, ExitCode.INPUT, options);
  }
}

export class InternalError extends NicmigError {
  constructor(message: string, options?: NicmigErrorOptions) {
    super('INTERNAL', message, ExitCode.INTERNAL, options);
  }
}

/** Wraps anything thrown into a NicmigError, so the CLI has one shape to render. */
export function asNicmigError(error: unknown): NicmigError {
  if (error instanceof NicmigError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new InternalError(message, { cause: error });
}
