/** One capture record as an operator reads it: `vf decode`'s lines and JSON objects. */
import type { CaptureRecord } from './capture.js';
import { descriptorStatus } from './descriptor.js';
import { VirtchnlError } from './errors.js';
import { toJsonValue } from './json.js';
import { decodeReply, decodeRequest } from './messages.js';
import { eventName, Op, opcodeName, statusName } from './opcodes.js';

export interface RecordDescription {
  index: number;
  offset: number;
  /** the capture's timestamp, ns, as a decimal string (it can exceed 2^53) */
  timestampNs: string;
  /** seconds since the capture's first record */
  elapsedSeconds: number;
  direction: 'vf-to-pf' | 'pf-to-vf';
  opcode: number;
  name: string;
  /** the PF's status; null on a VF request */
  status: number | null;
  statusName: string | null;
  length: number;
  /** decoded fields (64-bit values as "0x..." strings, bytes as hex) */
  fields: Record<string, unknown> | null;
  /** why the payload does not decode, when it does not */
  decodeError: { code: string; message: string; field: string; offset: number } | null;
}

export function describeRecord(record: CaptureRecord, firstTimestampNs: bigint): RecordDescription {
  const opcode = record.descriptor.cookieHigh;
  const fromVf = record.direction === 0;
  let fields: Record<string, unknown> | null = null;
  let decodeError: RecordDescription['decodeError'] = null;
  try {
    const message = fromVf ? decodeRequest(opcode, record.payload) : decodeReply(opcode, record.payload);
    const { opcode: _opcode, ...rest } = message as { opcode: number } & Record<string, unknown>;
    fields = toJsonValue(rest) as Record<string, unknown>;
    if ('empty' in fields) fields = {};
    if (opcode === Op.EVENT && fields.event && typeof fields.event === 'object') {
      const event = fields.event as { event: number };
      fields = { ...fields, event: { ...event, name: eventName(event.event) } };
    }
  } catch (error) {
    if (!(error instanceof VirtchnlError)) throw error;
    decodeError = { code: error.code, message: error.message, field: error.field, offset: error.offset };
  }
  const status = fromVf ? null : descriptorStatus(record.descriptor);
  return {
    index: record.index,
    offset: record.offset,
    timestampNs: record.timestampNs.toString(),
    elapsedSeconds: Number(record.timestampNs - firstTimestampNs) / 1e9,
    direction: fromVf ? 'vf-to-pf' : 'pf-to-vf',
    opcode,
    name: opcodeName(opcode),
    status,
    statusName: status === null ? null : statusName(status),
    length: record.payload.length,
    fields,
    decodeError,
  };
}

function compact(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** `   12  +0.000050s  VF->PF  ADD_ETH_ADDR  vsiId=17 addrs=[...]` */
export function formatRecordLine(d: RecordDescription): string {
  const arrow = d.direction === 'vf-to-pf' ? 'VF->PF' : 'PF->VF';
  const status = d.statusName === null ? '' : ` ${d.statusName}`;
  const body = d.decodeError
    ? `undecodable: ${d.decodeError.message}`
    : Object.entries(d.fields ?? {})
        .map(([k, v]) => `${k}=${compact(v)}`)
        .join(' ');
  return `${String(d.index).padStart(6)}  +${d.elapsedSeconds.toFixed(6)}s  ${arrow}  ${d.name}${status}${body ? `  ${body}` : ''}`;
}
