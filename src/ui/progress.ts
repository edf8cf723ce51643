import { Listr, ListrLogger, ProcessOutput, type ListrTaskWrapper } from 'listr2';
import { formatBytes } from '../migration/convergence.js';
import { PHASES, type MigrationEvent, type Phase } from '../migration/events.js';

const PHASE_TITLES: Record<Phase, string> = {
  resolve: 'Resolve the VM and hosts',
  preflight: 'Preflight checks on both hosts',
  prepare: 'Prepare the destination (-incoming defer)',
  precopy: 'Pre-copy guest memory',
  switchover: 'Switchover (guest stopped)',
  replay: 'Replay the VF state on the destination',
  resume: 'Resume on the destination',
  cleanup: 'Clean up the source',
};

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
  output?: (text: string) => void;
  skipped?: boolean;
}

/** One line that says where pre-copy stands. */
export function describeProgress(event: Extract<MigrationEvent, { type: 'progress' }>): string {
  const percent = event.total > 0 ? Math.min(100, Math.round((event.transferred / event.total) * 100)) : 0;
  const downtime = event.expectedDowntimeMs === undefined ? '' : `, expected downtime ${event.expectedDowntimeMs} ms`;
  return `pass ${event.pass}: ${formatBytes(event.transferred)} sent (${percent}%), ${formatBytes(event.remaining)} left, dirtying ${formatBytes(
    event.dirtyBytesPerSecond,
  )}/s at ${formatBytes(event.bandwidthBytesPerSecond)}/s${downtime}`;
}

/**
 * The human progress display: listr2 on stderr, one task per phase, driven by the
 * orchestrator's events. stdout stays free for results.
 */
export class PhaseProgress {
  private readonly deferred = new Map<Phase, Deferred>();
  private readonly list: Listr;
  private running: Promise<unknown> | undefined;

  constructor(requested: { interactive: boolean }) {
    // A terminal that reports no width (a pty nobody sized) makes the live renderer wrap
    // every character: fall back to plain lines there.
    const options = { interactive: requested.interactive && (process.stderr.columns ?? 0) >= 40 };
    for (const phase of PHASES) {
      let resolve!: () => void;
      let reject!: (error: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => undefined);
      this.deferred.set(phase, { promise, resolve, reject });
    }
    const stderrOutput = new ProcessOutput(process.stderr as NodeJS.WriteStream, process.stderr as NodeJS.WriteStream, { dump: [] });
    this.list = new Listr(
      PHASES.map((phase) => ({
        title: PHASE_TITLES[phase],
        task: async (_context: unknown, task: ListrTaskWrapper<unknown, never, never>) => {
          const entry = this.deferred.get(phase) as Deferred;
          entry.output = (text) => {
            task.output = text;
          };
          await entry.promise;
          if (entry.skipped) task.skip(`${PHASE_TITLES[phase]} (skipped)`);
        },
      })),
      {
        concurrent: false,
        exitOnError: true,
        registerSignalListeners: false,
        renderer: options.interactive ? 'default' : 'simple',
        rendererOptions: {
          logger: new ListrLogger({ processOutput: stderrOutput }),
          ...(options.interactive ? { persistentOutput: true, collapseSubtasks: false } : {}),
        },
      } as never,
    );
  }

  start(): void {
    this.running = this.list.run().catch(() => undefined);
  }

  handle(event: MigrationEvent): void {
    if (event.type === 'phase') {
      const entry = this.deferred.get(event.phase);
      if (!entry) return;
      if (event.state === 'done') entry.resolve();
      else if (event.state === 'skipped') {
        entry.skipped = true;
        entry.resolve();
      } else if (event.state === 'failed') entry.reject(new Error(event.detail ?? `${event.phase} failed`));
      return;
    }
    if (event.type === 'progress') this.deferred.get('precopy')?.output?.(describeProgress(event));
    if (event.type === 'rollback') this.current()?.output?.(`rollback: ${event.step}${event.ok ? '' : ` FAILED: ${event.detail ?? ''}`}`);
  }

  /** Ends the display: with an error, the phase under way fails; without, phases not run are skipped. */
  async stop(error?: Error): Promise<void> {
    for (const entry of this.deferred.values()) {
      if (error) entry.reject(error);
      else {
        entry.skipped = true;
        entry.resolve();
      }
    }
    await this.running;
  }

  private current(): Deferred | undefined {
    return [...this.deferred.values()].find((entry) => entry.output !== undefined);
  }
}
