import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, jest } from '@jest/globals';
import { isAlive } from '../../src/hosts/qemu-host.js';
import type { Phase } from '../../src/migration/events.js';
import { readJournal, TERMINAL_EVENTS } from '../../src/migration/journal.js';
import { DEFAULT_MIGRATION_OPTIONS, Migration, type FaultPoint } from '../../src/migration/orchestrator.js';
import { recoverMigration } from '../../src/migration/recover.js';
import { PlainStrategy } from '../../src/migration/strategy.js';
import { asNicmigError } from '../../src/errors.js';
import { NetnsPair, netnsAvailable } from '../helpers/netns.js';
import { QemuLab } from '../helpers/qemu-lab.js';
import { describeWithQemu } from '../helpers/qemu.js';
import { MatrixSection } from './matrix.js';

jest.setTimeout(120_000);

const canNetns = netnsAvailable();
if (!canNetns && process.env.CI === 'true') throw new Error('CI=true but network namespaces cannot be made here (needs root and iproute2)');
if (!canNetns) process.stderr.write('SKIPPED the real-QEMU fault matrix: network namespaces cannot be made here (needs root and iproute2)\n');

/**
 * The fault matrix on real QEMU 7.2 (plain strategy), each host a network namespace and the
 * stream crossing a real veth link: the faults that are real here (a QEMU SIGKILLed, the
 * link taken down and brought back, an interrupt) at the phases where they matter.
 */
const PHASES: Phase[] = ['prepare', 'precopy', 'switchover', 'resume'];
const FAULTS = ['SIGINT', 'source QEMU killed', 'destination QEMU killed', 'veth down 1.5 s, then up'] as const;
type Fault = (typeof FAULTS)[number];
const MIB = 64;

const section = new MatrixSection(
  'qemu',
  'Real QEMU 7.2 in network namespaces (plain strategy)',
  [
    'The same checks as above on real QEMU processes (a QEMU killed is SIGKILLed; the link is the veth between the two namespaces, set down on the',
    "destination's side and up again 1.5 s later), except the VF (plain strategy) and the RAM (the firmware runs and writes it). `n/a`: no destination",
    'QEMU yet at prepare\'s start.',
  ].join('\n'),
  PHASES,
  FAULTS,
);

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
  const deadline = Date.now() + 10_000;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`QEMU ${pid} on ${host} still there 10 s after SIGKILL`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function runCell(phase: Phase, fault: Fault): Promise<string> {
  const pair = new NetnsPair();
  const lab = new QemuLab([{ name: 'vm1', memoryMiB: MIB, memoryBackend: { type: 'file', path: '{host}/{vm}.ram' } }], 'tcg', pair);
  const timers: NodeJS.Timeout[] = [];
  const link = (state: 'up' | 'down') => execFileSync('ip', ['-n', pair.b, 'link', 'set', pair.interfaceB, state]);
  try {
    (await lab.startRunning('vm1', 'hostA', MIB)).monitor.disconnect();
    const controller = new AbortController();
    let fired = false;
    let restored: Promise<void> = Promise.resolve();
    const inject = async (at: Phase, point: FaultPoint) => {
      if (at !== phase || fired) return;
      fired = true;
      void point;
      if (fault === 'SIGINT') controller.abort();
      else if (fault === 'source QEMU killed') await killQemu(lab, 'hostA');
      else if (fault === 'destination QEMU killed') await killQemu(lab, 'hostB');
      else {
        link('down');
        restored = new Promise((resolve) => timers.push(setTimeout(() => (link('up'), resolve()), 1500)));
      }
    };
    const journalDir = path.join(lab.dir, 'journal');
    const run = new Migration(
      { vm: 'vm1', to: 'hostB', options: { ...DEFAULT_MIGRATION_OPTIONS, progressIntervalMs: 100, stepTimeoutMs: 15_000 }, spec: lab.specs.get('vm1') },
      { hosts: lab.hosts, strategy: new PlainStrategy(), journalDir, onEvent: () => undefined, signal: controller.signal, atPhase: inject },
    );
    const failure = await run.run().then(
      () => undefined,
      (error: unknown) => asNicmigError(error),
    );
    await restored;
    const exit = failure?.exitCode ?? 0;
    let outcome = failure ? `${failure.code} (exit ${exit})` : 'migrated (exit 0)';
    let reported: string | null = exit === 0 ? 'hostB' : exit >= 10 && exit <= 13 ? 'hostA' : null;
    const journals = fs.existsSync(journalDir) ? fs.readdirSync(journalDir).filter((f) => f.endsWith('.journal')) : [];
    if (exit === 14 && journals.length === 1) {
      const recovered = await recoverMigration(path.join(journalDir, journals[0] as string), lab.hosts, 10_000);
      outcome += `; recover: ${recovered.decision.action}`;
      reported = recovered.runsOn;
    }
    const states = new Map<string, string>();
    for (const host of ['hostA', 'hostB']) {
      const probe = await lab.host(host).probeVm('vm1');
      probe.monitor?.disconnect();
      states.set(host, probe.presence.state === 'running' || probe.presence.state === 'paused' ? probe.presence.status : probe.presence.state);
    }
    const running = [...states].filter(([, state]) => state === 'running').map(([host]) => host);
    const check = (holds: boolean, what: string) => {
      if (!holds) throw new Error(`${phase} x ${fault}: ${what} (outcome: ${outcome}; states: ${JSON.stringify([...states])})`);
    };
    check(running.length <= 1, 'the guest runs in at most one place');
    if (running.length === 0) {
      check(reported === null, 'a guest that runs nowhere is not reported as running');
      return `${outcome}; guest lost with its QEMU, reported`;
    }
    const where = running[0] as string;
    check(reported === where, `the guest runs where nicmig said (${String(reported)})`);
    const other = where === 'hostA' ? 'hostB' : 'hostA';
    check(pidOf(lab, other) === undefined, `no QEMU process is left on ${other}`);
    for (const name of journals) {
      const records = readJournal(path.join(journalDir, name)).records;
      check(TERMINAL_EVENTS.includes(records.at(-1)?.event as never), `the journal ends in a terminal record (${records.at(-1)?.event})`);
    }
    return `${outcome}; runs on ${where}`;
  } finally {
    for (const timer of timers) clearTimeout(timer);
    await lab.cleanup();
    pair.destroy();
  }
}

(canNetns ? describeWithQemu : describe.skip)('fault matrix on real QEMU 7.2 between network namespaces (plain strategy)', () => {
  section.declareTests(
    PHASES.flatMap((phase) => FAULTS.filter((fault) => !(fault === 'destination QEMU killed' && phase === 'prepare')).map((fault) => [phase, fault] as const)),
    runCell,
  );
});
