import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, jest } from '@jest/globals';
import { labDown, labUp } from '../../src/lab/lab.js';
import { listJournals } from '../../src/migration/journal.js';
import { QmpClient } from '../../src/qmp/client.js';
import { QemuMonitor } from '../../src/qmp/monitor.js';
import { I40evfClient } from '../../src/vfio/i40evf-client.js';
import { NICMIG_BIN, runCli } from '../helpers/cli.js';
import { MatrixSection } from './matrix.js';
import { waitUntil } from '../helpers/wait.js';

jest.setTimeout(120_000);

/**
 * The fault matrix through the CLI, against a lab of separate processes (a switch, two
 * simulated hosts with i40e PFs, vm1 with a VF): `nicmig migrate` SIGKILLed at each phase
 * boundary (NICMIG_FAULT_KILL_AT; at the switchover inside the pre-switchover event), then
 * `nicmig recover`. Checked each time: one JSON document and its exit code; the VM runs in
 * exactly one place, the one recover named; its VF active and not quiesced; nothing left on
 * the other host; no active marker; no unfinished journal.
 */
/** Each phase's start, and two points inside resume: the pre-cont record durable, cont not sent; cont sent and answered. */
const PHASES = ['resolve', 'preflight', 'prepare', 'precopy', 'switchover', 'replay', 'resume', 'resume:before-cont', 'resume:after-cont', 'cleanup'] as const;
const FAULTS = ['SIGKILL of nicmig', 'SIGKILL, journal tail torn', 'SIGKILL, other client on a monitor at recover'] as const;
type Fault = (typeof FAULTS)[number];

const section = new MatrixSection(
  'cli',
  'The CLI against a lab of processes (VF strategy)',
  [
    '`nicmig migrate` is SIGKILLed at the start of the phase (switchover: inside the pre-switchover event; `resume:before-cont`: once the pre-cont',
    'record `cont-may-follow` is durable, before `destination-resuming` is written and `cont` sent; `resume:after-cont`: once the destination',
    'resumed, before `destination-resumed` is written) and `nicmig recover --json` is run; with',
    '"journal tail torn" the last journal record is first cut in half (a crash mid-append); with "other client" a second QMP client holds the monitor',
    'of the VM on the host it was migrated to when recover first runs (recover must change nothing and exit 15), and is then let go.',
  ].join('\n'),
  PHASES,
  FAULTS,
);

let dir: string;
let config: string;
let stateDir: string;
let at = 'hostA';
const other = (host: string) => (host === 'hostA' ? 'hostB' : 'hostA');

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-flt-${process.pid}-`));
  const up = await labUp({ dir, memoryMiB: 32, dirtyPagesPerSecond: 500, trafficRate: 0, bin: NICMIG_BIN });
  config = up.config;
  stateDir = path.join(dir, 'state');
  const document = fs.readFileSync(config, 'utf8');
  const match = /stateDir:\s*"?([^"\n]+)"?/.exec(document);
  if (match) stateDir = match[1] as string;
});

afterAll(async () => {
  await labDown(dir).catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) => runCli([...args, '--config', config]);

function parse(stdout: string, what: string): Record<string, unknown> {
  try {
    return JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`${what}: stdout is not one JSON document:\n${stdout}`);
  }
}

/** Cuts the last record of the newest unfinished journal in half, as a crash mid-append leaves it. */
function tearTail(): void {
  const [journal] = listJournals(path.join(stateDir, 'journal')).filter((j) => !j.ended);
  if (!journal) return;
  const bytes = fs.readFileSync(journal.file);
  const lastStart = bytes.lastIndexOf(0x0a, bytes.length - 2) + 1;
  fs.truncateSync(journal.file, lastStart + Math.floor((bytes.length - lastStart) / 2));
}

async function vfOf(host: string): Promise<Record<string, unknown>> {
  const client = await QmpClient.connect(`unix:${path.join(dir, host, 'vm1.qmp')}`);
  try {
    const [device] = await new I40evfClient(new QemuMonitor(client)).list();
    return device as unknown as Record<string, unknown>;
  } finally {
    client.destroy();
  }
}

async function runCell(phase: (typeof PHASES)[number], fault: Fault): Promise<string> {
  const from = at;
  const to = other(from);
  // The previous cell's clients are gone from the monitor before this one starts (a migrate
  // that finds it busy refuses, exit 10, and would never reach the phase to be killed at).
  await waitUntil(
    `vm1's monitor on ${from} free, the VM running there`,
    async () => parse((await cli('status', 'vm1', '--json')).stdout, 'status') as { vms: { runsOn: string | null; placements: { host: string; status: string }[] }[] },
    (status) => status.vms[0]?.runsOn === from && status.vms[0]?.placements.every((p) => p.host !== from || p.status === 'running') === true,
  );
  const killed = await runCli(['migrate', 'vm1', to, '--config', config], { env: { NICMIG_FAULT_KILL_AT: phase } });
  if (killed.signal !== 'SIGKILL') throw new Error(`nicmig migrate was not killed at ${phase}: exit ${killed.code}\n${killed.stdout}\n${killed.stderr}`);
  if (phase === 'resume:before-cont') {
    // Killed where the cell says: the record that may precede cont is there, the one written right before cont is not.
    expect(killed.stderr).toContain('fault injected: SIGKILL at resume (before-cont)');
    const [journal] = listJournals(path.join(stateDir, 'journal')).filter((j) => !j.ended);
    const events = journal?.records.map((r) => r.event) ?? [];
    expect(events).toContain('cont-may-follow');
    expect(events).not.toContain('destination-resuming');
  }
  if (phase === 'resume:after-cont') {
    // Written right before cont, not necessarily synced yet: recover reads it all the same.
    expect(killed.stderr).toContain('fault injected: SIGKILL at resume (after-cont)');
    const [journal] = listJournals(path.join(stateDir, 'journal')).filter((j) => !j.ended);
    const events = journal?.records.map((r) => r.event) ?? [];
    expect(events).toContain('destination-resuming');
    expect(events).not.toContain('destination-resumed');
  }
  let outcome = '';
  if (fault === 'SIGKILL, journal tail torn') tearTail();
  if (fault === 'SIGKILL, other client on a monitor at recover') {
    const socket = path.join(dir, to, 'vm1.qmp');
    const holder = fs.existsSync(socket) ? await QmpClient.connect(`unix:${socket}`) : undefined;
    try {
      const journalsBefore = listJournals(path.join(stateDir, 'journal')).map((j) => fs.readFileSync(j.file, 'utf8'));
      const refused = await cli('recover', 'vm1', '--json');
      const document = parse(refused.stdout, 'recover with a busy monitor');
      if (holder) {
        expect(refused.code).toBe(15);
        expect(document).toMatchObject({ status: 'error', error: { code: 'RECOVER_NEEDS_FACTS' } });
        expect(listJournals(path.join(stateDir, 'journal')).map((j) => fs.readFileSync(j.file, 'utf8'))).toEqual(journalsBefore);
        outcome = 'recover: exit 15, nothing changed; then ';
      } else {
        outcome = `no destination yet: recover exit ${refused.code}; then `;
      }
    } finally {
      holder?.destroy();
    }
  }
  const recovered = await cli('recover', 'vm1', '--json');
  expect(recovered.stderr).toBe('');
  const document = parse(recovered.stdout, 'recover');
  expect(recovered.code).toBe(0);
  const [result] = (document.recovered ?? []) as { runsOn: string | null; decision: { action: string } }[];
  // No journal, or one whose begin record was torn away: the migration never began, nothing moved.
  const runsOn = result?.runsOn ?? from;
  outcome += result ? `recover: ${result.decision.action} (exit 0)` : 'recover: nothing to recover (exit 0)';
  const status = parse((await cli('status', 'vm1', '--json')).stdout, 'status') as { vms: { runsOn: string | null; placements: { host: string; status: string }[]; needsRecover: string | null; migrationInFlight: unknown }[] };
  const [vm] = status.vms;
  expect(vm).toMatchObject({ runsOn, needsRecover: null, migrationInFlight: null, placements: [{ host: runsOn, status: 'running' }] });
  expect(fs.existsSync(path.join(stateDir, 'active', 'vm1.json'))).toBe(false);
  expect(listJournals(path.join(stateDir, 'journal')).filter((j) => !j.ended)).toEqual([]);
  expect(fs.existsSync(path.join(dir, other(runsOn as string), 'vm1.qmp'))).toBe(false);
  const vf = await vfOf(runsOn as string);
  expect(vf).toMatchObject({ status: 'active' });
  at = runsOn as string;
  return `${outcome}; runs on ${runsOn === from ? 'the source' : 'the destination'}`;
}

describe('fault matrix through the CLI (lab processes, VF strategy)', () => {
  section.declareTests(
    FAULTS.flatMap((fault) =>
      PHASES.filter((phase) => fault !== 'SIGKILL, other client on a monitor at recover' || ['switchover', 'resume', 'resume:before-cont', 'resume:after-cont'].includes(phase)).map((phase) => [phase, fault] as const),
    ),
    runCell,
  );
});
