/**
 * The reducer: a capture, in time order, to the VF's state. Each VF request is paired with
 * the PF's reply of the same opcode; only requests the PF answered with SUCCESS change the
 * state, through the transition shared with the PF model (state.ts). A VF reset (RESET_VF,
 * a granted REQUEST_QUEUES, an EVENT RESET_IMPENDING) clears it.
 */
import { descriptorStatus, type AqDescriptor } from './descriptor.js';
import { VirtchnlError } from './errors.js';
import { decodeReply, decodeRequest, type PfReply, type VfRequest } from './messages.js';
import { EventCode, Op, Status } from './opcodes.js';
import { applyAccepted, freshVfState, resetVfState, type VfState } from './state.js';

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

export interface Reduction {
  state: VfState;
  counters: ReductionCounters;
  /** anomalies worth telling an operator (malformed, unanswered, unmatched) */
  notes: ReductionNote[];
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

export function reduceCapture(records: Iterable<AdminRecord>): Reduction {
  const state = freshVfState();
  const counters = emptyCounters();
  const notes: ReductionNote[] = [];
  const note = (recordIndex: number, message: string): void => {
    if (notes.length < MAX_NOTES) notes.push({ recordIndex, message });
  };
  let pending: { request: VfRequest | null; opcode: number; index: number } | null = null;
  let position = 0;

  const reset = (): void => {
    resetVfState(state);
    counters.resets++;
    counters.appliedSinceReset = 0;
  };
  const accept = (request: VfRequest, reply: PfReply | null): void => {
    applyAccepted(state, request, reply);
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
      let request: VfRequest | null = null;
      try {
        request = decodeRequest(opcode, record.payload);
      } catch (error) {
        if (!(error instanceof VirtchnlError)) throw error;
      }
      if (opcode === Op.RESET_VF) {
        // No reply: the VF resets and the PF wipes its configuration.
        counters.applied++;
        reset();
        continue;
      }
      pending = { request, opcode, index };
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
    const { request } = pending;
    pending = null;
    if (descriptorStatus(record.descriptor) !== Status.SUCCESS) {
      counters.rejected++;
      continue;
    }
    if (!request) {
      counters.malformed++;
      note(index, `the PF accepted a request whose bytes do not decode (opcode ${opcode}); skipped`);
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
  return { state, counters, notes };
}
