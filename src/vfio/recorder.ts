/**
 * A PF model that writes what its admin queue carries as a capture: the fixtures' builder,
 * the benchmark's generator and the property tests drive a VF through it.
 */
import { CaptureWriter } from './capture.js';
import type { DestinationFacts } from './facts.js';
import { encodeRequest, type VfRequest } from './messages.js';
import { Op } from './opcodes.js';
import { applyVfRequest, linkChangeEvent, resetImpendingEvent, type PfOutcome } from './pf-model.js';
import { afterVfReset, freshVfState, type VfState } from './state.js';

export interface RecordingOptions {
  startNs?: bigint;
  /** time between a request and its reply, and between messages */
  stepNs?: bigint;
}

export class RecordingPf {
  state: VfState = freshVfState();
  readonly writer = new CaptureWriter();
  private clock: bigint;
  private readonly step: bigint;

  constructor(
    readonly facts: DestinationFacts,
    options: RecordingOptions = {},
  ) {
    this.clock = options.startNs ?? 0n;
    this.step = options.stepNs ?? 25_000n;
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
