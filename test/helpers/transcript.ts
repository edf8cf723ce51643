import fs from 'node:fs';
import path from 'node:path';
import type { QmpTrafficEntry } from '../../src/qmp/client.js';

export interface TranscriptEntry extends QmpTrafficEntry {
  side: string;
}

export interface Transcript {
  scenario: string;
  description: string;
  qemu: string;
  accel: string;
  entries: TranscriptEntry[];
}

/**
 * Records what each side of a real-QEMU scenario sent and received, so the simulator can be
 * checked against real QEMU 7.2 later. Written to fixtures/qmp/ when
 * NICMIG_RECORD_TRANSCRIPTS=1; otherwise only kept in memory.
 */
export class TranscriptRecorder {
  readonly entries: TranscriptEntry[] = [];
  private readonly origin = performance.now();
  qemu = 'unknown';

  constructor(
    readonly scenario: string,
    readonly description: string,
    readonly accel: string,
  ) {}

  /** The onTraffic callback for one side; times are ms since the recorder started. */
  side(name: string): (entry: QmpTrafficEntry) => void {
    const sideOrigin = performance.now() - this.origin;
    return (entry) => {
      const greeting = (entry.message as { QMP?: { version?: { qemu?: { major: number; minor: number; micro: number }; package?: string } } }).QMP;
      if (greeting?.version?.qemu) {
        const { major, minor, micro } = greeting.version.qemu;
        this.qemu = `${major}.${minor}.${micro} (${greeting.version.package ?? ''})`;
      }
      this.entries.push({ side: name, t: Math.round((sideOrigin + entry.t) * 1000) / 1000, dir: entry.dir, message: entry.message });
    };
  }

  /** Writes the transcript, of QEMU 7.2 only: the simulator is checked against 7.2 (the same scenarios on 10.0 are not recorded). */
  save(): void {
    if (process.env.NICMIG_RECORD_TRANSCRIPTS !== '1' || !this.qemu.startsWith('7.2.')) return;
    const header: Omit<Transcript, 'entries'> = {
      scenario: this.scenario,
      description: this.description,
      qemu: this.qemu,
      accel: this.accel,
    };
    // One entry per line: readable, and diffs of a re-recording stay small.
    const head = JSON.stringify(header, null, 2).replace(/\n}$/, ',\n  "entries": [\n');
    const body = this.entries.map((entry) => `    ${JSON.stringify(entry)}`).join(',\n');
    const file = path.join(process.cwd(), 'fixtures', 'qmp', `${this.scenario}.json`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${head}${body}\n  ]\n}\n`);
  }
}
