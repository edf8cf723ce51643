import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { NicmigError } from '../../../src/errors.js';
import { MigrationError, PreflightError } from '../../../src/migration/errors.js';
import type { MigrationEvent } from '../../../src/migration/events.js';
import type { MigratedResult, MigrationTimeline } from '../../../src/migration/result.js';
import { SequenceCounter } from '../../../src/sim/network/traffic.js';
import {
  checkReportPath,
  escapeHtml,
  failureStatus,
  histogram,
  phaseSpans,
  renderReport,
  switchoverTimes,
  writeReportFile,
  type FailedMigration,
  type ReportTraffic,
} from '../../../src/ui/report.js';

const T0 = 1_800_000_000_000;

/** A migration as the orchestrator records it: 1 s of pre-copy, a 40 ms downtime from 1100 to 1140. */
function timeline(vm = 'vm1', options: { failAt?: 'precopy' } = {}): MigrationTimeline {
  const events: (MigrationEvent & { time: number })[] = [];
  const phase = (time: number, phase: MigrationEvent & { type: 'phase' }) => events.push({ ...phase, time: T0 + time });
  const steps: [string, number, number][] = [
    ['resolve', 0, 20],
    ['preflight', 20, 40],
    ['prepare', 40, 90],
    ['precopy', 90, 1100],
    ['switchover', 1100, 1120],
    ['replay', 1130, 1136],
    ['resume', 1136, 1142],
    ['cleanup', 1142, 1160],
  ];
  for (const [name, start, end] of steps) {
    phase(start, { type: 'phase', phase: name as never, state: 'started' });
    if (options.failAt === name) {
      phase(end, { type: 'phase', phase: name as never, state: 'failed', detail: 'the destination <b>broke</b>' });
      break;
    }
    if (name === 'precopy') {
      events.push({ type: 'progress', pass: 1, transferred: 10 << 20, remaining: 54 << 20, total: 64 << 20, dirtyBytesPerSecond: 0, bandwidthBytesPerSecond: 1 << 30, expectedDowntimeMs: 50, elapsedMs: 300, time: T0 + 400 });
      events.push({ type: 'progress', pass: 2, transferred: 60 << 20, remaining: 4 << 20, total: 64 << 20, dirtyBytesPerSecond: 20 << 20, bandwidthBytesPerSecond: 1 << 30, expectedDowntimeMs: 20, elapsedMs: 800, time: T0 + 900 });
    }
    phase(end, { type: 'phase', phase: name as never, state: 'done' });
  }
  const qemu: MigrationTimeline['qemu'] = [
    { side: 'source', time: T0 + 95, event: 'MIGRATION', status: 'setup' },
    { side: 'source', time: T0 + 96, event: 'MIGRATION', status: 'active' },
  ];
  if (options.failAt !== 'precopy') {
    qemu.push(
      { side: 'source', time: T0 + 1100, event: 'STOP', status: null },
      { side: 'source', time: T0 + 1100.5, event: 'MIGRATION', status: 'pre-switchover' },
      { side: 'source', time: T0 + 1102.5, event: 'MIGRATION', status: 'device' },
      { side: 'destination', time: T0 + 1130, event: 'MIGRATION', status: 'completed' },
      { side: 'destination', time: T0 + 1140, event: 'RESUME', status: null },
    );
  }
  return { vm, events, qemu };
}

function summary(overrides: Partial<MigratedResult> = {}): MigratedResult {
  return {
    status: 'migrated',
    vm: 'vm1',
    from: 'hostA',
    to: 'hostB',
    strategy: 'vf-replay',
    destination: { builtFrom: 'spec', rewrites: [] },
    totalTimeMs: 1160,
    downtimeMs: 38,
    measuredDowntimeMs: 40,
    orchestratorDowntimeMs: 12,
    orchestratorWindowsMs: { switchover: 2, resume: 10 },
    bytes: 64 << 20,
    passes: 3,
    replay: { captured: 20, replayed: 9, verified: true },
    rolledBack: false,
    cleanupWarnings: [],
    preflightWarnings: [],
    journal: '/var/lib/nicmig/journal/vm1.journal',
    error: null,
    ...overrides,
  };
}

/** 2 probes per ms, none between 1099 and 1145 (the switchover's gap). */
function traffic(): ReportTraffic {
  const arrivals: number[] = [];
  for (let t = 0; t < 1300; t += 0.5) if (t < 1099 || t >= 1145) arrivals.push(T0 + t);
  return { report: { sent: 2600, received: arrivals.length, lost: 2600 - arrivals.length, duplicated: 0, reordered: 0, longestGapMs: 46, longestLossRun: 92 }, arrivals, ratePerSecond: 2000 };
}

/** The text a person reads: tags out, entities decoded. */
function visibleText(html: string): string {
  return html
    .replace(/<style>[\s\S]*?<\/style>/g, '')
    .replace(/<title>[\s\S]*?<\/title>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}

describe('renderReport', () => {
  it('is one self-contained page: inline CSS and SVG, no script, nothing fetched', () => {
    const html = renderReport({ timeline: timeline(), result: summary(), traffic: traffic(), generatedAt: T0 + 2000 });
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toMatch(/<style>[\s\S]+<\/style>/);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link\b/i);
    // No src= or href= at all; the only URL is the SVG namespace.
    expect(html).not.toMatch(/\s(src|href)=/i);
    expect(html.match(/https?:\/\/[^"]+/g)?.every((url) => url === 'http://www.w3.org/2000/svg')).toBe(true);
    expect(html.match(/<svg /g)).toHaveLength(2);
  });

  it('shows every phase that ran, with its duration, and skipped phases as skipped', () => {
    const t = timeline();
    t.events = t.events.filter((e) => !(e.type === 'phase' && e.phase === 'replay'));
    t.events.push({ type: 'phase', phase: 'replay', state: 'skipped', detail: 'no VF', time: T0 + 1125 });
    const html = renderReport({ timeline: t, result: summary({ strategy: 'plain', replay: null }), generatedAt: T0 });
    for (const phase of ['resolve', 'preflight', 'prepare', 'precopy', 'switchover', 'resume', 'cleanup']) {
      expect(html).toMatch(new RegExp(`<rect class="phase phase-${phase} done"`));
    }
    expect(html).not.toMatch(/phase-replay/);
    expect(visibleText(html)).toMatch(/replay skipped \(no VF\)/);
    expect(visibleText(html)).toMatch(/precopy 1010 ms/);
  });

  it('draws the downtime window from QEMU STOP to RESUME, labelled with its length', () => {
    const html = renderReport({ timeline: timeline(), result: summary(), traffic: traffic(), generatedAt: T0 });
    expect(html.match(/class="downtime-label"[^>]*>downtime 40 ms</g)).toHaveLength(2);
    expect(visibleText(html)).toMatch(/guest stopped for 40 ms \(QEMU STOP → RESUME\)/);
    // In the zoomed chart, 40 ms of a 68 ms wide axis (20 ms each side, at least).
    const zoom = /<svg id="switchover-chart"[\s\S]*?<\/svg>/.exec(html)?.[0] ?? '';
    const band = /<rect class="downtime-band" x="([\d.]+)" y="\d+" width="([\d.]+)"/.exec(zoom);
    expect(band).not.toBeNull();
    expect(Number(band?.[2])).toBeGreaterThan(300);
    // nicmig's windows inside it, by name.
    expect(visibleText(html)).toMatch(/nicmig: quiesce VF 2\.0 ms/);
    expect(visibleText(html)).toMatch(/nicmig: replay VF, cont 10 ms/);
    expect(visibleText(html)).toMatch(/QEMU: last RAM \+ device state 28 ms/);
  });

  it('shows probes per millisecond and names the gap', () => {
    const html = renderReport({ timeline: timeline(), result: summary(), traffic: traffic(), generatedAt: T0 });
    const zoom = /<svg id="switchover-chart"[\s\S]*?<\/svg>/.exec(html)?.[0] ?? '';
    expect(zoom).toMatch(/per millisecond/);
    expect(zoom.match(/<rect class="probes"/g)?.length).toBeGreaterThan(30);
    expect(visibleText(zoom)).toMatch(/no probes for 46 ms/);
    expect(visibleText(html)).toMatch(/frames lost \d+ \(longest run 92\)/);
  });

  it('has the summary table: downtime QEMU vs measured, nicmig inside it, bytes, passes, VF replay, frames lost', () => {
    const text = visibleText(renderReport({ timeline: timeline(), result: summary(), traffic: traffic(), generatedAt: T0 }));
    expect(text).toMatch(/downtime \(QEMU\) 38 ms/);
    expect(text).toMatch(/downtime \(STOP → RESUME, measured\) 40 ms/);
    expect(text).toMatch(/nicmig inside the downtime 12 ms \(switchover 2\.0 ms, before resume 10 ms\)/);
    expect(text).toMatch(/bytes sent 64\.0 MiB/);
    expect(text).toMatch(/passes 3/);
    expect(text).toMatch(/VF messages replayed \/ captured 9 \/ 20/);
    expect(text).toMatch(/VF state verified yes/);
    expect(text).toMatch(/frames lost/);
  });

  it('draws pre-copy passes, bytes sent and the dirty rate from the progress samples', () => {
    const html = renderReport({ timeline: timeline(), result: summary(), generatedAt: T0 });
    expect(html.match(/<rect class="pass /g)).toHaveLength(2);
    expect(html).toMatch(/<polyline class="bytes" points="[^"]+ [^"]+ [^"]+"/);
    expect(html).toMatch(/<polyline class="dirty"/);
    expect(html).toMatch(/>20\.0 MiB\/s</);
    // Without traffic, no probe chart.
    expect(html).not.toMatch(/class="probes"/);
  });

  it('escapes names and messages everywhere', () => {
    const evil = '<img src=x onerror=alert(1)>&"\'';
    const t = timeline(evil, { failAt: 'precopy' });
    t.events.push({ type: 'warning', message: '<script>alert(2)</script>', time: T0 + 5 });
    const failed: FailedMigration = {
      status: 'rolled-back',
      vm: evil,
      from: '<hostA>',
      to: 'host"B',
      totalTimeMs: 1100,
      journal: null,
      rolledBack: true,
      error: { code: 'MIGRATION_FAILED', message: 'the destination <b>broke</b>', exitCode: 11, hint: 'a & b' },
    };
    const html = renderReport({ timeline: t, result: failed, generatedAt: T0 });
    expect(html).not.toMatch(/<img/);
    expect(html).not.toMatch(/<script/);
    expect(html).not.toMatch(/<b>/);
    expect(html).not.toMatch(/<hostA>/);
    expect(html).toMatch(/&lt;img src=x onerror=alert\(1\)&gt;&amp;&quot;&#39;/);
    expect(visibleText(html)).toContain(`nicmig: ${evil} <hostA> → host"B`);
  });

  it("shows a failed migration's error, its failed phase, and that no switchover happened", () => {
    const failed: FailedMigration = {
      status: 'rolled-back',
      vm: 'vm1',
      from: 'hostA',
      to: 'hostB',
      totalTimeMs: 1100,
      journal: '/j',
      rolledBack: true,
      error: { code: 'MIGRATION_FAILED', name: 'MigrationError', message: 'migration failed in precopy: the destination broke', exitCode: 11, details: { phase: 'precopy' } },
    };
    const html = renderReport({ timeline: timeline('vm1', { failAt: 'precopy' }), result: failed, generatedAt: T0 });
    const text = visibleText(html);
    expect(html).toMatch(/<section id="error" class="error">/);
    expect(html).toMatch(/class="status bad"/);
    expect(text).toMatch(/failed, rolled back/);
    expect(text).toMatch(/MIGRATION_FAILED/);
    expect(text).toMatch(/migration failed in precopy: the destination broke/);
    expect(html).toMatch(/<rect class="phase phase-precopy failed"/);
    expect(text).toMatch(/1010 ms FAILED/);
    expect(text).toMatch(/never stopped for a switchover/);
    expect(html).not.toMatch(/<rect class="downtime-band"/);
  });

  it('renders an empty timeline (nothing recorded) without throwing', () => {
    const failed: FailedMigration = { status: 'error', vm: 'vm1', from: null, to: 'hostB', totalTimeMs: null, journal: null, rolledBack: false, error: { code: 'INTERNAL', message: 'boom' } };
    const html = renderReport({ timeline: { vm: 'vm1', events: [], qemu: [] }, result: failed, generatedAt: T0 });
    expect(visibleText(html)).toMatch(/No events were recorded/);
    expect(visibleText(html)).toMatch(/INTERNAL/);
  });
});

describe('the facts behind the charts', () => {
  it('phaseSpans: started to done, failed, skipped', () => {
    const spans = phaseSpans(timeline('vm1', { failAt: 'precopy' }));
    expect(spans.map((s) => [s.phase, s.state, s.end - s.start])).toEqual([
      ['resolve', 'done', 20],
      ['preflight', 'done', 20],
      ['prepare', 'done', 50],
      ['precopy', 'failed', 1010],
    ]);
  });

  it('switchoverTimes: the downtime is STOP to RESUME; pre-switchover when STOP is missing; none without RESUME', () => {
    expect(switchoverTimes(timeline()).downtime).toEqual({ start: T0 + 1100, end: T0 + 1140 });
    const noStop = timeline();
    noStop.qemu = noStop.qemu.filter((e) => e.event !== 'STOP');
    expect(switchoverTimes(noStop).downtime).toEqual({ start: T0 + 1100.5, end: T0 + 1140 });
    expect(switchoverTimes(timeline('vm1', { failAt: 'precopy' })).downtime).toBeNull();
  });

  it('histogram: arrivals per bin, the window half-open, outsiders ignored', () => {
    expect(histogram([0, 0.2, 0.9, 1, 2.5, 2.99, 3, -1], 0, 3, 1)).toEqual([3, 1, 2]);
    expect(histogram([], 10, 15, 2)).toEqual([0, 0, 0]);
  });

  it('escapeHtml', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('failureStatus maps the error classes to the --json statuses', () => {
    expect(failureStatus(new PreflightError(['no']))).toBe('refused');
    expect(failureStatus(new MigrationError('failed', 'precopy', 'x'))).toBe('rolled-back');
    expect(failureStatus(new NicmigError('X', 'x', 1))).toBe('error');
  });
});

describe('SequenceCounter.arrivals', () => {
  it('keeps every arrival time in order, duplicates included', () => {
    const counter = new SequenceCounter();
    counter.record(0, 10);
    counter.record(1, 10.5);
    counter.record(1, 11);
    expect(counter.arrivals()).toEqual([10, 10.5, 11]);
    expect(counter.report(2).duplicated).toBe(1);
  });
});

describe('checkReportPath and writeReportFile', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-report-test-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('accepts a new file in an existing directory, and leaves nothing behind', () => {
    const file = path.join(dir, 'new.html');
    expect(checkReportPath(file)).toBe(file);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('accepts an existing file without truncating it', () => {
    const file = path.join(dir, 'old.html');
    fs.writeFileSync(file, 'before');
    checkReportPath(file);
    expect(fs.readFileSync(file, 'utf8')).toBe('before');
  });

  it.each([
    ['a missing directory', (d: string) => path.join(d, 'missing', 'r.html'), /directory .* does not exist/],
    ['a directory', (d: string) => d, /is a directory/],
    ['a file as directory', (d: string) => (fs.writeFileSync(path.join(d, 'plain'), ''), path.join(d, 'plain', 'r.html')), /is not a directory/],
  ])('refuses %s with BAD_REPORT_PATH (exit 2)', (_what, make, message) => {
    let caught: unknown;
    try {
      checkReportPath(make(dir));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(NicmigError);
    expect(caught).toMatchObject({ code: 'BAD_REPORT_PATH', exitCode: 2 });
    expect((caught as Error).message).toMatch(message);
  });

  it('writes the page in place of the old file, no temporary left', () => {
    const file = path.join(dir, 'out.html');
    writeReportFile(file, '<!DOCTYPE html>');
    expect(fs.readFileSync(file, 'utf8')).toBe('<!DOCTYPE html>');
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
