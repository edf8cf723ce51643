import { execFile, execFileSync } from 'node:child_process';
import { describe } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { pathToFileURL } from 'node:url';

/**
 * Headless Chromium (Debian package `chromium`) to look at a page as a person would: a
 * screenshot, or the DOM after rendering. Every run gets a fresh profile and no network
 * side-traffic (no sync, updates or background requests).
 */
export function findChromium(): string | null {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || null;
    } catch {
      // not this one
    }
  }
  return null;
}

export interface ChromiumRun {
  stdout: string;
  stderr: string;
}

function flags(profile: string): string[] {
  return [
    '--headless',
    ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--hide-scrollbars',
    `--user-data-dir=${profile}`,
  ];
}

function run(binary: string, args: string[], timeoutMs: number): Promise<ChromiumRun> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-chromium-'));
  return new Promise<ChromiumRun>((resolve, reject) => {
    execFile(binary, [...flags(profile), ...args], { timeout: timeoutMs, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      fs.rmSync(profile, { recursive: true, force: true });
      if (error) reject(new Error(`chromium ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** Renders `file` at `width` x `height` and writes a PNG screenshot to `png`. */
export async function screenshot(binary: string, file: string, png: string, size = { width: 1280, height: 1600 }, timeoutMs = 60_000): Promise<ChromiumRun> {
  const result = await run(binary, [`--screenshot=${png}`, `--window-size=${size.width},${size.height}`, pathToFileURL(file).href], timeoutMs);
  if (!fs.existsSync(png)) throw new Error(`chromium wrote no screenshot to ${png}\n${result.stderr}`);
  return result;
}

/** The DOM after Chromium parsed and laid out `file` (as serialized HTML). */
export async function dumpDom(binary: string, file: string, timeoutMs = 60_000): Promise<string> {
  return (await run(binary, ['--dump-dom', pathToFileURL(file).href], timeoutMs)).stdout;
}

/** Width and height of a PNG, from its IHDR chunk. */
export function pngSize(png: Buffer): { width: number; height: number } {
  if (png.length < 24 || png.toString('latin1', 1, 4) !== 'PNG') throw new Error('not a PNG');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/** The RGB of every pixel of an 8-bit RGB or RGBA PNG, non-interlaced (what Chromium writes). */
export function pngPixels(png: Buffer): { width: number; height: number; rgb: (x: number, y: number) => [number, number, number] } {
  const { width, height } = pngSize(png);
  const colourType = png.readUInt8(25);
  if (png.readUInt8(24) !== 8 || (colourType !== 2 && colourType !== 6) || png.readUInt8(28) !== 0) throw new Error('only 8-bit RGB/RGBA, non-interlaced PNGs');
  const channels = colourType === 6 ? 4 : 3;
  const idat: Buffer[] = [];
  for (let offset = 8; offset < png.length; ) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    if (type === 'IDAT') idat.push(png.subarray(offset + 8, offset + 8 + length));
    offset += 12 + length;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] ?? 0;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const left = i >= channels ? (pixels[y * stride + i - channels] ?? 0) : 0;
      const up = y > 0 ? (pixels[(y - 1) * stride + i] ?? 0) : 0;
      const upLeft = y > 0 && i >= channels ? (pixels[(y - 1) * stride + i - channels] ?? 0) : 0;
      const value = line[i] ?? 0;
      let predicted = 0;
      if (filter === 1) predicted = left;
      else if (filter === 2) predicted = up;
      else if (filter === 3) predicted = (left + up) >> 1;
      else if (filter === 4) {
        const p = left + up - upLeft;
        const [a, b, c] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
        predicted = a <= b && a <= c ? left : b <= c ? up : upLeft;
      }
      pixels[y * stride + i] = (value + predicted) & 0xff;
    }
  }
  return {
    width,
    height,
    rgb: (x, y) => {
      const at = y * stride + x * channels;
      return [pixels[at] ?? 0, pixels[at + 1] ?? 0, pixels[at + 2] ?? 0];
    },
  };
}

/**
 * `describe` for suites that need Chromium: without it the suite is skipped with a loud
 * note, except under CI=true, where a missing Chromium fails the run (CI must never pass
 * because the browser check quietly did not run).
 */
export function describeWithChromium(name: string, body: (chromium: string) => void): void {
  const binary = findChromium();
  if (binary) {
    describe(name, () => body(binary));
    return;
  }
  if (process.env.CI === 'true') throw new Error(`chromium not found but CI=true: the browser suite "${name}" must run (apt-get install chromium)`);
  process.stderr.write(`SKIPPED browser suite "${name}": chromium not found (apt-get install chromium)\n`);
  describe.skip(name, () => body('chromium'));
}
