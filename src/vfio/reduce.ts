/**
 * The reducer: a capture, in time order, to the VF's state. Each VF request is paired with
 * the PF's reply of the same opcode; a request changes the state only when it is well
 * formed by the kernel's rules (checkMessageFormat, as virtchnl_vc_validate_vf_msg) and the
 * PF answered SUCCESS, through the transition shared with the PF model (state.ts). A VF
 * reset (a well-formed RESET_VF, a granted REQUEST_QUEUES, an EVENT RESET_IMPENDING)
 * clears it. Every request that did not apply is listed in `rejections` with the reason.
 */
import { descriptorStatus, type AqDescriptor } from './descriptor.js';
import { VirtchnlError } from './errors.js';
import { decodeReply, type PfReply, type VfRequest } from './messages.js';
import { EventCode, Op, opcodeName, Status, statusName } from './opcodes.js';
import { applyAccepted, freshVfState, resetVfState, type ApplyPolicy, type VfState } from './state.js';
import { checkMessageFormat } from './validate.js';
import type { ApiVersion } from './messages.js';

export interface ReductionCounters {
  /** records read */
  messages: number;
  requests: number;
  replies: number;
  events: number;
  /** requests the PF accepted and the state took in */
  applied: number;
  /** requests the PF answered with an error status */
  rejected: number;
  /** VF resets seen (RESET_VF, granted REQUEST_QUEUES, RESET_IMPENDING) */
  resets: number;
  /** requests with no reply before the next request (RESET_VF excepted) */
  unanswered: number;
  /** replies with no request of the same opcode waiting */
  unmatchedReplies: number;
  /** accepted requests or replies whose bytes do not decode; skipped */
  malformed: number;
  /** requests accepted since the last reset: the length of a whole-log replay */
  appliedSinceReset: number;
}

export interface ReductionNote {
  recordIndex: number;
  message: string;
}

/** A request that changed nothing, and why. */
export interface Rejection {
  recordIndex: number;
  opcode: number;
  name: string;
  /** the PF's answer; null when it sent none */
  status: number | null;
  reason: string;
}

export interface Reduction {
  state: VfState;
  counters: ReductionCounters;
  /** anomalies worth telling an operator (malformed, unanswered, unmatched) */
  notes: ReductionNote[];
  /** every request the PF refused or the kernel's rules reject, in capture order */
  rejections: Rejection[];
}

export interface ReduceOptions {
  /**
   * Whether the source VF was trusted: decides what an accepted promiscuous request
   * applied (the capture cannot show it: i40e answers an untrusted VF SUCCESS too).
   * Default true, the state the guest asked for.
   */
  sourceTrusted?: boolean;
}

/** The minimum a record needs for the reducer. */
export interface AdminRecord {
  index?: number;
  direction: number;
  descriptor: AqDescriptor;
  payload: Buffer;
}

function emptyCounters(): ReductionCounters {
  return { messages: 0, requests: 0, replies: 0, events: 0, applied: 0, rejected: 0, resets: 0, unanswered: 0, unmatchedReplies: 0, malformed: 0, appliedSinceReset: 0 };
}

const MAX_NOTES = 100;
const MAX_REJECTIONS = 1000;

export function reduceCapture(records: Iterable<AdminRecord>, options: ReduceOptions = {}): Reduction {
  const policy: ApplyPolicy = { trusted: options.sourceTrusted ?? true };
  const state = freshVfState();
  const counters = emptyCounters();
  const notes: ReductionNote[] = [];
  const rejections: Rejection[] = [];
  const note = (recordIndex: number, message: string): void => {
    if (notes.length < MAX_NOTES) notes.push({ recordIndex, message });
  };
  const reject = (recordIndex: number, opcode: number, status: number | null, reason: string): void => {
    if (rejections.length < MAX_REJECTIONS) rejections.push({ recordIndex, opcode, name: opcodeName(opcode), status, reason });
  };
  /** The version the PF judges lengths by: i40e keeps vf_ver across VF resets. */
  let formatVersion: ApiVersion | null = null;
  /** `malformed`: why the kernel's rules reject the request (the PF still answers it). */
  let pending: { request: VfRequest | null; opcode: number; index: number; malformed: string | null } | null = null;
  let position = 0;

  const reset = (): void => {
    resetVfState(state);
    counters.resets++;
    counters.appliedSinceReset = 0;
  };
  const accept = (request: VfRequest, reply: PfReply | null): void => {
    applyAccepted(state, request, reply, policy);
    if (request.opcode === Op.VERSION && 'version' in request) formatVersion = { ...request.version };
    counters.applied++;
    counters.appliedSinceReset++;
    if (request.opcode === Op.REQUEST_QUEUES) {
      counters.resets++;
      counters.appliedSinceReset = 0;
    }
  };
  /** A REQUEST_QUEUES with no reply was granted: the PF reset the VF instead of answering. */
  const closePending = (reason: 'request' | 'reset' | 'end'): boolean => {
    if (!pending) return false;
    const granted = pending.opcode === Op.REQUEST_QUEUES && pending.request !== null;
    if (granted && pending.request) {
      accept(pending.request, null);
    } else if (reason !== 'reset') {
      counters.unanswered++;
      note(pending.index, `request ${pending.opcode} got no reply`);
      if (pending.malformed) reject(pending.index, pending.opcode, null, pending.malformed);
    }
    pending = null;
    return granted;
  };

  for (const record of records) {
    const index = record.index ?? position;
    position++;
    counters.messages++;
    const opcode = record.descriptor.cookieHigh;
    if (record.direction === 0) {
      counters.requests++;
      closePending('request');
      const verdict = checkMessageFormat(opcode, record.payload, formatVersion);
      const request = verdict.ok ? verdict.request : null;
      const malformed = verdict.ok ? null : `the kernel's virtchnl_vc_validate_vf_msg rejects it (${statusName(verdict.error.status)}): ${verdict.error.message}`;
      if (opcode === Op.RESET_VF && verdict.ok) {
        // No reply: the VF resets and the PF wipes its configuration.
        counters.applied++;
        reset();
        continue;
      }
      // A malformed request (a RESET_VF with a payload included) is answered with an error
      // and changes nothing.
      pending = { request, opcode, index, malformed };
      continue;
    }
    if (opcode === Op.EVENT) {
      counters.events++;
      let event: PfReply | null = null;
      try {
        event = decodeReply(opcode, record.payload);
      } catch (error) {
        if (!(error instanceof VirtchnlError)) throw error;
        counters.malformed++;
        note(index, 'EVENT payload does not decode');
      }
      if (event && 'event' in event && event.event.event === EventCode.RESET_IMPENDING) {
        if (!closePending('reset')) reset();
      }
      continue;
    }
    counters.replies++;
    if (!pending || pending.opcode !== opcode) {
      counters.unmatchedReplies++;
      note(index, `reply to opcode ${opcode} with no such request waiting`);
      continue;
    }
    const { request, malformed } = pending;
    const requestIndex = pending.index;
    pending = null;
    const status = descriptorStatus(record.descriptor);
    if (status !== Status.SUCCESS) {
      counters.rejected++;
      reject(requestIndex, opcode, status, malformed ?? `the PF answered ${statusName(status)}`);
      continue;
    }
    if (!request) {
      counters.malformed++;
      note(index, `the PF accepted a request whose bytes do not decode (opcode ${opcode}); skipped`);
      reject(requestIndex, opcode, status, `the capture shows SUCCESS, but ${malformed ?? 'the bytes do not decode'}; not applied`);
      continue;
    }
    let reply: PfReply | null = null;
    try {
      reply = decodeReply(opcode, record.payload);
    } catch (error) {
      if (!(error instanceof VirtchnlError)) throw error;
      if (opcode === Op.VERSION || opcode === Op.GET_VF_RESOURCES) {
        counters.malformed++;
        note(index, `reply to opcode ${opcode} does not decode; skipped`);
        continue;
      }
    }
    if (opcode === Op.REQUEST_QUEUES) {
      // An answer means the PF refused and offered another number; no reset.
      continue;
    }
    accept(request, reply);
  }
  closePending('end');
  return { state, counters, notes, rejections };
}
