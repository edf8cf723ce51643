/**
 * Errors of the VF codec, capture files, replay planning. All are NicmigErrors with stable
 * codes; each names what was wrong and where (`details.field`, `details.offset`, and for a
 * capture `details.recordIndex` and the file).
 *
 *   NicmigError
 *    └─ VfError                       bad virtchnl bytes or state                exit 4
 *        ├─ VirtchnlError             one message refused, with the PF's status:
 *        │                            VF_BAD_LENGTH, VF_BAD_OPCODE, VF_NOT_ACTIVE,
 *        │                            VF_BAD_VSI_ID, VF_BAD_QUEUE_ID, VF_BAD_ALIGNMENT,
 *        │                            VF_BAD_SIZE, VF_BAD_BITMAP, VF_BAD_MAC, VF_BAD_VLAN,
 *        │                            VF_BAD_VECTOR, VF_BAD_VALUE, VF_FILTER_LIMIT,
 *        │                            VF_NOT_PERMITTED, VF_UNSUPPORTED_OPCODE, VF_BAD_DESCRIPTOR
 *        ├─ CaptureError              CAPTURE_BAD_MAGIC, CAPTURE_TRUNCATED, CAPTURE_CORRUPT,
 *        │                            CAPTURE_NOT_FOUND, CAPTURE_UNREADABLE
 *        └─ VfIncompatibleError       VF_INCOMPATIBLE_DESTINATION                exit 10
 */
import { ExitCode, NicmigError, type NicmigErrorOptions } from '../errors.js';
import { opcodeName, Status, statusName, type VirtchnlStatus } from './opcodes.js';

export class VfError extends NicmigError {}

export type VirtchnlErrorCode =
  | 'VF_BAD_LENGTH'
  | 'VF_BAD_OPCODE'
  | 'VF_NOT_ACTIVE'
  | 'VF_BAD_VSI_ID'
  | 'VF_BAD_QUEUE_ID'
  | 'VF_BAD_ALIGNMENT'
  | 'VF_BAD_SIZE'
  | 'VF_BAD_BITMAP'
  | 'VF_BAD_MAC'
  | 'VF_BAD_VLAN'
  | 'VF_BAD_VECTOR'
  | 'VF_BAD_VALUE'
  | 'VF_FILTER_LIMIT'
  | 'VF_NOT_PERMITTED'
  | 'VF_UNSUPPORTED_OPCODE'
  | 'VF_BAD_DESCRIPTOR';

/**
 * One virtchnl message (or descriptor) that does not hold: `status` is what the i40e PF
 * answers the VF, `field` and `offset` point at the bytes at fault.
 */
export class VirtchnlError extends VfError {
  readonly status: VirtchnlStatus;
  readonly field: string;
  readonly offset: number;
  readonly opcode: number;

  constructor(
    code: VirtchnlErrorCode,
    message: string,
    where: { opcode: number; field: string; offset: number; status?: VirtchnlStatus; extra?: Record<string, unknown> },
  ) {
    const status = where.status ?? Status.ERR_PARAM;
    super(code, `${opcodeName(where.opcode)}: ${message} (field ${where.field} at byte ${where.offset})`, ExitCode.INPUT, {
      details: {
        opcode: where.opcode,
        opcodeName: opcodeName(where.opcode),
        field: where.field,
        offset: where.offset,
        status,
        statusName: statusName(status),
        ...where.extra,
      },
    });
    this.status = status;
    this.field = where.field;
    this.offset = where.offset;
    this.opcode = where.opcode;
  }
}

export type CaptureErrorCode = 'CAPTURE_BAD_MAGIC' | 'CAPTURE_TRUNCATED' | 'CAPTURE_CORRUPT' | 'CAPTURE_NOT_FOUND' | 'CAPTURE_UNREADABLE' | 'CAPTURE_TOO_LARGE';

/** A capture file that cannot be read past some point; the records before it are usable. */
export class CaptureError extends VfError {
  readonly recordIndex: number | undefined;
  readonly offset: number | undefined;

  constructor(code: CaptureErrorCode, message: string, options: NicmigErrorOptions & { recordIndex?: number; offset?: number; field?: string; file?: string } = {}) {
    const where = [
      options.file === undefined ? undefined : options.file,
      options.recordIndex === undefined ? undefined : `record ${options.recordIndex}`,
      options.offset === undefined ? undefined : `byte offset ${options.offset}`,
      options.field === undefined ? undefined : `field ${options.field}`,
    ].filter((part) => part !== undefined);
    super(code, where.length > 0 ? `${where.join(', ')}: ${message}` : message, ExitCode.INPUT, {
      ...options,
      details: {
        ...(options.file === undefined ? {} : { file: options.file }),
        ...(options.recordIndex === undefined ? {} : { recordIndex: options.recordIndex }),
        ...(options.offset === undefined ? {} : { offset: options.offset }),
        ...(options.field === undefined ? {} : { field: options.field }),
        ...options.details,
      },
    });
    this.recordIndex = options.recordIndex;
    this.offset = options.offset;
  }
}

/** The destination VF cannot take the state; `reasons` says why, one sentence each. */
export class VfIncompatibleError extends VfError {
  readonly reasons: readonly string[];

  constructor(reasons: readonly string[]) {
    super('VF_INCOMPATIBLE_DESTINATION', `the VF state cannot be rebuilt on the destination: ${reasons.join('; ')}`, ExitCode.PREFLIGHT_REFUSED, {
      details: { reasons },
      hint: 'choose a destination VF whose PF policy (trust, filter limits, port VLAN, queues) can hold the state',
    });
    this.reasons = reasons;
  }
}
