import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { z } from 'zod';
import { NicmigError, ExitCode } from '../errors.js';

/**
 * The append-only journal of one migration. Each record is one JSON line, written and
 * fsync'd before the step that depends on it (DESIGN.md invariant 4), so that after a crash
 * of nicmig itself `nicmig recover` can tell which side owns the guest.
 */

export const JournalEventSchema = z.enum([
  /** Resolved and preflighted; nothing changed yet. */
  'begin',
  /** About to start the destination QEMU (so recover knows to look for it). */
  'destination-starting',
  'destination-started',
  /** About to issue `migrate` on the source. */
  'precopy-starting',
  /** Source reached pre-switchover: vCPUs stopped, downtime has begun. */
  'switchover',
  /** VF quiesced on the source; its final admin log captured. */
  'source-vf-quiesced',
  /**
   * Written with `switchover`, durable before any `cont`: from here `cont` may follow once the
   * stream completes. It does not say that `cont` was sent (`destination-resuming` does); its
   * `bootId` tells recover whether that record can be trusted to be there (docs/recover.md).
   */
  'cont-may-follow',
  /** Stream completed on both sides; destination paused with the whole state. */
  'migration-completed',
  /** VF state replayed and verified on the destination. */
  'replayed',
  /**
   * About to `cont` the destination: written (not yet synced) right before `cont` is sent, so
   * that on the boot that wrote it its absence proves `cont` never went out.
   */
  'destination-resuming',
  'destination-resumed',
  'announced',
  'source-quit',
  'source-vf-reset',
  'cleanup-failed',
  /** Terminal: the VM runs on the destination. */
  'finished',
  'rollback-started',
  'rollback-step',
  /** Terminal: the VM runs (or sits, as before) on the source. */
  'rolled-back',
  /** Terminal: neither side could be confirmed; recover must be run. */
  'uncertain',
  'note',
]);
export type JournalEvent = z.infer<typeof JournalEventSchema>;

export const TERMINAL_EVENTS: readonly JournalEvent[] = ['finished', 'rolled-back'];

export const JournalRecordSchema = z.object({
  seq: z.number().int().nonnegative(),
  time: z.string(),
  event: JournalEventSchema,
  data: z.record(z.string(), z.unknown()).default({}),
});
export type JournalRecord = z.infer<typeof JournalRecordSchema>;

export class JournalError extends NicmigError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}, cause?: unknown, exitCode: number = ExitCode.UNCERTAIN_NEEDS_RECOVER) {
    super(code, message, exitCode, { details, cause });
  }
}

/**
 * A record's line: its JSON with a CRC-32 of the bytes before it as the last member,
 * `{"seq":0,...,"data":{...},"crc":"1a2b3c4d"}\n`, so that a torn or corrupt tail is told
 * apart from a good record (and `jq` still reads the file).
 */
function frame(record: JournalRecord): string {
  const json = JSON.stringify(record);
  const body = json.slice(0, -1);
  return `${body},"crc":"${crc32Hex(`${body}}`)}"}\n`;
}

const CRC_SUFFIX = /,"crc":"([0-9a-f]{8})"\}$/;

function crc32Hex(text: string): string {
  return (zlib.crc32(text) >>> 0).toString(16).padStart(8, '0');
}

/**
 * Appends all of `text` (a short write is continued, a write of nothing is an error). When it
 * fails part-way, the part written is cut off again, so that the next record does not follow
 * a torn one (nicmig is the journal's only writer, and appends to its end).
 */
function writeFully(fd: number, text: string): void {
  const buffer = Buffer.from(text, 'utf8');
  let offset = 0;
  try {
    while (offset < buffer.length) {
      const written = fs.writeSync(fd, buffer, offset, buffer.length - offset);
      if (written <= 0) throw Object.assign(new Error(`wrote ${offset} of ${buffer.length} bytes`), { code: 'ENOSPC' });
      offset += written;
    }
  } catch (error) {
    if (offset > 0) {
      try {
        fs.ftruncateSync(fd, fs.fstatSync(fd).size - offset);
      } catch {
        // Left torn: the next reader detects the tail and the next open cuts it away.
      }
    }
    throw error;
  }
}

/** The journal's I/O that tests replace (a slow or failing disk). */
export interface JournalOptions {
  /** The fdatasync of `syncInBackground`: `fs.fdatasync` unless given. */
  backgroundFdatasync?: (fd: number) => Promise<void>;
}

function fdatasyncInBackground(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));
}

export class MigrationJournal {
  private seq: number;
  /** fdatasyncs still running in the background: the file is closed once they settled. */
  private syncing = 0;
  private closeWhenSynced = -1;
  /** Records written by writeUnsynced since the last sync. */
  private readonly unsynced: JournalEvent[] = [];

  private constructor(
    readonly file: string,
    private fd: number,
    nextSeq: number,
    private readonly options: JournalOptions = {},
  ) {
    this.seq = nextSeq;
  }

  /** Creates a new, empty journal file; refuses to overwrite one. */
  static create(dir: string, name: string): MigrationJournal {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${name}.journal`);
    let fd: number;
    try {
      fd = fs.openSync(file, 'wx', 0o600);
    } catch (error) {
      throw new JournalError('JOURNAL_EXISTS', `journal ${file} already exists`, { file }, error);
    }
    syncDirectory(dir);
    return new MigrationJournal(file, fd, 0);
  }

  /**
   * Creates a journal whose first record is `begin`, all or nothing: the record is written
   * and made durable in a temporary file that is then renamed into place (and the directory
   * synced), so a full disk leaves no empty journal behind. Nothing has changed yet when this
   * fails: STATE_DIR_UNWRITABLE, exit 5.
   */
  static begin(dir: string, name: string, data: Record<string, unknown>, options: JournalOptions = {}): MigrationJournal {
    const file = path.join(dir, `${name}.journal`);
    const temporary = path.join(dir, `.${name}.journal.${process.pid}.tmp`);
    let fd = -1;
    try {
      fs.mkdirSync(dir, { recursive: true });
      if (fs.existsSync(file)) throw new JournalError('JOURNAL_EXISTS', `journal ${file} already exists`, { file });
      fd = fs.openSync(temporary, 'wx', 0o600);
      writeFully(fd, frame({ seq: 0, time: new Date().toISOString(), event: 'begin', data: { ...data } }));
      fs.fdatasyncSync(fd);
      fs.closeSync(fd);
      fd = -1;
      fs.linkSync(temporary, file);
      fs.rmSync(temporary, { force: true });
      syncDirectory(dir, true);
      // Appends from here on go to the end, whatever else wrote there (O_APPEND).
      fd = fs.openSync(file, 'a');
    } catch (error) {
      if (fd >= 0) fs.closeSync(fd);
      fs.rmSync(temporary, { force: true });
      if (error instanceof JournalError) throw error;
      fs.rmSync(file, { force: true });
      throw new JournalError('STATE_DIR_UNWRITABLE', `cannot start the journal in ${dir}: ${(error as Error).message}; nothing was changed`, { file, dir }, error, ExitCode.STATE_DIR);
    }
    return new MigrationJournal(file, fd, 1, options);
  }

  /**
   * Opens an existing journal to append to it (recover). A torn or corrupt tail (a crash
   * mid-append) is cut away first, its bytes kept beside the journal in `<file>.tail-<offset>`,
   * and the numbering continues after the last good record.
   */
  static open(file: string): MigrationJournal {
    const contents = readJournal(file);
    if (contents.badTail) {
      const { offset, bytes } = contents.badTail;
      try {
        fs.writeFileSync(`${file}.tail-${offset}`, bytes, { mode: 0o600 });
        fs.truncateSync(file, offset);
        const fd = fs.openSync(file, 'r+');
        try {
          fs.fdatasyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
      } catch (error) {
        throw new JournalError('JOURNAL_WRITE_FAILED', `cannot cut the torn tail of journal ${file}: ${(error as Error).message}`, { file, offset }, error);
      }
    }
    const fd = fs.openSync(file, 'a');
    const last = contents.records[contents.records.length - 1];
    return new MigrationJournal(file, fd, last ? last.seq + 1 : 0);
  }

  /** Appends one record and makes it durable before returning. */
  append(event: JournalEvent, data: Record<string, unknown> = {}): JournalRecord {
    return this.appendAll([[event, data]])[0] as JournalRecord;
  }

  /**
   * Appends several records with one write and one fdatasync; throws JOURNAL_WRITE_FAILED
   * unless every byte was written and synced (the records then do not count as written).
   */
  appendAll(entries: readonly (readonly [JournalEvent, Record<string, unknown>])[]): JournalRecord[] {
    const time = new Date().toISOString();
    const records = entries.map(([event, data], index): JournalRecord => ({ seq: this.seq + index, time, event, data: { ...data } }));
    try {
      if (this.fd < 0) throw new Error('the journal is closed');
      writeFully(this.fd, records.map(frame).join(''));
      // fdatasync: the data and the size needed to read it back, without the timestamps.
      fs.fdatasyncSync(this.fd);
    } catch (error) {
      throw new JournalError('JOURNAL_WRITE_FAILED', `cannot write journal ${this.file}: ${(error as Error).message}`, { file: this.file, records: entries.map(([event]) => event) }, error);
    }
    this.seq += records.length;
    // The fdatasync made what writeUnsynced wrote before durable too.
    this.unsynced.length = 0;
    return records;
  }

  /**
   * Writes the records now, without syncing them: on return every byte is in the file, where
   * every reader on this machine finds it, whatever becomes of this process, until the machine
   * restarts. `syncInBackground` (or the next `append`) makes them durable. A write that fails
   * throws JOURNAL_WRITE_FAILED, and none of its bytes stay in the file.
   */
  writeUnsynced(entries: readonly (readonly [JournalEvent, Record<string, unknown>])[]): JournalRecord[] {
    const time = new Date().toISOString();
    const records = entries.map(([event, data], index): JournalRecord => ({ seq: this.seq + index, time, event, data: { ...data } }));
    try {
      if (this.fd < 0) throw new Error('the journal is closed');
      writeFully(this.fd, records.map(frame).join(''));
    } catch (error) {
      throw new JournalError('JOURNAL_WRITE_FAILED', `cannot write journal ${this.file}: ${(error as Error).message}`, { file: this.file, records: entries.map(([event]) => event) }, error);
    }
    this.seq += records.length;
    this.unsynced.push(...records.map((r) => r.event));
    return records;
  }

  /**
   * Makes what was written so far durable off the event loop (an fdatasync in libuv's thread
   * pool), so that a step can await it later instead of blocking where it writes. Settles when
   * it is durable; rejects with JOURNAL_WRITE_FAILED naming the records it was to make durable.
   * A rejection nobody awaits (a failure before then) is no crash.
   */
  syncInBackground(): Promise<void> {
    const records = this.unsynced.splice(0);
    const failed = (error: unknown) =>
      new JournalError('JOURNAL_WRITE_FAILED', `cannot sync journal ${this.file}: ${(error as Error).message}`, { file: this.file, records }, error);
    if (this.fd < 0) {
      const closed = Promise.reject(failed(new Error('the journal is closed')));
      closed.catch(() => undefined);
      return closed;
    }
    this.syncing++;
    const durable = (this.options.backgroundFdatasync ?? fdatasyncInBackground)(this.fd)
      .catch((error: unknown) => {
        throw failed(error);
      })
      .finally(() => {
        this.syncing--;
        if (this.syncing === 0 && this.closeWhenSynced >= 0) {
          fs.closeSync(this.closeWhenSynced);
          this.closeWhenSynced = -1;
        }
      });
    durable.catch(() => undefined);
    return durable;
  }

  /** Like append, for records that must not stop what follows (rollback, after cont): the error, or undefined. */
  tryAppend(event: JournalEvent, data: Record<string, unknown> = {}): JournalError | undefined {
    try {
      this.append(event, data);
      return undefined;
    } catch (error) {
      return error instanceof JournalError ? error : new JournalError('JOURNAL_WRITE_FAILED', String(error), { file: this.file }, error);
    }
  }

  /** Closes the file; a background fdatasync still running keeps it open until it settled. */
  close(): void {
    if (this.fd < 0) return;
    if (this.syncing > 0) this.closeWhenSynced = this.fd;
    else fs.closeSync(this.fd);
    this.fd = -1;
  }
}

export interface JournalContents {
  file: string;
  records: JournalRecord[];
  /** Set when the last line was cut short or is damaged (a crash mid-write): the records before it stand. */
  truncatedTail: boolean;
  /** Where the good records end, and the bytes after them, when the tail is torn or corrupt. */
  badTail?: { offset: number; bytes: Buffer };
}

/** Largest journal read: a migration writes a few dozen records. */
const MAX_JOURNAL_BYTES = 16 * 1024 * 1024;

/**
 * Reads a journal. A torn or corrupt last line (a crash mid-append: no newline, not JSON, or
 * a CRC that does not match) is reported as `truncatedTail`; any other damage is
 * JOURNAL_CORRUPT naming the line.
 */
export function readJournal(file: string): JournalContents {
  let buffer: Buffer;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) throw new Error('not a regular file');
    if (stat.size > MAX_JOURNAL_BYTES) throw new Error(`${stat.size} bytes, more than a journal holds (${MAX_JOURNAL_BYTES})`);
    buffer = fs.readFileSync(file);
  } catch (error) {
    throw new JournalError('JOURNAL_UNREADABLE', `cannot read journal ${file}: ${(error as Error).message}`, { file }, error);
  }
  const records: JournalRecord[] = [];
  let offset = 0;
  let lineNumber = 0;
  while (offset < buffer.length) {
    lineNumber++;
    const end = buffer.indexOf(0x0a, offset);
    const complete = end >= 0;
    const lineEnd = complete ? end : buffer.length;
    const isLast = !complete || lineEnd + 1 >= buffer.length;
    const line = buffer.subarray(offset, lineEnd).toString('utf8');
    const badTail = () => ({ file, records, truncatedTail: true, badTail: { offset, bytes: Buffer.from(buffer.subarray(offset)) } });
    if (line.length === 0) {
      offset = lineEnd + 1;
      continue;
    }
    if (!complete) return badTail();
    const crc = CRC_SUFFIX.exec(line);
    if (crc && crc32Hex(`${line.slice(0, crc.index)}}`) !== crc[1]) {
      if (isLast) return badTail();
      throw new JournalError('JOURNAL_CORRUPT', `journal ${file} line ${lineNumber}: checksum mismatch`, { file, line: lineNumber });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      if (isLast) return badTail();
      throw new JournalError('JOURNAL_CORRUPT', `journal ${file} line ${lineNumber} is not JSON`, { file, line: lineNumber }, error);
    }
    const record = JournalRecordSchema.safeParse(parsed);
    if (!record.success) {
      throw new JournalError('JOURNAL_CORRUPT', `journal ${file} line ${lineNumber}: ${record.error.issues[0]?.message ?? 'bad record'}`, {
        file,
        line: lineNumber,
      });
    }
    records.push(record.data);
    offset = lineEnd + 1;
  }
  return { file, records, truncatedTail: false };
}

/**
 * The switchover timings of the migrations to `host` that finished, oldest first (the
 * downtime policy measures its overhead from them). A journal that cannot be read is left out.
 */
export function switchoverHistory(dir: string, host: string): { downtimeMs: number; measuredDowntimeMs: number }[] {
  if (!fs.existsSync(dir)) return [];
  const found: { time: string; downtimeMs: number; measuredDowntimeMs: number }[] = [];
  for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.journal'))) {
    let records: JournalRecord[];
    try {
      records = readJournal(path.join(dir, name)).records;
    } catch {
      continue;
    }
    const begin = records.find((r) => r.event === 'begin');
    const finished = records.find((r) => r.event === 'finished');
    const { downtimeMs, measuredDowntimeMs } = finished?.data ?? {};
    if (begin?.data.to !== host || typeof downtimeMs !== 'number' || typeof measuredDowntimeMs !== 'number') continue;
    found.push({ time: finished?.time ?? '', downtimeMs, measuredDowntimeMs });
  }
  return found.sort((a, b) => a.time.localeCompare(b.time)).map(({ downtimeMs, measuredDowntimeMs }) => ({ downtimeMs, measuredDowntimeMs }));
}

/** The VM a journal file is named after (`<vm>-<ISO time>.journal`), for journals without a begin record. */
export function vmOfJournalName(name: string): string {
  const match = /^(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z\.journal$/.exec(name);
  return match ? (match[1] as string) : name.replace(/\.journal$/, '');
}

/** The journals in `dir` for `vm` (all VMs when absent), newest first, with whether each ended. */
export function listJournals(dir: string, vm?: string): { file: string; vm: string; ended: boolean; records: JournalRecord[] }[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.journal'))
    .map((name) => {
      const { records } = readJournal(path.join(dir, name));
      const begin = records.find((r) => r.event === 'begin');
      const last = records[records.length - 1];
      return {
        file: path.join(dir, name),
        vm: String(begin?.data.vm ?? vmOfJournalName(name)),
        ended: last !== undefined && TERMINAL_EVENTS.includes(last.event),
        records,
      };
    })
    .filter((journal) => vm === undefined || journal.vm === vm)
    .sort((a, b) => (a.records[0]?.time ?? '').localeCompare(b.records[0]?.time ?? '') * -1);
}

/**
 * This machine's boot (Linux's `boot_id`), or null where it cannot be read. A record that was
 * written but not yet synced is visible to every reader until the machine restarts; after a
 * restart it may be gone. recover compares the two boots to know which case it is in.
 */
export function currentBootId(): string | null {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** Makes a new file's directory entry durable too. */
function syncDirectory(dir: string, strict = false): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, 'r');
  } catch (error) {
    if (strict) throw error;
    return;
  }
  try {
    fs.fsyncSync(fd);
  } catch (error) {
    // Not every filesystem allows fsync on a directory (EINVAL); anything else is a failure.
    if (strict && (error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
  } finally {
    fs.closeSync(fd);
  }
}
