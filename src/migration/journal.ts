import fs from 'node:fs';
import path from 'node:path';
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
  /** Stream completed on both sides; destination paused with the whole state. */
  'migration-completed',
  /** VF state replayed and verified on the destination. */
  'replayed',
  /** About to `cont` the destination: from here on nothing rolls back. */
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
  constructor(code: string, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(code, message, ExitCode.UNCERTAIN_NEEDS_RECOVER, { details, cause });
  }
}

export class MigrationJournal {
  private seq: number;

  private constructor(
    readonly file: string,
    private fd: number,
    records: JournalRecord[],
  ) {
    this.seq = records.length;
  }

  /** Creates a new journal file; refuses to overwrite one. */
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
    return new MigrationJournal(file, fd, []);
  }

  /** Opens an existing journal to append to it (recover). */
  static open(file: string): MigrationJournal {
    const records = readJournal(file).records;
    const fd = fs.openSync(file, 'a');
    return new MigrationJournal(file, fd, records);
  }

  /** Appends one record and fsyncs it before returning. */
  append(event: JournalEvent, data: Record<string, unknown> = {}): JournalRecord {
    return this.appendAll([[event, data]])[0] as JournalRecord;
  }

  /** Appends several records with one write and one fsync. */
  appendAll(entries: readonly (readonly [JournalEvent, Record<string, unknown>])[]): JournalRecord[] {
    const time = new Date().toISOString();
    const records = entries.map(([event, data]): JournalRecord => ({ seq: this.seq++, time, event, data: { ...data } }));
    const line = records.map((record) => `${JSON.stringify(record)}\n`).join('');
    try {
      fs.writeSync(this.fd, line);
      // fdatasync: the data and the size needed to read it back, without the timestamps.
      fs.fdatasyncSync(this.fd);
    } catch (error) {
      throw new JournalError('JOURNAL_WRITE_FAILED', `cannot write journal ${this.file}: ${(error as Error).message}`, { file: this.file }, error);
    }
    return records;
  }

  close(): void {
    if (this.fd >= 0) {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}

export interface JournalContents {
  file: string;
  records: JournalRecord[];
  /** Set when the last line was cut short (a crash mid-write): the records before it stand. */
  truncatedTail: boolean;
}

/** Reads a journal; a torn last line (crash mid-append) is tolerated, any other damage is not. */
export function readJournal(file: string): JournalContents {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new JournalError('JOURNAL_UNREADABLE', `cannot read journal ${file}: ${(error as Error).message}`, { file }, error);
  }
  const lines = text.split('\n');
  const records: JournalRecord[] = [];
  let truncatedTail = false;
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] as string;
    if (line.length === 0) continue;
    const isLast = index === lines.length - 1;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      if (isLast) {
        truncatedTail = true;
        break;
      }
      throw new JournalError('JOURNAL_CORRUPT', `journal ${file} line ${index + 1} is not JSON`, { file, line: index + 1 }, error);
    }
    const record = JournalRecordSchema.safeParse(parsed);
    if (!record.success) {
      throw new JournalError('JOURNAL_CORRUPT', `journal ${file} line ${index + 1}: ${record.error.issues[0]?.message ?? 'bad record'}`, {
        file,
        line: index + 1,
      });
    }
    records.push(record.data);
  }
  return { file, records, truncatedTail };
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
        vm: String(begin?.data.vm ?? name.split('.')[0]),
        ended: last !== undefined && TERMINAL_EVENTS.includes(last.event),
        records,
      };
    })
    .filter((journal) => vm === undefined || journal.vm === vm)
    .sort((a, b) => (a.records[0]?.time ?? '').localeCompare(b.records[0]?.time ?? '') * -1);
}

function syncDirectory(dir: string): void {
  // Make the new file's directory entry durable too.
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Not every filesystem allows fsync on a directory.
  }
}
