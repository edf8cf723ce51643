/** The one piece of I/O in src/vfio: reading a capture file for the commands. */
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { parseCapture, type ParsedCapture } from './capture.js';
import { CaptureError } from './errors.js';

/**
 * The largest capture read: about 700 000 of the smallest records. A VF's admin queue over a
 * day of a guest's life is a few MiB; more is not a capture, and is refused rather than read.
 */
export const MAX_CAPTURE_BYTES = 32 * 1024 * 1024;

export interface ReadCaptureOptions {
  maxBytes?: number;
  /** What `-` reads (standard input by default). */
  stdin?: Readable;
}

const HINT = 'give the path of an admin-queue capture (I40EAQ01 format, docs/capture-format.md)';

/**
 * Reads a capture: a regular file (refused at once when larger than the limit), or a FIFO or
 * standard input (`-`), read up to the limit. Anything else (a device such as /dev/zero, a
 * directory) is refused without reading a byte.
 */
export async function readCaptureFile(file: string, options: ReadCaptureOptions = {}): Promise<ParsedCapture> {
  const maxBytes = options.maxBytes ?? MAX_CAPTURE_BYTES;
  if (file === '-') return parseCapture(await readLimited(options.stdin ?? process.stdin, maxBytes, 'standard input'), { file: 'standard input' });
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CaptureError('CAPTURE_NOT_FOUND', 'no such capture file', { file, cause: error, hint: HINT });
    throw new CaptureError('CAPTURE_UNREADABLE', `cannot read the capture: ${(error as Error).message}`, { file, cause: error });
  }
  try {
    const stat = await handle.stat();
    let bytes: Buffer;
    if (stat.isFile()) {
      if (stat.size > maxBytes) throw tooLarge(file, maxBytes, stat.size);
      bytes = await handle.readFile();
      // It grew between the stat and the read.
      if (bytes.length > maxBytes) throw tooLarge(file, maxBytes, bytes.length);
    } else if (stat.isFIFO() || stat.isSocket()) {
      bytes = await readLimited(handle.createReadStream({ autoClose: false }), maxBytes, file);
    } else {
      const kind = stat.isDirectory() ? 'a directory' : stat.isCharacterDevice() ? 'a character device' : stat.isBlockDevice() ? 'a block device' : 'not a regular file';
      throw new CaptureError('CAPTURE_UNREADABLE', `cannot read the capture: ${kind}, not a capture file (a regular file, a FIFO, or - for standard input)`, { file, hint: HINT });
    }
    return parseCapture(bytes, { file });
  } catch (error) {
    if (error instanceof CaptureError) throw error;
    throw new CaptureError('CAPTURE_UNREADABLE', `cannot read the capture: ${(error as Error).message}`, { file, cause: error });
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function tooLarge(file: string, limit: number, size: number | undefined): CaptureError {
  return new CaptureError('CAPTURE_TOO_LARGE', `the capture is ${size === undefined ? `over ${limit}` : size} bytes; the limit is ${limit}`, {
    file,
    details: { limit, ...(size === undefined ? {} : { size }) },
    hint: 'split the capture, or check that this is a capture file',
  });
}

/** A stream's bytes up to `limit`; one byte more is CAPTURE_TOO_LARGE, and the stream is left unread. */
async function readLimited(stream: Readable, limit: number, file: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      length += buffer.length;
      if (length > limit) throw tooLarge(file, limit, undefined);
      chunks.push(buffer);
    }
  } catch (error) {
    if (error instanceof CaptureError) throw error;
    throw new CaptureError('CAPTURE_UNREADABLE', `cannot read the capture: ${(error as Error).message}`, { file, cause: error });
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks, length);
}
