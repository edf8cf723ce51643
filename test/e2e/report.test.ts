import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { describeWithChromium, dumpDom, pngPixels, screenshot } from '../helpers/chromium.js';

jest.setTimeout(120_000);

/** Kept after the run, so a person can look at the page and its screenshot. */
const ARTIFACTS = process.env.NICMIG_REPORT_ARTIFACTS ?? path.join(os.tmpdir(), 'nicmig-report-e2e');

describeWithChromium('nicmig demo --report, rendered by Chromium', (chromium) => {
  const file = path.join(ARTIFACTS, 'demo-report.html');
  const png = path.join(ARTIFACTS, 'demo-report.png');
  let stderr = '';

  beforeAll(async () => {
    fs.rmSync(ARTIFACTS, { recursive: true, force: true });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const result = await runCli(['demo', '--memory', '64', '--report', file], { timeoutMs: 90_000 });
    stderr = result.stderr;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/vm1 now runs on hostB/);
  });

  it('writes the page and says where', () => {
    expect(stderr).toContain(`Report: ${file}`);
    const html = fs.readFileSync(file, 'utf8');
    expect(html).not.toMatch(/<script|\s(src|href)=/i);
  });

  it('the rendered DOM has the title, every phase, the downtime label, both charts and the summary', async () => {
    const dom = await dumpDom(chromium, file);
    expect(dom).toMatch(/<h1>nicmig: vm1 hostA → hostB<\/h1>/);
    expect(dom).toMatch(/id="status">migrated</);
    for (const phase of ['resolve', 'preflight', 'prepare', 'precopy', 'switchover', 'replay', 'resume', 'cleanup']) {
      expect(dom).toMatch(new RegExp(`<text class="row-label"[^>]*>${phase}</text>`));
    }
    expect(dom).toMatch(/<svg id="overview"/);
    expect(dom).toMatch(/<svg id="switchover-chart"/);
    expect(dom.match(/class="downtime-label"[^>]*>downtime \d+(\.\d)? ms</g)).toHaveLength(2);
    expect(dom).toMatch(/per millisecond/);
    expect(dom).toMatch(/<rect class="probes"/);
    expect(dom).toMatch(/<th>frames lost<\/th><td>\d+ \(longest run \d+\)<\/td>/);
    expect(dom).toMatch(/<th>VF messages replayed \/ captured<\/th><td>\d+ \/ \d+<\/td>/);
    expect(dom).toMatch(/<th>VF state verified<\/th><td>yes<\/td>/);
  });

  it('the screenshot shows the charts: phase bars, the shaded downtime, probe bars', async () => {
    await screenshot(chromium, file, png, { width: 1280, height: 1600 });
    const image = pngPixels(fs.readFileSync(png));
    expect([image.width, image.height]).toEqual([1280, 1600]);
    const count = (match: (r: number, g: number, b: number) => boolean) => {
      let n = 0;
      for (let y = 0; y < image.height; y += 2) for (let x = 0; x < image.width; x += 2) if (match(...image.rgb(x, y))) n++;
      return n;
    };
    const near = (r0: number, g0: number, b0: number, tolerance = 12) => (r: number, g: number, b: number) =>
      Math.abs(r - r0) <= tolerance && Math.abs(g - g0) <= tolerance && Math.abs(b - b0) <= tolerance;
    // precopy's bar (#4f81bd), the downtime band (#e53935 at 16% on white), the probes (#2e7d32).
    expect(count(near(0x4f, 0x81, 0xbd))).toBeGreaterThan(200);
    expect(count(near(251, 225, 225, 8))).toBeGreaterThan(1000);
    expect(count(near(0x2e, 0x7d, 0x32, 20))).toBeGreaterThan(20);
    process.stderr.write(`report screenshot: ${png}\n`);
  });
});

describe('--report with a path that cannot be written', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-report-bad-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('nicmig demo refuses it with BAD_REPORT_PATH (exit 2) before the lab starts', async () => {
    const result = await runCli(['demo', '--memory', '64', '--report', path.join(dir, 'missing', 'r.html'), '--json']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'error', error: { code: 'BAD_REPORT_PATH', exitCode: 2 } });
    expect(result.stderr).not.toMatch(/Lab:/);
  });

  it('nicmig migrate refuses a directory as the report before it connects to any host', async () => {
    const config = path.join(dir, 'config.yaml');
    fs.writeFileSync(
      config,
      [
        `stateDir: ${JSON.stringify(path.join(dir, 'state'))}`,
        'hosts:',
        `  hostA: {kind: sim, runDir: ${JSON.stringify(path.join(dir, 'hostA'))}, migrationAddress: 127.0.0.1}`,
        `  hostB: {kind: sim, runDir: ${JSON.stringify(path.join(dir, 'hostB'))}, migrationAddress: 127.0.0.1}`,
        'vms:',
        '  - {name: vm1, memoryMiB: 64, vcpus: 1}',
        '',
      ].join('\n'),
    );
    const result = await runCli(['migrate', 'vm1', 'hostB', '--config', config, '--report', dir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--report .* is a directory \[BAD_REPORT_PATH\]/);
    // Nothing was started or claimed.
    expect(fs.existsSync(path.join(dir, 'state', 'journal'))).toBe(false);
  });
});
