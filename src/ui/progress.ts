import { DefaultRenderer, Listr, ListrLogger, ProcessOutput, type ListrTaskWrapper } from 'listr2';
import { formatBytes } from '../migration/convergence.js';
import { PHASES, type MigrationEvent, type Phase } from '../migration/events.js';

export const PHASE_TITLES: Record<Phase, string> = {
  resolve: 'Resolve the VM and hosts',
  preflight: 'Preflight checks on both hosts',
  prepare: 'Prepare the destination (-incoming defer)',
  precopy: 'Pre-copy guest memory',
  switchover: 'Switchover (guest stopped)',
  replay: 'Replay the VF state on the destination',
  resume: 'Resume on the destination',
  cleanup: 'Clean up the source',
};

type ProgressEvent = Extract<MigrationEvent, { type: 'progress' }>;

/**
 * Whether a progress sample's dirty rate is a measurement. QEMU computes `dirty-pages-rate`
 * only when it syncs the dirty bitmap at the end of a pass (and at most once a second), so it
 * reads 0 all through the first pass whatever the guest does: a rate is known from the first
 * non-zero one after pass 1, and stays known (a later 0 is then a measured 0).
 */
export function dirtyRateKnown(event: ProgressEvent, knownBefore: boolean): boolean {
  return knownBefore || (event.pass >= 2 && event.dirtyBytesPerSecond > 0);
}

/** One line that says where pre-copy stands; the dirty rate only once it is measured. */
export function describeProgress(event: ProgressEvent, options: { dirtyRateKnown: boolean } = { dirtyRateKnown: true }): string {
  const percent = event.total > 0 ? Math.min(100, Math.round((event.transferred / event.total) * 100)) : 0;
  const downtime = event.expectedDowntimeMs === undefined ? '' : `, expected downtime ${event.expectedDowntimeMs} ms`;
  const dirtying = options.dirtyRateKnown ? `, guest dirtying ${formatBytes(event.dirtyBytesPerSecond)}/s` : '';
  return `pass ${event.pass}: ${formatBytes(event.transferred)} sent (${percent}%), ${formatBytes(event.remaining)} left at ${formatBytes(
    event.bandwidthBytesPerSecond,
  )}/s${dirtying}${downtime}`;
}

/** How long a phase took, as the line display prints it. */
export function formatDuration(ms: number): string {
  if (ms < 9.95) return `${ms.toFixed(1)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * True when the environment can show ✔ and ✖: a UTF-8 locale, or a terminal known to
 * (Windows Terminal, VS Code). Elsewhere (LANG=C, some CI runners) the line display uses
 * ASCII words instead.
 */
export function unicodeSupported(env: NodeJS.ProcessEnv): boolean {
  if (env.TERM === 'linux' || env.TERM === 'dumb') return false;
  if (env.WT_SESSION || env.TERM_PROGRAM === 'vscode') return true;
  const locale = env.LC_ALL || env.LC_CTYPE || env.LANG || '';
  return /utf-?8/i.test(locale);
}

/** What every progress display does: the orchestrator's events in, lines on stderr out. */
export interface ProgressDisplay {
  start(): void;
  handle(event: MigrationEvent): void;
  /** Ends the display; with an error, the migration failed (the command prints the error itself, after). */
  stop(error?: Error): Promise<void>;
}

export interface LineProgressOptions {
  /** Where lines go (each ends in a newline): stderr in the CLI. */
  write: (text: string) => void;
  /** ms, monotonic. */
  now?: () => number;
  unicode?: boolean;
  /** Within one pass, a pre-copy line at most this often (a new pass always gets one). */
  progressEveryMs?: number;
}

/**
 * The display where nobody watches a terminal (ansible, CI logs, pipes): one line per
 * finished phase with its duration, a pre-copy line per pass (and every few seconds in a
 * long one), rollback steps as they happen. Nothing for phases that never began: a refusal
 * at preflight prints the phases before it, the failed one, and then the command's error.
 */
export class LineProgress implements ProgressDisplay {
  private readonly started = new Map<Phase, number>();
  private readonly now: () => number;
  private readonly symbols: { done: string; failed: string };
  private readonly progressEveryMs: number;
  private rateKnown = false;
  private lastProgress: { pass: number; at: number } | undefined;

  constructor(private readonly options: LineProgressOptions) {
    this.now = options.now ?? (() => performance.now());
    this.symbols = options.unicode === false ? { done: 'ok', failed: 'FAILED' } : { done: '✔', failed: '✖' };
    this.progressEveryMs = options.progressEveryMs ?? 5000;
  }

  start(): void {}

  handle(event: MigrationEvent): void {
    if (event.type === 'phase') {
      if (event.state === 'started') this.started.set(event.phase, this.now());
      else if (event.state === 'done') this.line(`${this.symbols.done} ${PHASE_TITLES[event.phase]}  ${this.took(event.phase)}`);
      else if (event.state === 'failed') this.line(`${this.symbols.failed} ${PHASE_TITLES[event.phase]}  ${this.took(event.phase)}`);
      return;
    }
    if (event.type === 'progress') {
      this.rateKnown = dirtyRateKnown(event, this.rateKnown);
      const at = this.now();
      const last = this.lastProgress;
      if (last && last.pass === event.pass && at - last.at < this.progressEveryMs) return;
      this.lastProgress = { pass: event.pass, at };
      this.line(`  ${describeProgress(event, { dirtyRateKnown: this.rateKnown })}`);
      return;
    }
    if (event.type === 'rollback') this.line(`  rollback: ${event.step} ${event.ok ? 'done' : `FAILED: ${event.detail ?? 'no reason given'}`}`);
    else if (event.type === 'warning') this.line(`  warning: ${event.message}`);
    else if (event.type === 'downtime-limit') this.line(`  downtime limit ${event.limitMs} ms: ${event.reason}`);
  }

  async stop(_error?: Error): Promise<void> {}

  private took(phase: Phase): string {
    const started = this.started.get(phase);
    return started === undefined ? '' : formatDuration(this.now() - started);
  }

  private line(text: string): void {
    this.options.write(`${text}\n`);
  }
}

/**
 * listr2's live renderer, allowed where stdout is not a terminal: listr2 picks its renderer
 * by stdout, and would fall back to plain lines on stdout under `--json > file`, though this
 * display draws on stderr, the terminal.
 */
class StderrRenderer extends DefaultRenderer {
  static override nonTTY = true;
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
  output?: (text: string) => void;
  skipped?: boolean;
  /** between the phase's started event and its end: only then does its task take output */
  running?: boolean;
}

/**
 * The live display in a terminal: listr2 on stderr, one task per phase, driven by the
 * orchestrator's events. stdout stays free for results (the --json document included).
 */
export class LiveProgress implements ProgressDisplay {
  private readonly deferred = new Map<Phase, Deferred>();
  private readonly list: Listr;
  private running: Promise<unknown> | undefined;
  private rateKnown = false;
  private readonly afterwards: string[] = [];

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
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
    // Both of listr2's streams are stderr: it renders there and leaves stdout alone. What
    // else is written to stderr while it renders is held and printed after it.
    const output = new ProcessOutput(stream, stream, { dump: ['stderr'] });
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
        renderer: StderrRenderer,
        // A failed phase keeps its title: the error follows the display, with what to do.
        rendererOptions: { logger: new ListrLogger({ processOutput: output }), persistentOutput: true, collapseSubtasks: false, showErrorMessage: false },
      } as never,
    );
  }

  start(): void {
    this.running = this.list.run().catch(() => undefined);
  }

  /**
   * Never throws: it runs inside the orchestrator's event dispatch (the switchover's included)
   * and inside rollback, which a display glitch must not break.
   */
  handle(event: MigrationEvent): void {
    try {
      this.apply(event);
    } catch {
      // The live display is best effort; the summary and the error tell the outcome.
    }
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
    // Rollback runs after its phase's task has failed: its steps print below the list.
    for (const line of this.afterwards) this.stream.write(`${line}\n`);
  }

  private apply(event: MigrationEvent): void {
    if (event.type === 'phase') {
      const entry = this.deferred.get(event.phase);
      if (!entry) return;
      if (event.state === 'started') entry.running = true;
      else entry.running = false;
      if (event.state === 'done') entry.resolve();
      else if (event.state === 'skipped') {
        entry.skipped = true;
        entry.resolve();
      } else if (event.state === 'failed') entry.reject(new Error(event.detail ?? `${event.phase} failed`));
      return;
    }
    if (event.type === 'progress') {
      this.rateKnown = dirtyRateKnown(event, this.rateKnown);
      // A poll answered after pre-copy ended has no task left to show it.
      const precopy = this.deferred.get('precopy');
      if (precopy?.running) precopy.output?.(describeProgress(event, { dirtyRateKnown: this.rateKnown }));
    }
    if (event.type === 'rollback') this.afterwards.push(`  rollback: ${event.step} ${event.ok ? 'done' : `FAILED: ${event.detail ?? 'no reason given'}`}`);
  }
}

/**
 * The progress display for stderr: live in a terminal wide enough for it, one line per
 * finished phase anywhere else (a pipe, a log file, ansible, a terminal nobody sized).
 */
export function progressDisplay(stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): ProgressDisplay {
  if (stream.isTTY && (stream.columns ?? 0) >= 40) return new LiveProgress(stream);
  return new LineProgress({ write: (text) => void stream.write(text), unicode: unicodeSupported(env) });
}
