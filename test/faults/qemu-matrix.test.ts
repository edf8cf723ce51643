import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, jest } from '@jest/globals';
import { isAlive } from '../../src/hosts/qemu-host.js';
import type { Phase } from '../../src/migration/events.js';
import { readJournal, TERMINAL_EVENTS } from '../../src/migration/journal.js';
import { FORCE_SWITCHOVER_DOWNTIME_LIMIT_MS } from '../../src/migration/convergence.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration, type FaultPoint, type MigrationOptions } from '../../src/migration/orchestrator.js';
import { recoverMigration } from '../../src/migration/recover.js';
import { PlainStrategy } from '../../src/migration/strategy.js';
import { asNicmigError } from '../../src/errors.js';
import { NetnsPair, netnsAvailable } from '../helpers/netns.js';
import { QemuLab } from '../helpers/qemu-lab.js';
import { describeWithQemu } from '../helpers/qemu.js';
import { waitUntil } from '../helpers/wait.js';
import { MatrixSection } from './matrix.js';

jest.setTimeout(120_000);

const canNetns = netnsAvailable();
if (!canNetns && process.env.CI === 'true') throw new Error('CI=true but network namespaces cannot be made here (needs root and iproute2)');
if (!canNetns) process.stderr.write('SKIPPED the real-QEMU fault matrix: network namespaces cannot be made here (needs root and iproute2)\n');

/**
 * The fault matrix on real QEMU 7.2 (plain strategy), each host a network namespace and the
 * stream crossing a real veth link: the faults that are real here (a QEMU SIGKILLed, a QEMU
 * SIGSTOPped so that its monitor answers nothing, the link taken down and brought back, an
 * interrupt) at the phase boundaries where they can be made real.
 */
const PHASES: Phase[] = ['prepare', 'precopy', 'switchover', 'resume', 'cleanup'];
const FAULTS = [
  'SIGINT',
  'source QEMU killed',
  'destination QEMU killed',
  'source QEMU stopped (SIGSTOP)',
  'destination QEMU stopped (SIGSTOP)',
  'veth down 1.5 s, then up',
  'veth down until nicmig returned, then up',
] as const;
type Fault = (typeof FAULTS)[number];
const MIB = 64;
/** The deadlines of the cells that wait one out (a stopped QEMU, the link down). */
const DEADLINE_MS = 3000;

const section = new MatrixSection(
  'qemu',
  'Real QEMU 7.2 in network namespaces (plain strategy)',
  [
    'The same checks as above on real QEMU processes, except the VF (plain strategy) and the RAM (the firmware runs and writes it); "nothing',
    'dangling" here: no QEMU process, QMP socket or pid file left on the host the guest does not run on, none anywhere when the guest was lost.',
    'Each fault is made at the start of the phase, except in pre-copy (once the stream flows: the first progress poll that saw bytes sent) and',
    'at the switchover (inside the pre-switchover event); cleanup starts after the destination answered `cont`. A QEMU killed is SIGKILLed; a',
    'QEMU stopped is SIGSTOPped (its monitor answers nothing, a new connection is not even greeted) and SIGCONTed once nicmig returned, before',
    '`recover`. The link is the veth between the two namespaces, set down on the destination\'s side. In the cells that wait a deadline out (a',
    'stopped QEMU, the link down until nicmig returned): step deadline 3 s, pre-copy deadline 3 s in pre-copy and 10 s elsewhere (the link down',
    'from the start of prepare is met by QEMU itself first: its connect fails once ARP gives up, after about 3 s). At the switchover those two',
    'are made with QEMU switching over at once (the highest downtime limit, `--downtime-policy fixed`): the final pass then carries nearly all',
    'RAM, more than the sockets buffer, and blocks. `n/a`: not a fault at that',
    'point (no destination QEMU at prepare\'s start; nothing is sent to a stopped source between prepare and pre-copy, or to a stopped',
    'destination after `cont`; no stream after the switchover).',
  ].join('\n'),
  PHASES,
  FAULTS,
);

function applicable(phase: Phase, fault: Fault): boolean {
  switch (fault) {
    case 'destination QEMU killed':
      return phase !== 'prepare';
    case 'source QEMU stopped (SIGSTOP)':
      return phase === 'precopy' || phase === 'switchover' || phase === 'cleanup';
    case 'destination QEMU stopped (SIGSTOP)':
      return phase === 'precopy' || phase === 'switchover' || phase === 'resume';
    case 'veth down 1.5 s, then up':
      return phase !== 'cleanup';
    case 'veth down until nicmig returned, then up':
      return phase === 'prepare' || phase === 'precopy' || phase === 'switchover';
    default:
      return true;
  }
}

function pidOf(lab: QemuLab, host: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(lab.host(host).pidFile('vm1'), 'utf8').trim());
    return isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function killQemu(lab: QemuLab, host: string): Promise<void> {
  const pid = pidOf(lab, host);
  if (pid === undefined) return;
  process.kill(pid, 'SIGKILL');
  await waitUntil(`QEMU ${pid} on ${host} gone after SIGKILL`, () => isAlive(pid), (alive) => !alive);
}

function signalQemu(lab: QemuLab, host: string, signal: 'SIGSTOP' | 'SIGCONT'): number | undefined {
  const pid = pidOf(lab, host);
  if (pid !== undefined) process.kill(pid, signal);
  return pid;
}

function optionsFor(phase: Phase, fault: Fault): Partial<MigrationOptions> {
  const waitsOut = fault.includes('SIGSTOP') || fault === 'veth down until nicmig returned, then up';
  return {
    // A stream slow enough (64 MiB at 48 MiB/s) that pre-copy is seen flowing before it ends.
    ...(phase === 'precopy' ? { bandwidth: 48 * 1024 * 1024 } : {}),
    // The pre-copy deadline is short only where the fault is in pre-copy: elsewhere a loaded
    // machine's pre-copy must not time out before the fault's moment.
    ...(waitsOut ? { stepTimeoutMs: DEADLINE_MS, timeoutMs: phase === 'precopy' ? DEADLINE_MS : 10_000 } : {}),
    // The stream blocked in the switchover's final pass: QEMU switches over at once (the
    // highest limit), so that the final pass carries nearly all RAM, more than the sockets
    // can buffer, and blocks. (A small final pass lands in the buffers or not depending on
    // how far behind the destination is: two outcomes, by timing.)
    ...(phase === 'switchover' && (fault === 'destination QEMU stopped (SIGSTOP)' || fault === 'veth down until nicmig returned, then up')
      ? { downtimePolicy: 'fixed' as const, downtimeLimitMs: FORCE_SWITCHOVER_DOWNTIME_LIMIT_MS }
      : {}),
  };
}

async function runCell(phase: Phase, fault: Fault): Promise<string> {
  const label = `${phase} x ${fault}`;
  const pair = new NetnsPair();
  const lab = new QemuLab([{ name: 'vm1', memoryMiB: MIB, memoryBackend: { type: 'file', path: '{host}/{vm}.ram' } }], 'tcg', pair);
  const link = (state: 'up' | 'down') => execFileSync('ip', ['-n', pair.b, 'link', 'set', pair.interfaceB, state]);
  const stopped = new Set<string>();
  const restore: (() => Promise<void> | void)[] = [];
  try {
    (await lab.startRunning('vm1', 'hostA', MIB)).monitor.disconnect();
    const controller = new AbortController();
    let fired = false;
    let made: Promise<void> = Promise.resolve();
    const make = async () => {
      switch (fault) {
        case 'SIGINT':
          controller.abort();
          return;
        case 'source QEMU killed':
          return killQemu(lab, 'hostA');
        case 'destination QEMU killed':
          return killQemu(lab, 'hostB');
        case 'source QEMU stopped (SIGSTOP)':
        case 'destination QEMU stopped (SIGSTOP)': {
          const host = fault.startsWith('source') ? 'hostA' : 'hostB';
          if (signalQemu(lab, host, 'SIGSTOP') !== undefined) stopped.add(host);
          return;
        }
        case 'veth down 1.5 s, then up': {
          link('down');
          const up = new Promise<void>((resolve) => setTimeout(() => (link('up'), resolve()), 1500));
          restore.push(() => up);
          return;
        }
        case 'veth down until nicmig returned, then up':
          link('down');
          restore.push(() => void link('up'));
          return;
      }
    };
    const streaming = phase === 'precopy';
    const inject = async (at: Phase, point: FaultPoint) => {
      if (streaming || at !== phase || fired) return;
      fired = true;
      void point;
      await make();
    };
    const journalDir = path.join(lab.dir, 'journal');
    const messages: string[] = [];
    const run = new Migration(
      { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 100, stepTimeoutMs: 15_000, ...optionsFor(phase, fault) }, spec: lab.specs.get('vm1') },
      {
        hosts: lab.hosts,
        strategy: new PlainStrategy(),
        journalDir,
        onEvent: (event) => {
          if (event.type === 'warning') messages.push(event.message);
          if (!streaming || fired || event.type !== 'progress' || event.transferred === 0) return;
          fired = true;
          made = make();
        },
        signal: controller.signal,
        atPhase: inject,
      },
    );
    const failure = await run.run().then(
      () => undefined,
      (error: unknown) => asNicmigError(error),
    );
    await made;
    if (!fired) throw new Error(`${label}: the fault was never made (the migration did not reach its moment: ${failure ? failure.message : 'it migrated'})`);
    // The operator's part: the link comes back, a stopped QEMU is continued.
    for (const task of restore.splice(0)) await task();
    for (const host of stopped) signalQemu(lab, host, 'SIGCONT');
    const exit = failure?.exitCode ?? 0;
    let outcome = failure ? `${failure.code} (exit ${exit})` : 'migrated (exit 0)';
    let reported: string | null = exit === 0 ? 'hostB' : exit >= 10 && exit <= 13 ? 'hostA' : null;
    if (failure) messages.push(failure.message);
    const journals = fs.existsSync(journalDir) ? fs.readdirSync(journalDir).filter((f) => f.endsWith('.journal')) : [];
    if (exit === 14 && journals.length === 1) {
      // The operator's part before recover: each QEMU answers again (a source whose final pass
      // was blocked holds QEMU's big lock until TCP gives the write up or the stream breaks).
      await waitUntil(
        'both QEMUs answer again (or are gone)',
        async () => Promise.all(['hostA', 'hostB'].map(async (host) => {
          const probe = await lab.host(host).probeVm('vm1');
          probe.monitor?.disconnect();
          return probe.presence.state;
        })),
        (presences) => !presences.includes('unknown'),
        { deadlineMs: 60_000 },
      );
      const recovered = await recoverMigration(path.join(journalDir, journals[0] as string), lab.hosts, 10_000);
      outcome += `; recover: ${recovered.decision.action}`;
      reported = recovered.runsOn;
    }
    // A stopped QEMU is named with what nicmig waited for from it: a command, or the stream's end.
    if (stopped.size > 0) {
      const host = [...stopped][0] as string;
      const namedOn = (on: string) => messages.map((m) => new RegExp(`([\\w-]+): no reply from vm1 on ${on} within ${DEADLINE_MS} ms|vm1 on ${on}\\)[^;]* did not finish the stream within ${DEADLINE_MS} ms`).exec(m)).find((m) => m !== null);
      const named = namedOn(host);
      // A destination stopped at the switchover stalls the source's last pass, which QEMU 7.2
      // writes holding its big lock: the source may stop answering first (its migrate-continue
      // reply held up), and then nicmig rightly names the source. Which comes first is a race
      // (a loaded run saw the source), so the cell says both.
      const blockedSource = host === 'hostB' && phase === 'switchover' ? (named ?? namedOn('hostA')) : undefined;
      if (blockedSource) outcome += "; waited for: the stream's end on hostB, or the source's command its stalled stream held up on hostA";
      else if (named) outcome += `; waited for: ${named[1] ? `\`${named[1]}\`` : "the stream's end"} on ${host}`;
      else if (exit !== 0 && exit !== 12) throw new Error(`${label}: nicmig did not name what it waited for from ${host} (it said: ${messages.join(' | ')})`);
    }
    const states = new Map<string, string>();
    for (const host of ['hostA', 'hostB']) {
      const probe = await lab.host(host).probeVm('vm1');
      probe.monitor?.disconnect();
      states.set(host, probe.presence.state === 'running' || probe.presence.state === 'paused' ? probe.presence.status : probe.presence.state);
    }
    const running = [...states].filter(([, state]) => state === 'running').map(([host]) => host);
    const check = (holds: boolean, what: string) => {
      if (!holds) throw new Error(`${label}: ${what} (outcome: ${outcome}; states: ${JSON.stringify([...states])}; said: ${messages.join(' | ')})`);
    };
    const nothingOn = (host: string) => {
      check(pidOf(lab, host) === undefined, `no QEMU process is left on ${host}`);
      check(states.get(host) === 'gone', `nothing answers for vm1 on ${host} (${states.get(host)})`);
    };
    check(running.length <= 1, 'the guest runs in at most one place');
    if (running.length === 0) {
      // Exit 0 with the guest gone: only when the destination died after it resumed, and said so.
      const lostAfterResume = exit === 0 && messages.some((m) => /ended after it resumed the guest: the guest runs nowhere/.test(m));
      check(reported === null || lostAfterResume, 'a guest that runs nowhere is not reported as running');
      for (const host of ['hostA', 'hostB']) nothingOn(host);
      // Before cont nicmig ended the destination it made: its socket and pid file went with it
      // (a QEMU that died by itself leaves its own, for whoever looks into why).
      if (!lostAfterResume) check(!fs.existsSync(lab.host('hostB').qmpPath('vm1')) && !fs.existsSync(lab.host('hostB').pidFile('vm1')), 'no socket or pid file is left on hostB');
      return `${outcome}; ${lostAfterResume ? 'destination QEMU died after resume: reported as a warning' : 'guest lost with its QEMU, reported'}`;
    }
    const where = running[0] as string;
    check(reported === where, `the guest runs where nicmig said (${String(reported)})`);
    const other = where === 'hostA' ? 'hostB' : 'hostA';
    nothingOn(other);
    check(!fs.existsSync(lab.host(other).qmpPath('vm1')) && !fs.existsSync(lab.host(other).pidFile('vm1')), `no socket or pid file is left on ${other}`);
    for (const name of journals) {
      const records = readJournal(path.join(journalDir, name)).records;
      check(TERMINAL_EVENTS.includes(records.at(-1)?.event as never), `the journal ends in a terminal record (${records.at(-1)?.event})`);
    }
    return `${outcome}; runs on ${where}`;
  } finally {
    for (const task of restore) await Promise.resolve(task()).catch(() => undefined);
    for (const host of stopped) signalQemu(lab, host, 'SIGCONT');
    await lab.cleanup();
    pair.destroy();
  }
}

(canNetns ? describeWithQemu : describe.skip)('fault matrix on real QEMU 7.2 between network namespaces (plain strategy)', () => {
  section.declareTests(
    PHASES.flatMap((phase) => FAULTS.filter((fault) => applicable(phase, fault)).map((fault) => [phase, fault] as const)),
    runCell,
  );
});
