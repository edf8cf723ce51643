import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, jest } from '@jest/globals';
import type { Phase } from '../../src/migration/events.js';
import { DEFAULT_EXTENSION_PREFIX } from '../../src/qmp/monitor.js';
import { MatrixSection } from './matrix.js';
import { runSimCell } from './sim-cell.js';

jest.setTimeout(60_000);

/**
 * A QMP command that never answers, on the simulator in process (VF strategy): for each
 * command the migration sends, in order, the next call of it on that QEMU is taken and never
 * acted on nor answered (QmpCommandRegistry.hangNext: the connection that sent it is stuck
 * behind it, a new connection is served). nicmig must give up after its step deadline, name
 * the command and the host, and roll back or report the documented state; the invariants are
 * checked as in the other simulator cells (runSimCell).
 */
const STEP_DEADLINE_MS = 3000;

interface HungCommand {
  row: string;
  phase: Phase;
  host: 'hostA' | 'hostB';
  command: string;
  /** A slow enough stream that pre-copy is polled before it ends. */
  slowStream?: boolean;
}

const ext = (name: string) => `${DEFAULT_EXTENSION_PREFIX}${name}`;
const COMMANDS: HungCommand[] = [
  { row: 'preflight: `query-migrate` on the source', phase: 'preflight', host: 'hostA', command: 'query-migrate' },
  { row: 'prepare: `migrate-incoming` on the destination', phase: 'prepare', host: 'hostB', command: 'migrate-incoming' },
  { row: 'precopy: `migrate` on the source', phase: 'precopy', host: 'hostA', command: 'migrate' },
  { row: 'precopy: `query-migrate` on the source (a progress poll)', phase: 'precopy', host: 'hostA', command: 'query-migrate', slowStream: true },
  { row: 'switchover: `i40evf-quiesce` on the source (the VF state)', phase: 'switchover', host: 'hostA', command: ext('i40evf-quiesce') },
  { row: 'switchover: `migrate-continue` on the source', phase: 'switchover', host: 'hostA', command: 'migrate-continue' },
  { row: 'replay: `i40evf-replay` on the destination', phase: 'replay', host: 'hostB', command: ext('i40evf-replay') },
  { row: 'resume: `cont` on the destination', phase: 'resume', host: 'hostB', command: 'cont' },
  { row: 'resume: `i40evf-announce` on the destination (after cont)', phase: 'resume', host: 'hostB', command: ext('i40evf-announce') },
  { row: 'cleanup: `i40evf-reset` on the source (after success)', phase: 'cleanup', host: 'hostA', command: ext('i40evf-reset') },
  { row: 'cleanup: `quit` on the source (after success)', phase: 'cleanup', host: 'hostA', command: 'quit' },
];
const FAULT = 'never answers';

const section = new MatrixSection(
  'hung',
  'A QMP command that never answers (simulator, VF strategy)',
  [
    `Each row: at the start of the phase (switchover: inside the pre-switchover event), the next call of that command on that QEMU is taken and`,
    `never acted on nor answered, as by a QEMU stuck inside it; the connection that sent it waits behind it (QEMU answers in order), a new`,
    `connection is served. Step deadline ${STEP_DEADLINE_MS / 1000} s. Each cell: what nicmig reported (exit code), \`recover\` when asked for, where the guest`,
    'runs afterwards, and the command and host nicmig named as not answering. Real QEMU stopped with SIGSTOP (nothing answers, not even a new',
    'connection) is in the QEMU table below.',
  ].join('\n'),
  COMMANDS.map((c) => c.row),
  [FAULT],
);

let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-hung-${process.pid}-`));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('fault matrix: a QMP command that never answers (simulator, VF strategy)', () => {
  section.declareTests(
    COMMANDS.map((c) => [c.row, FAULT] as const),
    async (row) => {
      const hung = COMMANDS.find((c) => c.row === row) as HungCommand;
      const messages: string[] = [];
      const outcome = await runSimCell(
        row,
        {
          phase: hung.phase,
          options: { stepTimeoutMs: STEP_DEADLINE_MS, ...(hung.slowStream ? { bandwidth: 32 * 1024 * 1024 } : {}) },
          make: (c) => c.lab.simHosts.get(hung.host)?.hangNext('vm1', hung.command),
          onReport: (message) => messages.push(message),
        },
        path.join(dir, `journal-${COMMANDS.indexOf(hung)}`),
      );
      // What nicmig said names the command it waited for and where.
      const named = `${hung.command}: no reply from vm1 on ${hung.host} within ${STEP_DEADLINE_MS} ms`;
      const said = messages.some((m) => m.includes(named));
      if (!said) throw new Error(`${row}: nicmig did not say '${named}' (it said: ${messages.join(' | ') || 'nothing'})`);
      return `${outcome}; named: \`${hung.command}\` on ${hung.host}`;
    },
  );
});
