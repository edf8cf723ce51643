/**
 * What the patched device keeps of a VF's admin queue: every message both ways since the last
 * VF reset, with a sequence number that never restarts (so a reader can ask for "everything
 * after N" during precopy and fetch only the tail at switchover). Serialised as the capture
 * format (docs/capture-format.md) that src/vfio reads.
 */
import { CaptureWriter, Direction } from '../../vfio/capture.js';

export interface AdminLogRecord {
  sequence: number;
  timestampNs: bigint;
  direction: Direction;
  /** virtchnl opcode (the one answered, or EVENT) */
  opcode: number;
  /** PF status on direction 1; 0 on direction 0 */
  status: number;
  payload: Buffer;
  vfId: number;
}

export class AdminLog {
  private records: AdminLogRecord[] = [];
  private nextSequence = 0;
  private lastNs = 0n;
  /** sequence number of the first record after the last reset */
  resetSequence = 0;
  resets = 0;

  constructor(private readonly vfId: number) {}

  private now(): bigint {
    // never decreasing, as the capture format requires
    const ns = process.hrtime.bigint();
    this.lastNs = ns > this.lastNs ? ns : this.lastNs + 1n;
    return this.lastNs;
  }

  request(opcode: number, payload: Uint8Array): AdminLogRecord {
    return this.push(Direction.VF_TO_PF, opcode, 0, payload);
  }

  reply(opcode: number, status: number, payload: Uint8Array): AdminLogRecord {
    return this.push(Direction.PF_TO_VF, opcode, status, payload);
  }

  private push(direction: Direction, opcode: number, status: number, payload: Uint8Array): AdminLogRecord {
    const record = { sequence: this.nextSequence++, timestampNs: this.now(), direction, opcode, status, payload: Buffer.from(payload), vfId: this.vfId };
    this.records.push(record);
    return record;
  }

  /** The VF was reset: what came before no longer describes it. */
  reset(): void {
    this.records = [];
    this.resetSequence = this.nextSequence;
    this.resets++;
  }

  get next(): number {
    return this.nextSequence;
  }

  get length(): number {
    return this.records.length;
  }

  /** Records since the last reset with sequence >= `since`. */
  since(since = 0): AdminLogRecord[] {
    const from = Math.max(since, this.resetSequence);
    const first = this.records.findIndex((r) => r.sequence >= from);
    return first < 0 ? [] : this.records.slice(first);
  }

  static toCapture(records: readonly AdminLogRecord[]): Buffer {
    const writer = new CaptureWriter();
    for (const r of records) {
      if (r.direction === Direction.VF_TO_PF) writer.request(r.timestampNs, r.opcode, r.payload);
      else writer.reply(r.timestampNs, r.opcode, r.status, r.payload, r.vfId);
    }
    return writer.toBuffer();
  }
}
