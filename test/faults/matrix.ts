import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from '@jest/globals';

/**
 * The fault matrix's document: each suite of test/faults fills its own section of
 * docs/fault-matrix.md (phase x fault -> outcome) from what its run observed. With
 * NICMIG_UPDATE_FAULT_MATRIX=1 the section is written; otherwise the run's section must equal
 * the committed one (the drift check), so the document always says what the tests saw.
 */
export const FAULT_MATRIX_DOC = path.join(process.cwd(), 'docs', 'fault-matrix.md');

export interface Cell {
  phase: string;
  fault: string;
  outcome: string;
}

export class MatrixSection {
  private readonly cells = new Map<string, Cell>();

  constructor(
    readonly id: string,
    readonly title: string,
    readonly intro: string,
    readonly phases: readonly string[],
    readonly faults: readonly string[],
  ) {}

  /** How many cells the suite runs (each `it` calls `expect()` once when it is declared). */
  private expected = 0;

  expectCell(): void {
    this.expected++;
  }

  record(cell: Cell): void {
    this.cells.set(`${cell.phase}\u0000${cell.fault}`, cell);
  }

  /**
   * Declares one test per cell, in the order given (a suite's cells may depend on the one
   * before), each recording its outcome, then the drift check of the document.
   */
  declareTests<P extends string, F extends string>(cells: readonly (readonly [P, F])[], run: (phase: P, fault: F) => Promise<string>): void {
    for (const [phase, fault] of cells) {
      this.expectCell();
      it(`${fault} at ${phase}`, async () => {
        this.record({ phase, fault, outcome: await run(phase, fault) });
      });
    }
    it('docs/fault-matrix.md holds this run (NICMIG_UPDATE_FAULT_MATRIX=1 writes it)', () => {
      const { rendered, committed } = this.sync();
      expect(committed).toBe(rendered);
    });
  }

  /** The section as markdown: one row per phase, one column per fault. */
  render(): string {
    const header = `| phase | ${this.faults.join(' | ')} |`;
    const rule = `|---|${this.faults.map(() => '---').join('|')}|`;
    const rows = this.phases.map((phase) => `| ${phase} | ${this.faults.map((fault) => this.cells.get(`${phase}\u0000${fault}`)?.outcome ?? 'n/a').join(' | ')} |`);
    return [`<!-- matrix:${this.id} -->`, `## ${this.title}`, '', this.intro, '', header, rule, ...rows, `<!-- /matrix:${this.id} -->`].join('\n');
  }

  /** The section as committed in docs/fault-matrix.md, or undefined. */
  static committed(id: string): string | undefined {
    if (!fs.existsSync(FAULT_MATRIX_DOC)) return undefined;
    const text = fs.readFileSync(FAULT_MATRIX_DOC, 'utf8');
    const start = text.indexOf(`<!-- matrix:${id} -->`);
    const endMarker = `<!-- /matrix:${id} -->`;
    const end = text.indexOf(endMarker);
    return start >= 0 && end > start ? text.slice(start, end + endMarker.length) : undefined;
  }

  /** Writes (NICMIG_UPDATE_FAULT_MATRIX=1) or returns the committed section for the drift check. */
  sync(): { rendered: string; committed: string | undefined } {
    const rendered = this.render();
    if (this.cells.size < this.expected) {
      throw new Error(`only ${this.cells.size} of ${this.expected} cells of the ${this.id} matrix held in this run (a -t filter, or failures above): the document is written and checked from whole runs only`);
    }
    if (process.env.NICMIG_UPDATE_FAULT_MATRIX === '1') {
      const text = fs.readFileSync(FAULT_MATRIX_DOC, 'utf8');
      const current = MatrixSection.committed(this.id);
      fs.writeFileSync(FAULT_MATRIX_DOC, current ? text.replace(current, rendered) : `${text.trimEnd()}\n\n${rendered}\n`);
    }
    return { rendered, committed: MatrixSection.committed(this.id) };
  }
}
