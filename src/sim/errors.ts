import { ExitCode, NicmigError, type NicmigErrorOptions } from '../errors.js';

/**
 * The simulator's branch of the one error hierarchy. Codes are stable (docs/simulator.md).
 *
 *   SimError
 *    ├─ SIM_BAD_RAM_ACCESS      a device or test touched guest RAM out of bounds
 *    ├─ SIM_STREAM_BROKEN       the migration stream was malformed or ended early
 *    ├─ SIM_VM_EXISTS           start-vm with a name already in use
 *    ├─ SIM_VM_NOT_FOUND        stop-vm or a lookup of a VM that does not exist
 *    ├─ SIM_BAD_VM_SPEC         a VM spec did not validate, or its machine  (exit 3)
 *    │                          type is not one of its QEMU version's
 *    ├─ SIM_CONTROL_FAILED      a control-socket request was refused
 *    └─ SIM_HOST_FAILED         the host could not start (socket dir, bind)
 */
export type SimErrorCode =
  | 'SIM_BAD_RAM_ACCESS'
  | 'SIM_STREAM_BROKEN'
  | 'SIM_VM_EXISTS'
  | 'SIM_VM_NOT_FOUND'
  | 'SIM_BAD_VM_SPEC'
  | 'SIM_CONTROL_FAILED'
  | 'SIM_HOST_FAILED';

export class SimError extends NicmigError {
  constructor(code: SimErrorCode, message: string, options?: NicmigErrorOptions) {
    super(code, message, code === 'SIM_BAD_VM_SPEC' ? ExitCode.CONFIG : ExitCode.INTERNAL, options);
  }
}
