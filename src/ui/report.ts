/**
 * `--report FILE.html`: one self-contained page (inline CSS and SVG, no script, no external
 * asset) that shows where a migration's time went: phases on a time axis, pre-copy passes,
 * bytes sent and dirty rate, the downtime window from QEMU's own timestamps, the probes that
 * came back per millisecond through the switchover, and the summary table.
 *
 * renderReport is pure (input in, HTML out); checkReportPath and writeReportFile at the end
 * are the file edge the commands call.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { formatBytes } from '../migration/convergence.js';
import { PHASES, type MigrationEvent, type Phase } from '../migration/events.js';
import { failureStatus, isFailed, switchoverMoments, type FailedResult, type MigrationResult, type MigrationSummary, type MigrationTimeline, type SwitchoverMoments } from '../migration/result.js';
import type { TrafficReport } from '../sim/network/traffic.js';
import { describeDestination } from './summary.js';

/** A migration that ended with an error (the `--json` failure document). */
export type FailedMigration = FailedResult;
export { failureStatus };

/** Probes measured across the migration (the demo and the simulator lab). */
export interface ReportTraffic {
  report: TrafficReport;
  /** epoch ms of every probe that came back (TrafficGenerator.arrivals()) */
  arrivals: readonly number[];
  /** probes sent per second, if steady */
  ratePerSecond: number | null;
}

export interface ReportInput {
  timeline: MigrationTimeline;
  result: MigrationResult;
  traffic?: ReportTraffic | null;
  /** epoch ms the report was made (shown in the footer) */
  generatedAt: number;
}

// --- derived facts (pure, exported for the tests) -------------------------------------

export interface PhaseSpan {
  phase: Phase;
  state: 'done' | 'failed' | 'skipped' | 'running';
  start: number;
  end: number;
  detail: string | undefined;
}

/** Each phase's span from its events: started -> done/failed; skipped phases have no length. */
export function phaseSpans(timeline: MigrationTimeline): PhaseSpan[] {
  const spans: PhaseSpan[] = [];
  const last = lastTime(timeline);
  for (const phase of PHASES) {
    const events = timeline.events.filter((e): e is Extract<MigrationEvent, { type: 'phase' }> & { time: number } => e.type === 'phase' && e.phase === phase);
    const started = events.find((e) => e.state === 'started');
    const skipped = events.find((e) => e.state === 'skipped');
    const ended = events.find((e) => e.state === 'done' || e.state === 'failed');
    if (started) {
      spans.push({
        phase,
        state: ended ? (ended.state as 'done' | 'failed') : 'running',
        start: started.time,
        end: ended?.time ?? last,
        detail: ended?.detail,
      });
    } else if (skipped) {
      spans.push({ phase, state: 'skipped', start: skipped.time, end: skipped.time, detail: skipped.detail });
    }
  }
  return spans;
}

export type SwitchoverTimes = SwitchoverMoments;

/** The switchover's moments from QEMU's own event timestamps (epoch ms). */
export function switchoverTimes(timeline: MigrationTimeline): SwitchoverTimes {
  return switchoverMoments(timeline.qemu);
}

/** Arrivals per bin of `binMs` from `from` (inclusive) to `to` (exclusive). */
export function histogram(arrivals: readonly number[], from: number, to: number, binMs: number): number[] {
  const bins = new Array<number>(Math.max(0, Math.ceil((to - from) / binMs))).fill(0);
  for (const at of arrivals) {
    if (at < from || at >= to) continue;
    const index = Math.floor((at - from) / binMs);
    if (index < bins.length) bins[index] = (bins[index] ?? 0) + 1;
  }
  return bins;
}

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

// --- the page ---------------------------------------------------------------------------

const PHASE_COLOURS: Record<Phase, string> = {
  resolve: '#8da0cb',
  preflight: '#66c2a5',
  prepare: '#a6d854',
  precopy: '#4f81bd',
  switchover: '#e78ac3',
  replay: '#fc8d62',
  resume: '#e5c494',
  cleanup: '#b3b3b3',
};

const STATUS_TEXT: Record<string, string> = {
  migrated: 'migrated',
  'dry-run': 'dry run (nothing changed)',
  'rolled-back': 'failed, rolled back',
  refused: 'refused by preflight',
  uncertain: 'failed, guest location uncertain',
  error: 'failed',
};

function isSummary(result: MigrationResult): result is MigrationSummary {
  return !isFailed(result);
}

export function renderReport(input: ReportInput): string {
  const { timeline, result } = input;
  const traffic = input.traffic ?? null;
  const status = result.status;
  const ok = status === 'migrated' || status === 'dry-run';
  const from = result.from ?? '?';
  const title = `nicmig: ${result.vm} ${from} \u2192 ${result.to}`;
  const times = switchoverTimes(timeline);
  const spans = phaseSpans(timeline);
  const failure = result.error;

  const parts: string[] = [];
  parts.push(`<header><h1>${escapeHtml(title)}</h1><p class="status ${ok ? 'ok' : 'bad'}" id="status">${escapeHtml(STATUS_TEXT[status] ?? status)}</p>`);
  parts.push(`<p class="lead">${escapeHtml(lead(result, times, traffic))}</p></header>`);
  if (failure) parts.push(renderError(failure));
  parts.push('<section id="timeline"><h2>Timeline</h2>');
  if (timeline.events.length === 0) parts.push('<p>No events were recorded.</p>');
  else parts.push(renderOverview(timeline, spans, times, traffic, isSummary(result) ? result.bytes : null));
  parts.push('</section>');
  if (times.downtime) {
    parts.push('<section id="switchover"><h2>Switchover, millisecond by millisecond</h2>');
    parts.push(renderSwitchover(timeline, spans, times, traffic));
    parts.push('</section>');
  } else if (timeline.events.length > 0) {
    parts.push('<section id="switchover"><h2>Switchover</h2><p>The guest was never stopped for a switchover (no source STOP / destination RESUME from QEMU).</p></section>');
  }
  parts.push('<section id="summary"><h2>Summary</h2>');
  parts.push(renderSummaryTable(result, traffic));
  parts.push('</section>');
  parts.push(renderEventList(timeline));
  parts.push(`<footer>nicmig report, made ${escapeHtml(new Date(input.generatedAt).toISOString())}. Times: nicmig's events by this machine's clock, QEMU's by its own event timestamps; both epoch ms.</footer>`);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
${parts.join('\n')}
</body>
</html>
`;
}

function lead(result: MigrationResult, times: SwitchoverTimes, traffic: ReportTraffic | null): string {
  const total = result.totalTimeMs === null ? 'unknown time' : formatMs(result.totalTimeMs);
  const pieces = [`${result.vm}: ${STATUS_TEXT[result.status] ?? result.status} in ${total}`];
  if (times.downtime) pieces.push(`guest stopped for ${formatMs(times.downtime.end - times.downtime.start)} (QEMU STOP \u2192 RESUME)`);
  if (isSummary(result) && result.orchestratorDowntimeMs !== null) pieces.push(`nicmig's own share of that: ${formatMs(result.orchestratorDowntimeMs)}`);
  if (traffic) pieces.push(`${traffic.report.lost} of ${traffic.report.sent} probes lost`);
  return `${pieces.join('; ')}.`;
}

function renderError(error: Record<string, unknown>): string {
  const rows: [string, string][] = [];
  for (const key of ['code', 'name', 'message', 'exitCode', 'hint'] as const) {
    if (error[key] !== undefined) rows.push([key, String(error[key])]);
  }
  if (error.details !== undefined) rows.push(['details', JSON.stringify(error.details, null, 2)]);
  if (error.cause !== undefined) rows.push(['cause', JSON.stringify(error.cause)]);
  return `<section id="error" class="error"><h2>Error</h2><table>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td><pre>${escapeHtml(v)}</pre></td></tr>`).join('')}</table></section>`;
}

// --- SVG building blocks ----------------------------------------------------------------

const WIDTH = 1200;
const LABEL_WIDTH = 170;
const RIGHT = 70;
const PLOT = WIDTH - LABEL_WIDTH - RIGHT;
const CHAR_WIDTH = 6.6;

interface Axis {
  from: number;
  to: number;
  x(t: number): number;
}

function axis(from: number, to: number): Axis {
  const span = Math.max(to - from, 1);
  return { from, to: from + span, x: (t) => LABEL_WIDTH + ((t - from) / span) * PLOT };
}

function niceStep(span: number, count: number): number {
  const raw = span / Math.max(count, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  return step;
}

const n = (x: number) => (Math.round(x * 10) / 10).toString();

/** Ticks and labels of a time axis, relative to `origin`, in ms or s. */
function timeAxis(a: Axis, origin: number, y: number, unit: 'ms' | 's'): string {
  const step = niceStep(a.to - a.from, 10);
  const out: string[] = [`<line class="axis" x1="${n(a.x(a.from))}" x2="${n(a.x(a.to))}" y1="${y}" y2="${y}"/>`];
  const first = Math.ceil((a.from - origin) / step) * step;
  for (let rel = first; origin + rel <= a.to + 1e-9; rel += step) {
    const x = a.x(origin + rel);
    const label = unit === 's' ? `${(rel / 1000).toFixed(step < 1000 ? (step < 100 ? 2 : 1) : 0)} s` : `${rel > 0 ? '+' : ''}${Math.round(rel)} ms`;
    out.push(`<line class="grid" x1="${n(x)}" x2="${n(x)}" y1="0" y2="${y}"/>`);
    out.push(`<line class="axis" x1="${n(x)}" x2="${n(x)}" y1="${y}" y2="${y + 4}"/>`);
    out.push(`<text class="tick" x="${n(x)}" y="${y + 16}" text-anchor="middle">${escapeHtml(label)}</text>`);
  }
  return out.join('');
}

function rowLabel(y: number, text: string, sub?: string): string {
  return (
    `<text class="row-label" x="${LABEL_WIDTH - 10}" y="${y}" text-anchor="end">${escapeHtml(text)}</text>` +
    (sub ? `<text class="row-sub" x="${LABEL_WIDTH - 10}" y="${y + 13}" text-anchor="end">${escapeHtml(sub)}</text>` : '')
  );
}

/** The downtime window across the whole chart, labelled above it. */
function downtimeBand(a: Axis, times: SwitchoverTimes, top: number, bottom: number): string {
  if (!times.downtime) return '';
  const x1 = a.x(Math.max(times.downtime.start, a.from));
  const x2 = a.x(Math.min(times.downtime.end, a.to));
  const width = Math.max(x2 - x1, 2);
  const label = `downtime ${formatMs(times.downtime.end - times.downtime.start)}`;
  const middle = x1 + width / 2;
  const anchor = middle + (label.length * CHAR_WIDTH) / 2 > WIDTH ? 'end' : middle - (label.length * CHAR_WIDTH) / 2 < LABEL_WIDTH ? 'start' : 'middle';
  return (
    `<g class="downtime"><rect class="downtime-band" x="${n(x1)}" y="${top}" width="${n(width)}" height="${bottom - top}"><title>${escapeHtml(label)} (source STOP to destination RESUME)</title></rect>` +
    `<text class="downtime-label" x="${n(anchor === 'end' ? x1 + width : anchor === 'start' ? x1 : middle)}" y="${top - 6}" text-anchor="${anchor}">${escapeHtml(label)}</text></g>`
  );
}

/** One row per phase: its bar, its duration (or skipped/failed) beside it. */
function phaseRows(a: Axis, spans: PhaseSpan[], top: number, rowHeight: number, onlyVisible: boolean): { svg: string; height: number } {
  const out: string[] = [];
  let y = top;
  for (const span of spans) {
    if (onlyVisible && (span.end < a.from || span.start > a.to || span.state === 'skipped')) continue;
    const x1 = a.x(Math.max(span.start, a.from));
    const x2 = a.x(Math.min(span.end, a.to));
    const width = Math.max(x2 - x1, span.state === 'skipped' ? 0 : 2);
    out.push(rowLabel(y + rowHeight / 2 + 4, span.phase));
    const note = span.state === 'skipped' ? `skipped${span.detail ? ` (${span.detail})` : ''}` : `${formatMs(span.end - span.start)}${span.state === 'failed' ? ' FAILED' : span.state === 'running' ? ' (unfinished)' : ''}`;
    if (span.state !== 'skipped') {
      out.push(
        `<rect class="phase phase-${span.phase} ${span.state}" x="${n(x1)}" y="${y + 3}" width="${n(width)}" height="${rowHeight - 6}" fill="${PHASE_COLOURS[span.phase]}"><title>${escapeHtml(`${span.phase}: ${note}${span.detail ? ` - ${span.detail}` : ''}`)}</title></rect>`,
      );
    }
    const textWidth = note.length * CHAR_WIDTH;
    const after = x1 + width + 6;
    const textX = after + textWidth <= WIDTH - 4 ? after : Math.max(LABEL_WIDTH + 2, x1 - 6 - textWidth);
    out.push(`<text class="phase-note${span.state === 'failed' ? ' failed' : ''}" x="${n(textX)}" y="${y + rowHeight / 2 + 4}">${escapeHtml(note)}</text>`);
    y += rowHeight;
  }
  return { svg: out.join(''), height: y - top };
}

interface Marker {
  time: number;
  label: string;
  tone: string;
}

/** Markers on one row with their labels stacked so none overlaps another. */
function markerRow(a: Axis, markers: Marker[], top: number, lineHeight: number, maxLines: number): { svg: string; height: number } {
  const lineEnds: number[] = [];
  const out: string[] = [];
  let lines = 1;
  for (const marker of [...markers].sort((p, q) => p.time - q.time)) {
    if (marker.time < a.from || marker.time > a.to) continue;
    const x = a.x(marker.time);
    const width = marker.label.length * CHAR_WIDTH + 8;
    let line = lineEnds.findIndex((end) => end < x);
    if (line === -1) line = lineEnds.length < maxLines ? lineEnds.length : lineEnds.indexOf(Math.min(...lineEnds));
    lineEnds[line] = x + width;
    lines = Math.max(lines, line + 1);
    const y = top + line * lineHeight;
    out.push(`<line class="marker ${marker.tone}" x1="${n(x)}" x2="${n(x)}" y1="${top - 2}" y2="${y + lineHeight - 4}"/>`);
    out.push(`<circle class="marker ${marker.tone}" cx="${n(x)}" cy="${top - 2}" r="3"/>`);
    out.push(`<text class="marker-label" x="${n(x + 4)}" y="${y + lineHeight - 5}">${escapeHtml(marker.label)}</text>`);
  }
  return { svg: out.join(''), height: lines * lineHeight + 4 };
}

function qemuMarkers(timeline: MigrationTimeline, side: 'source' | 'destination'): Marker[] {
  return timeline.qemu
    .filter((e) => e.side === side && e.time > 0)
    .map((e) => ({
      time: e.time,
      label: e.status ? e.status : e.event,
      tone: e.event === 'STOP' ? 'stop' : e.event === 'RESUME' ? 'resume' : e.status === 'failed' || e.status === 'cancelled' ? 'failed' : 'qemu',
    }));
}

/** A line (or step) chart of values over time, with its y-axis maximum labelled. */
function lineChart(a: Axis, points: [number, number][], top: number, height: number, cls: string, format: (v: number) => string): string {
  const inside = points.filter(([t]) => t >= a.from && t <= a.to);
  const highest = Math.max(0, ...inside.map(([, v]) => v));
  const max = Math.max(1, highest);
  const y = (v: number) => top + height - (v / max) * height;
  const out = [`<line class="axis" x1="${LABEL_WIDTH}" x2="${LABEL_WIDTH + PLOT}" y1="${top + height}" y2="${top + height}"/>`];
  if (highest > 0) out.push(`<text class="y-label" x="${LABEL_WIDTH + PLOT + 4}" y="${top + 9}">${escapeHtml(format(max))}</text>`);
  out.push(`<text class="y-label" x="${LABEL_WIDTH + PLOT + 4}" y="${top + height}">0</text>`);
  if (inside.length === 0) {
    out.push(`<text class="empty" x="${LABEL_WIDTH + 8}" y="${top + height / 2 + 4}">no samples</text>`);
    return out.join('');
  }
  const coords = inside.map(([t, v]) => `${n(a.x(t))},${n(y(v))}`);
  const first = inside[0] as [number, number];
  const last = inside[inside.length - 1] as [number, number];
  out.push(`<polygon class="${cls} area" points="${n(a.x(first[0]))},${top + height} ${coords.join(' ')} ${n(a.x(last[0]))},${top + height}"/>`);
  out.push(`<polyline class="${cls}" points="${coords.join(' ')}"/>`);
  for (const [t, v] of inside) out.push(`<circle class="${cls} dot" cx="${n(a.x(t))}" cy="${n(y(v))}" r="2.5"><title>${escapeHtml(format(v))}</title></circle>`);
  return out.join('');
}

/** Bars of probes received per bin; empty bins are the traffic gap. */
function trafficBars(a: Axis, arrivals: readonly number[], binMs: number, top: number, height: number, maxHint: number | null): string {
  const bins = histogram(arrivals, a.from, a.to, binMs);
  const max = Math.max(1, maxHint ?? 0, ...bins);
  const out = [`<line class="axis" x1="${LABEL_WIDTH}" x2="${LABEL_WIDTH + PLOT}" y1="${top + height}" y2="${top + height}"/>`];
  out.push(`<text class="y-label" x="${LABEL_WIDTH + PLOT + 4}" y="${top + 9}">${max}</text>`);
  out.push(`<text class="y-label" x="${LABEL_WIDTH + PLOT + 4}" y="${top + height}">0</text>`);
  const barWidth = Math.max((a.x(a.from + binMs) - a.x(a.from)) * 0.85, 0.6);
  bins.forEach((count, index) => {
    if (count === 0) return;
    const h = (count / max) * height;
    out.push(`<rect class="probes" x="${n(a.x(a.from + index * binMs))}" y="${n(top + height - h)}" width="${n(barWidth)}" height="${n(h)}"/>`);
  });
  // The longest run of empty bins, named: the gap a person is looking for.
  let best: [number, number] | null = null;
  let runStart = -1;
  bins.forEach((count, index) => {
    if (count === 0 && runStart < 0) runStart = index;
    if ((count !== 0 || index === bins.length - 1) && runStart >= 0) {
      const end = count === 0 ? index + 1 : index;
      if (!best || end - runStart > best[1] - best[0]) best = [runStart, end];
      runStart = -1;
    }
  });
  const gap = best as [number, number] | null;
  if (gap && (gap[1] - gap[0]) * binMs >= 5 * binMs) {
    const x1 = a.x(a.from + gap[0] * binMs);
    const x2 = a.x(a.from + gap[1] * binMs);
    const label = `no probes for ${formatMs((gap[1] - gap[0]) * binMs)}`;
    out.push(`<line class="gap" x1="${n(x1)}" x2="${n(x2)}" y1="${top + height / 2}" y2="${top + height / 2}"/>`);
    const middle = (x1 + x2) / 2;
    out.push(`<text class="gap-label" x="${n(Math.min(Math.max(middle, LABEL_WIDTH + 60), WIDTH - 80))}" y="${top + height / 2 - 5}" text-anchor="middle">${escapeHtml(label)}</text>`);
  }
  return out.join('');
}

function svg(height: number, id: string, label: string, body: string): string {
  return `<svg id="${id}" class="chart" xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${Math.ceil(height)}" viewBox="0 0 ${WIDTH} ${Math.ceil(height)}" role="img" aria-label="${escapeHtml(label)}">${body}</svg>`;
}

function progressEvents(timeline: MigrationTimeline) {
  return timeline.events.filter((e): e is Extract<MigrationEvent, { type: 'progress' }> & { time: number } => e.type === 'progress');
}

// --- the overview: the whole migration ---------------------------------------------------

function renderOverview(timeline: MigrationTimeline, spans: PhaseSpan[], times: SwitchoverTimes, traffic: ReportTraffic | null, finalBytes: number | null): string {
  const start = firstTime(timeline);
  const end = lastTime(timeline);
  const a = axis(start, end);
  const out: string[] = [];
  const top = 24;
  let y = top;
  const phases = phaseRows(a, spans, y, 24, false);
  out.push(phases.svg);
  y += phases.height + 12;

  for (const side of ['source', 'destination'] as const) {
    const markers = qemuMarkers(timeline, side);
    if (markers.length === 0) continue;
    out.push(rowLabel(y + 10, `QEMU ${side}`, 'events'));
    const row = markerRow(a, markers, y + 2, 14, 4);
    out.push(row.svg);
    y += Math.max(row.height, 30) + 8;
  }

  const progress = progressEvents(timeline);
  const precopy = spans.find((s) => s.phase === 'precopy' && s.state !== 'skipped');
  if (precopy || progress.length > 0) {
    // Pre-copy passes as sampled: a pass starts where the samples first show its number.
    out.push(rowLabel(y + 14, 'pre-copy passes', 'as sampled'));
    const passStarts: { pass: number; time: number }[] = [];
    const activeAt = timeline.qemu.find((e) => e.side === 'source' && e.event === 'MIGRATION' && e.status === 'active')?.time ?? precopy?.start;
    if (activeAt !== undefined) passStarts.push({ pass: 1, time: activeAt });
    for (const p of progress) if (!passStarts.some((s) => s.pass === p.pass) && p.pass > (passStarts[passStarts.length - 1]?.pass ?? 0)) passStarts.push({ pass: p.pass, time: p.time });
    const passEnd = times.stop ?? times.preSwitchover ?? precopy?.end ?? end;
    passStarts.forEach((s, index) => {
      const next = passStarts[index + 1]?.time ?? passEnd;
      const x1 = a.x(s.time);
      const width = Math.max(a.x(next) - x1, 1);
      out.push(`<rect class="pass ${index % 2 ? 'odd' : 'even'}" x="${n(x1)}" y="${y + 3}" width="${n(width)}" height="20"><title>pass ${s.pass}</title></rect>`);
      const label = `pass ${s.pass}`;
      if (label.length * CHAR_WIDTH + 6 < width) out.push(`<text class="pass-label" x="${n(x1 + 4)}" y="${y + 17}">${escapeHtml(label)}</text>`);
    });
    y += 34;

    out.push(rowLabel(y + 30, 'bytes sent', 'cumulative'));
    const bytes: [number, number][] = progress.map((p) => [p.time, p.transferred]);
    // QEMU's final count, at the end of the stream, when the migration completed.
    const streamEnd = times.completed ?? times.device;
    if (finalBytes !== null && streamEnd !== undefined) bytes.push([streamEnd, finalBytes]);
    if (activeAt !== undefined && bytes.length > 0) bytes.unshift([activeAt, 0]);
    out.push(lineChart(a, bytes, y, 60, 'bytes', formatBytes));
    y += 72;

    out.push(rowLabel(y + 30, 'dirty rate', 'per second'));
    out.push(lineChart(a, progress.map((p) => [p.time, p.dirtyBytesPerSecond]), y, 60, 'dirty', (v) => `${formatBytes(v)}/s`));
    y += 72;
  }

  if (traffic) {
    const binMs = Math.max(1, niceStep(end - start, 300));
    out.push(rowLabel(y + 30, 'probes back', `per ${binMs} ms`));
    out.push(trafficBars(a, traffic.arrivals, binMs, y, 60, traffic.ratePerSecond ? Math.ceil((traffic.ratePerSecond * binMs) / 1000) : null));
    y += 72;
  }

  const axisY = y + 4;
  const body = [timeAxis(a, start, axisY, 's'), downtimeBand(a, times, top - 4, axisY), ...out].join('');
  return svg(axisY + 26, 'overview', 'phases, passes, bytes, dirty rate and traffic over the migration', body);
}

// --- the switchover, zoomed --------------------------------------------------------------

function renderSwitchover(timeline: MigrationTimeline, spans: PhaseSpan[], times: SwitchoverTimes, traffic: ReportTraffic | null): string {
  const downtime = times.downtime as { start: number; end: number };
  const length = downtime.end - downtime.start;
  const pad = Math.max(20, length * 0.35);
  const a = axis(Math.floor(downtime.start - pad), Math.ceil(downtime.end + pad));
  const out: string[] = [];
  const top = 24;
  let y = top;
  const phases = phaseRows(a, spans, y, 22, true);
  out.push(phases.svg);
  y += phases.height + 10;

  for (const side of ['source', 'destination'] as const) {
    out.push(rowLabel(y + 10, `QEMU ${side}`, 'events'));
    const row = markerRow(a, qemuMarkers(timeline, side), y + 2, 14, 4);
    out.push(row.svg);
    y += Math.max(row.height, 30) + 8;
  }

  // Who the guest waits for inside the downtime.
  out.push(rowLabel(y + 14, 'inside the downtime', 'who the guest waits for'));
  const windows: { from: number | undefined; to: number | undefined; label: string; cls: string }[] = [
    { from: downtime.start, to: times.preSwitchover, label: 'QEMU stops', cls: 'qemu-work' },
    { from: times.preSwitchover, to: times.device, label: 'nicmig: quiesce VF', cls: 'nicmig-work' },
    { from: times.device, to: times.completed, label: 'QEMU: last RAM + device state', cls: 'qemu-work' },
    { from: times.completed, to: times.resume, label: 'nicmig: replay VF, cont', cls: 'nicmig-work' },
  ];
  for (const w of windows) {
    if (w.from === undefined || w.to === undefined || w.to < w.from) continue;
    const x1 = a.x(w.from);
    const width = Math.max(a.x(w.to) - x1, 1.5);
    const label = `${w.label} ${formatMs(w.to - w.from)}`;
    out.push(`<rect class="window ${w.cls}" x="${n(x1)}" y="${y + 2}" width="${n(width)}" height="22"><title>${escapeHtml(label)}</title></rect>`);
    if (label.length * CHAR_WIDTH + 6 < width) out.push(`<text class="window-label" x="${n(x1 + 4)}" y="${y + 17}">${escapeHtml(label)}</text>`);
  }
  y += 30;
  // Labels of windows too narrow to hold them, stacked underneath.
  const narrow = windows.filter((w) => w.from !== undefined && w.to !== undefined && w.to >= w.from && `${w.label} ${formatMs(w.to - w.from)}`.length * CHAR_WIDTH + 6 >= a.x(w.to) - a.x(w.from));
  if (narrow.length > 0) {
    const row = markerRow(
      a,
      narrow.map((w) => ({ time: w.from as number, label: `${w.label} ${formatMs((w.to as number) - (w.from as number))}`, tone: w.cls })),
      y + 2,
      14,
      4,
    );
    out.push(row.svg);
    y += row.height + 6;
  }

  if (traffic) {
    out.push(rowLabel(y + 40, 'probes back', 'per millisecond'));
    out.push(trafficBars(a, traffic.arrivals, 1, y, 80, traffic.ratePerSecond ? Math.ceil(traffic.ratePerSecond / 1000) : null));
    y += 92;
  }

  const axisY = y + 4;
  const body = [timeAxis(a, downtime.start, axisY, 'ms'), downtimeBand(a, times, top - 4, axisY), ...out].join('');
  return (
    svg(axisY + 26, 'switchover-chart', 'the switchover: QEMU events, nicmig windows and probes per millisecond', body) +
    `<p class="caption">Time relative to the source's STOP. Shaded: the guest's downtime, source STOP to destination RESUME (QEMU's timestamps).</p>`
  );
}

// --- tables ---------------------------------------------------------------------------

function renderSummaryTable(result: MigrationResult, traffic: ReportTraffic | null): string {
  const rows: [string, string][] = [
    ['status', STATUS_TEXT[result.status] ?? result.status],
    ['VM', result.vm],
    ['from \u2192 to', `${result.from ?? '?'} \u2192 ${result.to}`],
  ];
  const ms = (v: number | null) => (v === null ? '-' : formatMs(v));
  if (isSummary(result)) {
    rows.push(['strategy', result.strategy]);
    rows.push(['destination built from', describeDestination(result)]);
    rows.push(['total time', ms(result.totalTimeMs)]);
    rows.push(['downtime (QEMU)', ms(result.downtimeMs)]);
    rows.push(['downtime (STOP \u2192 RESUME, measured)', ms(result.measuredDowntimeMs)]);
    const windows = result.orchestratorWindowsMs;
    rows.push(['nicmig inside the downtime', `${ms(result.orchestratorDowntimeMs)}${windows ? ` (switchover ${formatMs(windows.switchover)}, before resume ${formatMs(windows.resume)})` : ''}`]);
    rows.push(['bytes sent', result.bytes === null ? '-' : formatBytes(result.bytes)]);
    rows.push(['passes', result.passes === null ? '-' : String(result.passes)]);
    if (result.replay) {
      rows.push(['VF messages replayed / captured', `${result.replay.replayed} / ${result.replay.captured}`]);
      rows.push(['VF state verified', result.replay.verified ? 'yes' : 'NO']);
    } else rows.push(['VF replay', 'none']);
  } else {
    rows.push(['total time', ms(result.totalTimeMs)]);
    rows.push(['error', `${String(result.error.code ?? '')}: ${String(result.error.message ?? '')}`]);
  }
  if (traffic) {
    const t = traffic.report;
    rows.push(['probes', `${t.sent} sent, ${t.received} back, ${t.duplicated} duplicated, ${t.reordered} reordered`]);
    rows.push(['frames lost', `${t.lost} (longest run ${t.longestLossRun})`]);
    rows.push(['longest traffic gap', formatMs(t.longestGapMs)]);
  }
  if (result.journal) rows.push(['journal', result.journal]);
  if (isSummary(result)) for (const warning of [...result.preflightWarnings, ...result.cleanupWarnings]) rows.push(['warning', warning]);
  return `<table class="summary">${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>`;
}

function renderEventList(timeline: MigrationTimeline): string {
  const start = firstTime(timeline);
  const rows: { time: number; who: string; what: string }[] = [
    ...timeline.events.map((e) => ({ time: e.time, who: 'nicmig', what: describeEvent(e) })),
    ...timeline.qemu.filter((e) => e.time > 0).map((e) => ({ time: e.time, who: `QEMU ${e.side}`, what: `${e.event}${e.status ? ` ${e.status}` : ''}` })),
  ].sort((p, q) => p.time - q.time);
  return (
    `<details id="events"><summary>All ${rows.length} events</summary><table class="events"><tr><th>at</th><th>from</th><th>event</th></tr>` +
    rows.map((r) => `<tr><td class="num">${escapeHtml(`+${(r.time - start).toFixed(1)} ms`)}</td><td>${escapeHtml(r.who)}</td><td>${escapeHtml(r.what)}</td></tr>`).join('') +
    '</table></details>'
  );
}

function describeEvent(event: MigrationEvent): string {
  switch (event.type) {
    case 'phase':
      return `${event.phase} ${event.state}${event.detail ? `: ${event.detail}` : ''}`;
    case 'progress':
      return `pass ${event.pass}: ${formatBytes(event.transferred)} sent, ${formatBytes(event.remaining)} left, dirty ${formatBytes(event.dirtyBytesPerSecond)}/s`;
    case 'rollback':
      return `rollback ${event.step}: ${event.ok ? 'ok' : 'FAILED'}${event.detail ? ` (${event.detail})` : ''}`;
    case 'warning':
      return `warning: ${event.message}`;
    case 'downtime-limit':
      return `downtime limit ${event.limitMs} ms: ${event.reason}`;
    case 'log':
      return event.message;
  }
}

// --- small helpers ------------------------------------------------------------------------

function firstTime(timeline: MigrationTimeline): number {
  const times = [...timeline.events.map((e) => e.time), ...timeline.qemu.map((e) => e.time).filter((t) => t > 0)];
  return times.length > 0 ? Math.min(...times) : 0;
}

function lastTime(timeline: MigrationTimeline): number {
  const times = [...timeline.events.map((e) => e.time), ...timeline.qemu.map((e) => e.time).filter((t) => t > 0)];
  return times.length > 0 ? Math.max(...times) : 0;
}

function formatMs(ms: number): string {
  if (Math.abs(ms) >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (Math.abs(ms) >= 10) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#222;margin:24px auto;max-width:1240px;padding:0 20px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.status{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600;margin:4px 0}
.status.ok{background:#dff3e0;color:#1b5e20}.status.bad{background:#fde2e1;color:#b71c1c}
.lead{margin:6px 0 0;color:#444}
.error{border:2px solid #d32f2f;background:#fff5f5;padding:4px 14px 10px;border-radius:6px;margin-top:16px}
.error h2{color:#b71c1c;border:0}.error pre{margin:0;white-space:pre-wrap;font:13px ui-monospace,"DejaVu Sans Mono",monospace}
table{border-collapse:collapse}th,td{text-align:left;padding:3px 12px 3px 0;vertical-align:top}
table.summary th{font-weight:500;color:#555;white-space:nowrap}table.summary td{font-variant-numeric:tabular-nums}
table.events td,table.events th{font-size:12px;padding:1px 12px 1px 0}td.num{text-align:right;font-variant-numeric:tabular-nums}
details{margin-top:24px}summary{cursor:pointer;color:#555}
.caption{color:#666;font-size:12px;margin:2px 0 0}footer{margin-top:28px;color:#888;font-size:12px}
svg.chart{display:block;max-width:100%;height:auto;font-family:system-ui,"DejaVu Sans",sans-serif}
svg .axis{stroke:#888;stroke-width:1}svg .grid{stroke:#eee;stroke-width:1}
svg .tick,svg .y-label{font-size:11px;fill:#666}
svg .row-label{font-size:12px;fill:#333;font-weight:600}svg .row-sub{font-size:10px;fill:#888}
svg .phase-note{font-size:11px;fill:#444}svg .phase-note.failed{fill:#c62828;font-weight:700}
svg rect.phase.failed{stroke:#c62828;stroke-width:2}svg rect.phase.running{opacity:.5}
svg .downtime-band{fill:#e53935;fill-opacity:.16;stroke:#e53935;stroke-width:1;stroke-opacity:.6}
svg .downtime-label{font-size:12px;font-weight:700;fill:#c62828}
svg line.marker{stroke:#999;stroke-width:1}svg circle.marker{fill:#777}
svg .marker.stop{stroke:#c62828;fill:#c62828}svg .marker.resume{stroke:#2e7d32;fill:#2e7d32}svg .marker.failed{stroke:#c62828;fill:#c62828}
svg .marker.nicmig-work{stroke:#6a1b9a;fill:#6a1b9a}svg .marker.qemu-work{stroke:#1565c0;fill:#1565c0}
svg .marker-label{font-size:11px;fill:#333}
svg rect.pass.even{fill:#c5d5ea}svg rect.pass.odd{fill:#9fb8db}svg .pass-label{font-size:11px;fill:#1f3b63}
svg polyline.bytes{fill:none;stroke:#1565c0;stroke-width:2}svg polygon.bytes{fill:#1565c0;fill-opacity:.12;stroke:none}svg circle.bytes{fill:#1565c0}
svg polyline.dirty{fill:none;stroke:#ef6c00;stroke-width:2}svg polygon.dirty{fill:#ef6c00;fill-opacity:.12;stroke:none}svg circle.dirty{fill:#ef6c00}
svg rect.probes{fill:#2e7d32}svg line.gap{stroke:#c62828;stroke-width:2;stroke-dasharray:4 3}svg .gap-label{font-size:12px;font-weight:700;fill:#c62828}
svg rect.window.nicmig-work{fill:#8e24aa;fill-opacity:.75}svg rect.window.qemu-work{fill:#1e88e5;fill-opacity:.45}svg .window-label{font-size:11px;fill:#fff;font-weight:600}
svg .empty{font-size:11px;fill:#999;font-style:italic}
`;

// --- the file edge (used by the commands) -------------------------------------------------

/**
 * Checks, before anything moves, that `file` can be written: its directory exists and is
 * writable, and it is not a directory. Returns the absolute path. The check opens the file
 * for appending (so it tests the real permission, also for root on a read-only mount) and
 * removes it again if it did not exist.
 */
export function checkReportPath(file: string): string {
  const absolute = path.resolve(file);
  const directory = path.dirname(absolute);
  const fail = (reason: string, cause?: unknown) =>
    new UsageError('BAD_REPORT_PATH', `--report ${file}: ${reason}`, { cause, details: { path: absolute }, hint: 'give a file in an existing, writable directory, e.g. --report ./migration.html' });
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(directory);
  } catch (error) {
    throw fail(`directory ${directory} does not exist`, error);
  }
  if (!stat.isDirectory()) throw fail(`${directory} is not a directory`);
  const existed = fs.existsSync(absolute);
  if (existed && fs.statSync(absolute).isDirectory()) throw fail('is a directory');
  try {
    fs.closeSync(fs.openSync(absolute, 'a'));
  } catch (error) {
    throw fail(`cannot write there (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, error);
  }
  if (!existed) fs.rmSync(absolute, { force: true });
  return absolute;
}

/** Writes the page next to its final name, then renames it into place. */
export function writeReportFile(file: string, html: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temporary, html);
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
}
