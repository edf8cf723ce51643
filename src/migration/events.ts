/** What a migration reports as it goes: the progress display and `--events` NDJSON. */

export const PHASES = ['resolve', 'preflight', 'prepare', 'precopy', 'switchover', 'replay', 'resume', 'cleanup'] as const;
export type Phase = (typeof PHASES)[number];

export type MigrationEvent =
  | { type: 'phase'; phase: Phase; state: 'started' | 'done' | 'skipped' | 'failed'; detail?: string }
  | {
      type: 'progress';
      pass: number;
      transferred: number;
      remaining: number;
      total: number;
      dirtyBytesPerSecond: number;
      bandwidthBytesPerSecond: number;
      expectedDowntimeMs: number | undefined;
      elapsedMs: number;
    }
  | { type: 'rollback'; step: string; ok: boolean; detail?: string }
  /** The downtime limit handed to QEMU (the downtime policy: low first, raised while not converging). */
  | { type: 'downtime-limit'; limitMs: number; pass: number; reason: string }
  | { type: 'warning'; message: string }
  | { type: 'log'; message: string };

export type MigrationEventSink = (event: MigrationEvent & { time?: string }) => void;
