import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { CaptureError } from '../../../src/vfio/errors.js';
import { readCaptureFile } from '../../../src/vfio/read-capture.js';

const FIXTURE = path.join(process.cwd(), 'fixtures', 'captures', 'iavf-init.cap');

async function failure(promise: Promise<unknown>): Promise<CaptureError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CaptureError);
    return error as CaptureError;
  }
  throw new Error('the capture was read');
}

describe('readCaptureFile: bounded input', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-capture-${process.pid}-`));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses /dev/zero at once, without reading it', async () => {
    const started = performance.now();
    const error = await failure(readCaptureFile('/dev/zero'));
    expect(error.code).toBe('CAPTURE_UNREADABLE');
    expect(error.message).toContain('/dev/zero: cannot read the capture: a character device');
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('refuses a directory', async () => {
    expect((await failure(readCaptureFile(dir))).message).toContain('a directory');
  });

  it('refuses a regular file over the limit before reading it', async () => {
    const file = path.join(dir, 'big.cap');
    fs.writeFileSync(file, Buffer.alloc(4096));
    const error = await failure(readCaptureFile(file, { maxBytes: 1024 }));
    expect(error).toMatchObject({ code: 'CAPTURE_TOO_LARGE', exitCode: 4, details: { size: 4096, limit: 1024 } });
  });

  it('reads a FIFO up to the limit, and refuses one byte more', async () => {
    const fifo = path.join(dir, 'aq.fifo');
    execFileSync('mkfifo', [fifo]);
    const bytes = fs.readFileSync(FIXTURE);
    const writer = (data: Buffer) => new Promise<void>((resolve, reject) => fs.writeFile(fifo, data, (error) => (error ? reject(error) : resolve())));
    const [parsed] = await Promise.all([readCaptureFile(fifo, { maxBytes: bytes.length }), writer(bytes)]);
    expect(parsed.error ?? undefined).toBeUndefined();
    expect(parsed.records.length).toBeGreaterThan(0);
    // A writer that would go on for ever (here: 1 MiB) stops being read at the limit.
    const reading = failure(readCaptureFile(fifo, { maxBytes: 64 * 1024 }));
    const writing = writer(Buffer.alloc(1 << 20)).catch(() => undefined);
    expect((await reading).code).toBe('CAPTURE_TOO_LARGE');
    // The writer ends either way (EPIPE once the reader is gone): nothing is left open.
    await writing;
  });

  it('reads - from standard input, with the same limit', async () => {
    const bytes = fs.readFileSync(FIXTURE);
    const stdin = new PassThrough();
    stdin.end(bytes);
    const parsed = await readCaptureFile('-', { stdin });
    expect(parsed.records.length).toBeGreaterThan(0);
    const endless = new PassThrough();
    endless.write(Buffer.alloc(2048));
    endless.write(Buffer.alloc(2048));
    expect((await failure(readCaptureFile('-', { stdin: endless, maxBytes: 3000 }))).code).toBe('CAPTURE_TOO_LARGE');
  });
});
