import type { VmSpec } from '../inventory/vm-spec.js';
import type { QemuMonitor } from '../qmp/monitor.js';
import type { JournalEvent } from './journal.js';
import type { HostFacts } from './ports.js';

/** What a strategy can tell before anything changes, for `migrate --dry-run`. */
export interface StrategyPlan {
  devices: { id: string; captured: number; replayMessages: number; rxBufferBytes: number }[];
}

export interface ReplayReport {
  /** Admin-queue messages the source device captured since the VF's last reset. */
  captured: number;
  /** Messages replayed onto the destination VF. */
  replayed: number;
  /** The destination VF's state read back equals the source's (vsi ids aside). */
  verified: boolean;
  differences: string[];
}

/**
 * The VF-specific steps around the common QMP migration. The plain strategy (virtio-net
 * only) does nothing in each; the VF replay strategy quiesces, captures and replays.
 */
export interface MigrationStrategy {
  readonly name: 'plain' | 'vf-replay';
  /** Whether the migration has a replay phase (device state rebuilt on the destination). */
  readonly hasReplayPhase: boolean;
  /**
   * Journal records written with `switchover`, once the switchover's commands were answered:
   * what recover must know happened on the source (a quiesced VF must be replayed, never
   * resumed unreplayed).
   */
  readonly switchoverRecords: readonly JournalEvent[];
  /** Reasons the migration cannot go ahead (empty when it can). */
  preflight(source: QemuMonitor): Promise<string[]>;
  /** Reasons the destination host's PFs cannot take the VFs' state (their filter limits). */
  checkDestinationHost(spec: VmSpec, facts: HostFacts): string[];
  /** After preflight: what the VF steps will do (the destination's facts are not known yet). */
  describePlan(): StrategyPlan;
  /** The destination runs (paused, incoming): reasons its devices cannot take the state. */
  afterDestinationStarted(destination: QemuMonitor): Promise<string[]>;
  /** Before `migrate`: e.g. device dirty tracking of DMA-written RX buffers on. */
  beforePrecopy(source: QemuMonitor): Promise<void>;
  /**
   * Inside pre-switchover (guest stopped). Must only *send* its commands and return their
   * promise: the orchestrator pipelines migrate-continue right behind them.
   */
  atSwitchover(source: QemuMonitor): Promise<void>;
  /** After the stream completed, before `cont`: rebuild and verify the device state. */
  beforeResume(destination: QemuMonitor): Promise<ReplayReport | undefined>;
  /** After `cont` on the destination: announce addresses; resolves with how many devices announced. */
  afterResume(destination: QemuMonitor): Promise<number>;
  /** After the destination runs, before the source quits: reset the source VF (frees its MAC at the PF). */
  cleanupSource(source: QemuMonitor): Promise<void>;
  /** Undo what this strategy did on the source, on rollback. */
  rollbackSource(source: QemuMonitor | undefined): Promise<void>;
}

export class PlainStrategy implements MigrationStrategy {
  readonly name = 'plain' as const;
  readonly hasReplayPhase = false;
  readonly switchoverRecords: readonly JournalEvent[] = [];
  async preflight(): Promise<string[]> {
    return [];
  }
  describePlan(): StrategyPlan {
    return { devices: [] };
  }
  checkDestinationHost(): string[] {
    return [];
  }
  async afterDestinationStarted(): Promise<string[]> {
    return [];
  }
  async beforePrecopy(): Promise<void> {}
  async atSwitchover(): Promise<void> {}
  async beforeResume(): Promise<undefined> {
    return undefined;
  }
  async afterResume(): Promise<number> {
    return 0;
  }
  async cleanupSource(): Promise<void> {}
  async rollbackSource(): Promise<void> {}
}
