import type { AnnounceParameters } from '../qmp/monitor.js';
import type { MigrationStatus, RunState } from '../qmp/schemas.js';
import type { QmpCommandDefinition } from './qmp-registry.js';
import type { GuestRam } from './ram.js';

export type MigrationSide = 'source' | 'destination';

/** What a device may use of the VM it is plugged into. */
export interface SimDeviceContext {
  readonly vmName: string;
  /** Guest RAM: `ram.write(addr, bytes, { markDirty: false })` is DMA the dirty log does not see. */
  readonly ram: GuestRam;
  runState(): RunState;
  /** The VM's outgoing (source) or incoming (destination) migration status, `none` when idle. */
  migrationStatus(): MigrationStatus;
  /** Adds a QMP command under the VM's extension prefix (`__org.nicmig_` + name). */
  registerCommand(definition: QmpCommandDefinition): void;
  /** Emits a QMP event to the VM's monitor, timestamped like QEMU's. */
  emitEvent(name: string, data?: Record<string, unknown>): void;
  log(message: string): void;
}

/** `announce-self`'s arguments, as the orchestrator's monitor sends them. */
export type AnnounceRequest = AnnounceParameters;

/**
 * A device of a simulated VM (the i40evf model plugs in here). Every hook is optional; the
 * VM calls them in QEMU's order. Hooks run on the VM's event loop: a hook that returns a
 * promise delays what follows (and, during switchover, adds to the downtime).
 */
export interface SimDevice {
  /** Unique per VM; also the name of the device's section in the migration stream. */
  readonly id: string;
  attach?(context: SimDeviceContext): void;
  /** The VM is going away (quit, exit, host shutdown). */
  detach?(): void;
  /** Run state changed (`running` is true only in `running`). */
  onRunStateChange?(state: RunState, running: boolean): void;
  /** A MIGRATION status change on this VM's side, in event order (also without the `events` capability). */
  onMigrationStatus?(status: MigrationStatus, side: MigrationSide): void;
  /**
   * Source, vCPUs stopped, after `pre-switchover` (when enabled) and before the final dirty
   * sync: a device flushes what it wrote by DMA into the dirty log here.
   */
  beforeFinalSync?(): void | Promise<void>;
  /** Source, stop-and-copy: the device's state for the stream. */
  saveState?(): Uint8Array | Promise<Uint8Array>;
  /** Destination: state from the stream. Throwing refuses it and fails the migration (the destination exits 1). */
  loadState?(state: Uint8Array): void | Promise<void>;
  /** `announce-self` was run on the VM. */
  onAnnounce?(request: AnnounceRequest): void;
}
