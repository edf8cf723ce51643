/**
 * The patched QEMU device `vfio-i40evf`: a VF passed through to a VM, with its admin queue
 * trapped. The guest's messages go through here to the PF (vsi_id mapped when the VM came
 * from another host), replies and events come back; the device keeps the admin log, marks
 * DMA-written RX pages dirty while tracking is on, quiesces and restores the rings, replays
 * messages on the guest's behalf, and migrates what QEMU's device section would carry:
 * guest-visible registers and ring positions, never the PF-side configuration (that is what
 * the orchestrator's replay rebuilds on the destination VF).
 */
import type { MigrationStatus, RunState } from '../../qmp/schemas.js';
import { DEFAULT_EXTENSION_PREFIX } from '../../qmp/monitor.js';
import { Op, opcodeName, Status, statusName } from '../../vfio/opcodes.js';
import { stateToJson, type VfStateJson } from '../../vfio/json.js';
import type { AnnounceRequest, SimDevice, SimDeviceContext } from '../device.js';
import { GuestIavfDriver, type GuestDriverOptions, type GuestVfPort } from './guest-driver.js';
import { registerI40evfDevice } from './qmp.js';
import { Register, ResetState, tailRegisterQueue } from './registers.js';
import type { RingPosition } from './rings.js';
import type { SimVf, VfDriverPort, VfResetInitiator } from './vf.js';
import { mapReplyVsi, mapRequestVsi } from './vsi-map.js';

export interface I40evfDeviceOptions {
  id: string;
  vf: SimVf;
  /** the guest's iavf driver model; false: no guest driver (a test drives the device itself) */
  guest?: GuestDriverOptions | false;
  /** prefix of the device's QMP event; the VM's extension prefix */
  eventPrefix?: string;
}

export type I40evfStatus = 'reset' | 'negotiated' | 'active' | 'awaiting-replay';

export interface ReplayMessage {
  opcode: number;
  payload: Buffer;
}

export interface ReplayResult {
  opcode: number;
  name: string;
  status: number;
  statusName: string;
  reply: Buffer;
}

/** What travels in the migration stream for this device. */
interface DeviceSection {
  format: 'vfio-i40evf/1';
  id: string;
  guestVsiId: number | null;
  registers: [number, number][];
  rings: RingPosition[];
}

const MIGRATING: ReadonlySet<MigrationStatus> = new Set(['setup', 'active', 'pre-switchover', 'device', 'postcopy-active', 'wait-unplug', 'cancelling']);

export class I40evfDevice implements SimDevice, GuestVfPort, VfDriverPort {
  readonly id: string;
  readonly vf: SimVf;
  guest: GuestIavfDriver | null = null;
  /** the VSI the guest was given (on the source host, or the one before); null before it asked */
  guestVsiId: number | null = null;
  /** the destination took the device section; the PF side waits for the orchestrator's replay */
  awaitingReplay = false;
  /** ring positions the migration stream carried */
  streamRings: RingPosition[] = [];
  private readonly registers = new Map<number, number>();
  private context: SimDeviceContext | undefined;
  private replaying = false;
  private unregister: (() => void) | undefined;
  private readonly eventPrefix: string;

  constructor(private readonly options: I40evfDeviceOptions) {
    this.id = options.id;
    this.vf = options.vf;
    this.eventPrefix = options.eventPrefix ?? DEFAULT_EXTENSION_PREFIX;
  }

  attach(context: SimDeviceContext): void {
    if (this.vf.owner !== null) throw new Error(`VF ${this.vf.index} of ${this.vf.pf.name} on ${this.vf.pf.host} is already in use by ${this.vf.owner}`);
    this.context = context;
    this.vf.bind(`${context.vmName}/${this.id}`, context.ram, this);
    if (this.options.guest !== false) this.guest = new GuestIavfDriver(this, context.ram, this.options.guest ?? {});
    this.unregister = registerI40evfDevice(context, this);
    if (context.runState() === 'running') this.guest?.start();
  }

  detach(): void {
    this.guest?.stop();
    this.unregister?.();
    this.unregister = undefined;
    if (this.vf.owner !== null) this.vf.unbind();
  }

  onRunStateChange(_state: RunState, running: boolean): void {
    if (!running) {
      this.guest?.stop();
      return;
    }
    if (this.vf.quiesced && !this.awaitingReplay && this.vf.state.active) this.vf.unquiesce();
    if (this.awaitingReplay) this.context?.log(`vfio-i40evf ${this.id}: the VM runs but the VF was never replayed; it stays quiesced`);
    this.guest?.start();
  }

  beforeFinalSync(): void {
    // no DMA after the final sync: what is in the buffers now is what the destination gets
    this.vf.quiesce();
  }

  saveState(): Uint8Array {
    const section: DeviceSection = {
      format: 'vfio-i40evf/1',
      id: this.id,
      guestVsiId: this.guestVsiId ?? this.vf.state.resources?.vsiId ?? null,
      registers: [...this.registers],
      rings: this.vf.positions(),
    };
    return Buffer.from(JSON.stringify(section), 'utf8');
  }

  loadState(bytes: Uint8Array): void {
    let section: DeviceSection;
    try {
      section = JSON.parse(Buffer.from(bytes).toString('utf8')) as DeviceSection;
    } catch (error) {
      throw new Error(`vfio-i40evf ${this.id}: the device section is not valid JSON`, { cause: error });
    }
    if (section.format !== 'vfio-i40evf/1') throw new Error(`vfio-i40evf ${this.id}: unknown device section format ${String(section.format)}`);
    if (this.vf.state.vfVersion !== null) this.vf.pfReset();
    this.guestVsiId = section.guestVsiId;
    this.registers.clear();
    for (const [offset, value] of section.registers) this.registers.set(offset, value);
    this.streamRings = section.rings;
    this.awaitingReplay = true;
    this.vf.quiesce();
  }

  onAnnounce(_request: AnnounceRequest): void {
    this.vf.announce();
  }

  // ------------------------------------------------------------------ the guest's side (trapped BAR0 and admin queue)

  adminSend(opcode: number, payload: Buffer): { status: number; reply: Buffer | null } {
    const vfVsi = this.vf.vsiId;
    const guestVsi = this.guestVsiId ?? vfVsi;
    const outcome = this.vf.request(opcode, mapRequestVsi(opcode, payload, guestVsi, vfVsi));
    if (opcode === Op.GET_VF_RESOURCES && outcome.status === Status.SUCCESS && this.guestVsiId === null) this.guestVsiId = vfVsi;
    const reply = outcome.reply ? mapReplyVsi(opcode, outcome.reply, vfVsi, this.guestVsiId ?? vfVsi) : null;
    return { status: outcome.status, reply };
  }

  writeRegister(offset: number, value: number): void {
    this.registers.set(offset, value >>> 0);
    const tail = tailRegisterQueue(offset);
    if (tail?.kind === 'rx') this.vf.writeRxTail(tail.queue, value);
    else if (tail?.kind === 'tx') this.vf.writeTxTail(tail.queue, value);
  }

  readRegister(offset: number): number {
    if (offset === Register.VFGEN_RSTAT) return this.vf.state.active ? ResetState.VF_ACTIVE : ResetState.COMPLETED;
    return this.registers.get(offset) ?? 0;
  }

  // ------------------------------------------------------------------ the VF's side

  arq(opcode: number, _status: number, payload: Buffer): void {
    // replies return to whoever sent the request; only unsolicited EVENTs reach the guest's ARQ here
    if (opcode === Op.EVENT && !this.replaying) this.guest?.arqEvent(payload);
  }

  interrupt(_queue: number): void {
    this.guest?.interrupt();
  }

  reset(initiator: VfResetInitiator): void {
    const status = this.context?.migrationStatus() ?? 'none';
    if (MIGRATING.has(status) || this.awaitingReplay) {
      this.context?.emitEvent(`${this.eventPrefix}I40EVF_VF_RESET`, { id: this.id, pf: this.vf.pf.name, vf: this.vf.index, initiator, 'migration-status': status });
    }
  }

  // ------------------------------------------------------------------ operations of the QMP extension

  status(): I40evfStatus {
    if (this.awaitingReplay) return 'awaiting-replay';
    if (this.vf.state.active) return 'active';
    return this.vf.negotiatedSinceReset ? 'negotiated' : 'reset';
  }

  /**
   * Sends messages to the PF as if the guest had (vsi_id mapped from the guest's to the VF's);
   * the replies go back to the caller, not the guest. Stops at the first refusal.
   */
  replay(messages: readonly ReplayMessage[], guestVsiId?: number): { results: ReplayResult[]; completed: boolean } {
    const from = guestVsiId ?? this.guestVsiId ?? this.vf.vsiId;
    const results: ReplayResult[] = [];
    this.replaying = true;
    try {
      for (const message of messages) {
        const outcome = this.vf.request(message.opcode, mapRequestVsi(message.opcode, message.payload, from, this.vf.vsiId));
        results.push({ opcode: message.opcode, name: opcodeName(message.opcode), status: outcome.status, statusName: statusName(outcome.status), reply: outcome.reply ?? Buffer.alloc(0) });
        if (outcome.status !== Status.SUCCESS) return { results, completed: false };
      }
    } finally {
      this.replaying = false;
    }
    if (this.guestVsiId === null) this.guestVsiId = from;
    this.awaitingReplay = false;
    return { results, completed: true };
  }

  /** The hardware's ring positions: the given ones, or those the migration stream carried. */
  restoreRings(positions?: readonly RingPosition[]): RingPosition[] {
    this.vf.restorePositions(positions ?? this.streamRings);
    return this.vf.positions();
  }

  vfState(): VfStateJson {
    return stateToJson(this.vf.state);
  }
}
