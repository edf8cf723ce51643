import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import type { MigrationEvent, Phase } from '../../../src/migration/events.js';
import { nextSteps, renderNextSteps } from '../../../src/lab/demo-lab.js';
import { describeProgress, dirtyRateKnown, formatDuration, LineProgress, LiveProgress, unicodeSupported } from '../../../src/ui/progress.js';

type ProgressEvent = Extract<MigrationEvent, { type: 'progress' }>;

const MiB = 1024 * 1024;

function progress(pass: number, dirtyBytesPerSecond: number, elapsedMs = pass * 100): ProgressEvent {
  return {
    type: 'progress',
    pass,
    transferred: pass * 64 * MiB,
    remaining: 192 * MiB,
    total: 256 * MiB,
    dirtyBytesPerSecond,
    bandwidthBytesPerSecond: 400 * MiB,
    expectedDowntimeMs: 480,
    elapsedMs,
  };
}

/** A line display with a clock the test moves and a writer that keeps every line. */
function lineDisplay(options: { unicode?: boolean; progressEveryMs?: number } = {}) {
  let clock = 1000;
  const lines: string[] = [];
  const display = new LineProgress({ write: (text) => lines.push(text), now: () => clock, ...options });
  return {
    display,
    lines,
    advance: (ms: number) => {
      clock += ms;
    },
    phase: (phase: Phase, state: 'started' | 'done' | 'skipped' | 'failed', detail?: string) =>
      display.handle({ type: 'phase', phase, state, ...(detail === undefined ? {} : { detail }) }),
  };
}

describe('the line display (stderr is not a terminal)', () => {
  it('prints one line per finished phase with its duration, nothing when a phase starts', async () => {
    const { display, lines, advance, phase } = lineDisplay();
    display.start();
    phase('resolve', 'started');
    expect(lines).toEqual([]);
    advance(3.25);
    phase('resolve', 'done');
    phase('preflight', 'started');
    advance(12);
    phase('preflight', 'done');
    phase('replay', 'skipped', 'no VF');
    await display.stop();
    expect(lines).toEqual(['✔ Resolve the VM and hosts  3.3 ms\n', '✔ Preflight checks on both hosts  12 ms\n']);
  });

  it('prints nothing for the phases that never began when preflight refuses, and nothing after the failed one', async () => {
    const { display, lines, advance, phase } = lineDisplay();
    phase('resolve', 'started');
    advance(20);
    phase('resolve', 'done');
    phase('preflight', 'started');
    advance(41);
    phase('preflight', 'failed', 'preflight refused the migration:\n  - no VF free on hostB');
    await display.stop(new Error('preflight refused the migration'));
    expect(lines).toEqual(['✔ Resolve the VM and hosts  20 ms\n', '✖ Preflight checks on both hosts  41 ms\n']);
    expect(lines.join('')).not.toMatch(/skip|prepare|Pre-copy|Switchover/i);
  });

  it('prints the rollback steps after the failed phase, as they happen', () => {
    const { display, lines, advance, phase } = lineDisplay();
    phase('switchover', 'started');
    advance(7);
    phase('switchover', 'failed', 'replay refused');
    display.handle({ type: 'rollback', step: 'cancel the migration', ok: true });
    display.handle({ type: 'rollback', step: 'resume the source', ok: false, detail: 'QMP timeout' });
    expect(lines).toEqual([
      '✖ Switchover (guest stopped)  7.0 ms\n',
      '  rollback: cancel the migration done\n',
      '  rollback: resume the source FAILED: QMP timeout\n',
    ]);
  });

  it('uses ASCII words where the environment shows no ✔', () => {
    const { lines, advance, phase } = lineDisplay({ unicode: false });
    phase('cleanup', 'started');
    advance(15_500);
    phase('cleanup', 'done');
    phase('resume', 'started');
    phase('resume', 'failed');
    expect(lines).toEqual(['ok Clean up the source  15.5 s\n', 'FAILED Resume on the destination  0.0 ms\n']);
  });

  it('prints a pre-copy line per pass, and within a long pass one every few seconds', () => {
    const { display, lines, advance } = lineDisplay({ progressEveryMs: 5000 });
    display.handle(progress(1, 0));
    advance(200);
    display.handle(progress(1, 0));
    advance(4900);
    display.handle(progress(1, 0));
    advance(200);
    display.handle(progress(2, 20 * MiB));
    advance(200);
    display.handle(progress(2, 20 * MiB));
    expect(lines.map((line) => line.slice(0, 9))).toEqual(['  pass 1:', '  pass 1:', '  pass 2:']);
  });

  it('says nothing about the dirty rate before QEMU measured it, and shows it from then on', () => {
    const { display, lines } = lineDisplay({ progressEveryMs: 0 });
    display.handle(progress(1, 0));
    display.handle(progress(2, 0));
    display.handle(progress(3, 19.5 * MiB));
    display.handle(progress(4, 0));
    expect(lines[0]).not.toMatch(/dirtying/);
    expect(lines[1]).not.toMatch(/dirtying/);
    expect(lines[2]).toMatch(/guest dirtying 19\.5 MiB\/s/);
    // Once measured, a zero is a measurement: an idle guest.
    expect(lines[3]).toMatch(/guest dirtying 0 B\/s/);
  });
});

describe('progress wording', () => {
  it('a dirty rate is known from the first non-zero one after pass 1', () => {
    expect(dirtyRateKnown(progress(1, 20 * MiB), false)).toBe(false);
    expect(dirtyRateKnown(progress(2, 0), false)).toBe(false);
    expect(dirtyRateKnown(progress(2, 1), false)).toBe(true);
    expect(dirtyRateKnown(progress(5, 0), true)).toBe(true);
  });

  it('describes a pre-copy sample', () => {
    expect(describeProgress(progress(1, 0), { dirtyRateKnown: false })).toBe('pass 1: 64.0 MiB sent (25%), 192 MiB left at 400 MiB/s, expected downtime 480 ms');
    expect(describeProgress(progress(2, 20 * MiB), { dirtyRateKnown: true })).toBe(
      'pass 2: 128 MiB sent (50%), 192 MiB left at 400 MiB/s, guest dirtying 20.0 MiB/s, expected downtime 480 ms',
    );
  });

  it('formats durations', () => {
    expect(formatDuration(0.04)).toBe('0.0 ms');
    expect(formatDuration(9.94)).toBe('9.9 ms');
    expect(formatDuration(9.96)).toBe('10 ms');
    expect(formatDuration(12.4)).toBe('12 ms');
    expect(formatDuration(9999)).toBe('9999 ms');
    expect(formatDuration(61_000)).toBe('61.0 s');
  });

  it('shows ✔ only where the locale is UTF-8', () => {
    expect(unicodeSupported({ LANG: 'en_US.UTF-8' })).toBe(true);
    expect(unicodeSupported({ LC_ALL: 'C.utf8' })).toBe(true);
    expect(unicodeSupported({ LANG: 'C' })).toBe(false);
    expect(unicodeSupported({})).toBe(false);
    expect(unicodeSupported({ LANG: 'en_US.UTF-8', TERM: 'linux' })).toBe(false);
  });
});

describe("the demo's closing hints", () => {
  it('name the sample capture relative to the working directory inside the package', () => {
    const root = path.join(path.sep, 'src', 'nicmig');
    const steps = nextSteps(root, root);
    expect(steps.map(([command]) => command)).toEqual(['nicmig migrate --help', 'nicmig sim host --help', 'nicmig vf plan fixtures/captures/iavf-runtime.cap']);
  });

  it('name it by its absolute path from anywhere else, quoted for a shell when it must be', () => {
    const root = path.join(path.sep, 'opt', 'my tools', 'lib', 'node_modules', 'nicmig');
    const [, , plan] = nextSteps(root, path.join(path.sep, 'home', 'me'));
    expect(plan?.[0]).toBe(`nicmig vf plan '${path.join(root, 'fixtures', 'captures', 'iavf-runtime.cap')}'`);
    expect(nextSteps('/usr/lib/node_modules/nicmig', '/tmp')[2]?.[0]).toBe('nicmig vf plan /usr/lib/node_modules/nicmig/fixtures/captures/iavf-runtime.cap');
  });

  it('line up the commands and what they show', () => {
    expect(renderNextSteps([['a', 'first'], ['abc', 'second']])).toBe('Next:\n  a     first\n  abc   second');
  });
});

describe('the live display (a terminal)', () => {
  /** A stream that keeps what listr2 draws; listr2 draws on it as on a terminal's stderr. */
  function fakeTerminal() {
    const stream = new PassThrough() as PassThrough & { columns: number; isTTY: boolean };
    stream.columns = 100;
    stream.isTTY = true;
    let text = '';
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    return { stream, text: () => text };
  }

  it('takes a pre-copy poll answered after pre-copy ended, and prints rollback steps after the list', async () => {
    const terminal = fakeTerminal();
    const display = new LiveProgress(terminal.stream as unknown as NodeJS.WriteStream);
    display.start();
    const phase = (p: Phase, state: 'started' | 'done' | 'failed') => display.handle({ type: 'phase', phase: p, state });
    for (const p of ['resolve', 'preflight', 'prepare', 'precopy'] as const) {
      phase(p, 'started');
      if (p === 'precopy') display.handle(progress(2, 20 * MiB));
      phase(p, 'done');
    }
    // Late events that have no running task to show them: they must not throw into the orchestrator.
    expect(() => display.handle(progress(3, 20 * MiB))).not.toThrow();
    phase('switchover', 'started');
    phase('switchover', 'failed');
    expect(() => display.handle({ type: 'rollback', step: 'resume the source', ok: true })).not.toThrow();
    await display.stop(new Error('switchover failed'));
    expect(terminal.text()).toMatch(/ {2}rollback: resume the source done\n$/);
  });
});
