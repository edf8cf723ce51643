import { ExitCode, NicmigError, type NicmigErrorOptions } from '../errors.js';

/**
 * The lab's branch of the one error hierarchy (`nicmig lab up|down|status`). Codes are
 * stable (docs/lab.md).
 *
 *   LabError
 *    ├─ LAB_ALREADY_UP      lab up: a lab runs in that directory already       exit 2
 *    ├─ LAB_NOT_UP          lab down/status: no lab in that directory          exit 2
 *    ├─ LAB_DIR_TOO_LONG    a socket path would exceed the unix limit          exit 2
 *    ├─ LAB_STATE_INVALID   lab.json is not a lab's state file                 exit 3
 *    └─ LAB_START_FAILED    a lab process did not come up (all were stopped)   exit 1
 */
export type LabErrorCode = 'LAB_ALREADY_UP' | 'LAB_NOT_UP' | 'LAB_DIR_TOO_LONG' | 'LAB_STATE_INVALID' | 'LAB_START_FAILED';

const EXIT: Record<LabErrorCode, number> = {
  LAB_ALREADY_UP: ExitCode.USAGE,
  LAB_NOT_UP: ExitCode.USAGE,
  LAB_DIR_TOO_LONG: ExitCode.USAGE,
  LAB_STATE_INVALID: ExitCode.CONFIG,
  LAB_START_FAILED: ExitCode.INTERNAL,
};

export class LabError extends NicmigError {
  constructor(code: LabErrorCode, message: string, options?: NicmigErrorOptions) {
    super(code, message, EXIT[code], options);
  }
}
