/**
 * A PF model that writes what its admin queue carries as a capture: the fixtures' builder,
 * the benchmark's generator and the property tests drive a VF through it.
 */
import { CaptureWriter } from './capture.js';
import type { DestinationFacts } from './facts.js';
import { encodeRequest, type VfRequest } from './messages.js';
import { Op } from './opcodes.js';
import { applyVfRequest, linkChangeEvent, resetImpendingEvent, vfLinkStateEvent, type PfOutcome } from './pf-model.js';
import { afterVfReset, freshVfState, type VfState } from './state.js';

export interface RecordingOptions {
  startNs?: bigint;
  /** time between a request and its reply, and between messages */
  stepNs?: bigint;
  /**
   * Send the link state after GET_VF_RESOURCES and ENABLE_QUEUES, as i40e_vc_process_vf_msg()
   * does (link up at this speed, in Mbps). Off by default: the older fixtures and the
   * property tests script link events themselves.
   */
  notifyLinkMbps?: number;
}

export class RecordingPf {
  state: VfState = freshVfState();
  readonly writer = new CaptureWriter();
  private clock: bigint;
  private readonly step: bigint;
  private readonly notifyLinkMbps: number | null;

  constructor(
    readonly facts: DestinationFacts,
    options: RecordingOptions = {},
  ) {
    this.clock = options.startNs ?? 0n;
    this.step = options.stepNs ?? 25_000n;
    this.notifyLinkMbps = options.notifyLinkMbps ?? null;
  }

  private tick(): bigint {
    this.clock += this.step;
    return this.clock;
  }

  /** Lets time pass (a pause between bursts of messages). */
  wait(ns: bigint): this {
    this.clock += ns;
    return this;
  }

  /** The VF sends `request`; the PF answers as the model decides. */
  send(request: VfRequest): PfOutcome {
    return this.sendRaw(request.opcode, encodeRequest(request));
  }

  /** The VF sends raw bytes (malformed messages included). */
  sendRaw(opcode: number, payload: Uint8Array): PfOutcome {
    this.writer.request(this.tick(), opcode, payload);
    const outcome = applyVfRequest(this.state, opcode, payload, this.facts);
    this.state = outcome.state;
    const vfId = this.facts.vfId ?? 0;
    if (outcome.reply) this.writer.reply(this.tick(), opcode, outcome.status, outcome.reply, vfId);
    if (outcome.reset && opcode !== Op.RESET_VF) this.writer.reply(this.tick(), Op.EVENT, 0, resetImpendingEvent(), vfId);
    if (this.notifyLinkMbps !== null && (opcode === Op.GET_VF_RESOURCES || opcode === Op.ENABLE_QUEUES)) {
      this.writer.reply(this.tick(), Op.EVENT, 0, vfLinkStateEvent(this.state, true, this.notifyLinkMbps), vfId);
    }
    return outcome;
  }

  /** The PF resets the VF on its own (host config change, PF reset): RESET_IMPENDING. */
  pfReset(): this {
    this.writer.reply(this.tick(), Op.EVENT, 0, resetImpendingEvent(), this.facts.vfId ?? 0);
    this.state = afterVfReset(this.state);
    return this;
  }

  linkChange(up: boolean): this {
    this.writer.reply(this.tick(), Op.EVENT, 0, linkChangeEvent(up), this.facts.vfId ?? 0);
    return this;
  }

  toBuffer(): Buffer {
    return this.writer.toBuffer();
  }
}
