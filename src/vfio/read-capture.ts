/** The one piece of I/O in src/vfio: reading a capture file for the commands. */
import { readFile } from 'node:fs/promises';
import { parseCapture, type ParsedCapture } from './capture.js';
import { CaptureError } from './errors.js';

export async function readCaptureFile(file: string): Promise<ParsedCapture> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CaptureError('CAPTURE_NOT_FOUND', 'no such capture file', { file, cause: error, hint: 'give the path of an admin-queue capture (I40EAQ01 format, docs/capture-format.md)' });
    throw new CaptureError('CAPTURE_UNREADABLE', `cannot read the capture: ${(error as Error).message}`, { file, cause: error });
  }
  return parseCapture(bytes, { file });
}
