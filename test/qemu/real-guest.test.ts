import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { isAlive } from '../../src/hosts/qemu-host.js';
import { listJournals } from '../../src/migration/journal.js';
import { runCli } from '../helpers/cli.js';
import { GuestConsole, type GuestStatus } from '../helpers/guest/console.js';
import { guestImage, type GuestImage } from '../helpers/guest/image.js';
import { GuestFabric, GUEST_SUBNET_PREFIX, type FdbChange, type ProbeResult } from '../helpers/guest/network.js';
import { guestVmSpec, qemuWithGuestRamShort } from '../helpers/guest/vm.js';
import { netnsAvailable } from '../helpers/netns.js';
import { describeWithQemu, qemuBinaries, type QemuBinary } from '../helpers/qemu.js';

/**
 * A real Linux guest (Debian's kernel, busybox, our agent) started by `nicmig vm start` and
 * migrated by the built CLI between two hosts that are network namespaces, on QEMU 7.2, 10.0
 * and from 7.2 to 10.0, while a prober sends it UDP at 1 kHz from a third namespace and its
 * workload dirties memory. Its NIC is the inventory's tap on each host's bridge: nicmig makes
 * the destination's and deletes the source's. After every migration the guest is asked from
 * inside whether it kept running; a last migration that times out and rolls back leaves it
 * running where it was, and no tap on the host it did not reach.
 */

jest.setTimeout(600_000);

const PROBE_RATE_HZ = 1000;
const DOWNTIME_LIMIT_MS = 50;
/** What a just-resumed TCG guest on a loaded machine may take to answer again (see below). */
const TCG_COLD_START_MS = 500;
const MAC = '52:54:00:c0:ff:ee';
/** The guest's tap on each host: nicmig's default name, <vm>-<NIC id>. */
const TAP = 'guest-net0';
const UDP_PORT = 7;

const canNetns = netnsAvailable();
if (!canNetns && process.env.CI === 'true') throw new Error('CI=true but network namespaces cannot be made here (needs root and iproute2)');
if (!canNetns) process.stderr.write('SKIPPED real-guest suite: cannot make network namespaces (needs root and iproute2)\n');

const binaries = new Map(qemuBinaries().map((q) => [q.version, q]));
/**
 * Same-version pairs go there and back; 7.2 -> 10.0 is the rolling upgrade, one way.
 *
 * Migrated out of QEMU 7.2 (under TCG) with 256 MiB of RAM, the guest's kernel crashed right
 * after RESUME in 6 of 9 runs here (corrupt hrtimer tree or wait queue), out of QEMU 10.0 never.
 * The cause is QEMU 7.2's: its dirty bitmap sync clears the bits of a RAM block whose size is a
 * multiple of 64 pages on a fast path that does not reset the TCG TLB, so later stores through
 * it are not logged and never sent (fixed in QEMU 9.0, commit 03bfc2188f "physmem: Fix
 * migration dirty bitmap coherency with TCG memory access"; KVM is not affected). nicmig warns
 * about such a source in preflight (checked here). A 7.2 source runs the guest with its RAM
 * 8 KiB short of 256 MiB, which takes the slow path (`qemuWithGuestRamShort`): intact in 66 of
 * 66 of bench/guest's migrations against 0 of 12 at 256 MiB. NICMIG_GUEST_QEMU72_RAM=plain runs
 * 7.2 as is, to see the bug.
 */
const cases: { from: string; to: string; hops: number; dirtyMiBPerSecond: number; title: string }[] = [
  { from: '7.2', to: '7.2', hops: 2, dirtyMiBPerSecond: 4, title: 'workload 4 MiB/s' },
  { from: '10.0', to: '10.0', hops: 2, dirtyMiBPerSecond: 4, title: 'workload 4 MiB/s' },
  { from: '7.2', to: '10.0', hops: 1, dirtyMiBPerSecond: 4, title: 'workload 4 MiB/s' },
].filter((c) => binaries.has(c.from) && binaries.has(c.to));
const MEMORY_MIB = 256;
const QEMU72_RAM_SHORT = process.env.NICMIG_GUEST_QEMU72_RAM !== 'plain';

/**
 * Failures at each phase before the destination runs the guest: the phase fails there
 * (NICMIG_FAULT_FAIL_AT: rolled back, exit 11), or nicmig is SIGKILLed there
 * (NICMIG_FAULT_KILL_AT) and `nicmig recover` rolls back. The switchover's fires inside the
 * pre-switchover event's dispatch: the source's guest is stopped then.
 */
const FAILURES: { how: 'fail' | 'kill' | 'time out'; at: string }[] = [
  { how: 'fail', at: 'prepare' },
  { how: 'fail', at: 'precopy' },
  { how: 'fail', at: 'switchover' },
  { how: 'fail', at: 'resume:before-cont' },
  { how: 'kill', at: 'precopy' },
  { how: 'kill', at: 'switchover' },
  // A migration that cannot finish in time (256 MiB at 1 MiB/s, 1 s), cancelled while active.
  // (Before taps had a fixed MAC, the host bridge's MAC moved with the taps, the source's
  // connect to the destination hung in `setup` until TCP gave up after 2 minutes, and a
  // migration cancelled there left QEMU 7.2 `cancelling` and QEMU 10.0 refusing the next
  // `migrate` with "duplicate yank instance": src/hosts/taps.ts, tapMac.)
  { how: 'time out', at: 'precopy' },
];

interface Measured {
  hop: string;
  bootMs?: number;
  measuredDowntimeMs: number;
  qemuDowntimeMs: number | null;
  orchestratorDowntimeMs: number | null;
  announceMs: number;
  probe: ProbeResult;
  totalTimeMs: number;
  switchoverLost?: number;
  /** Whether the bound held strictly (no allowance for a cold TCG guest). */
  strictBoundHeld?: boolean;
}
const measurements: Measured[] = [];
const failureTimings: { case: string; what: string; ms: number }[] = [];

describeWithQemu('a real Linux guest migrated by nicmig between network-namespace hosts', () => {
  (canNetns ? describe : describe.skip)('guest, fabric and prober', () => {
    let image: GuestImage;
    beforeAll(() => {
      image = guestImage();
    }, 600_000);
    afterAll(() => {
      if (measurements.length > 0) process.stderr.write(`real-guest measurements:\n${measurements.map((m) => JSON.stringify(m)).join('\n')}\n`);
      if (failureTimings.length > 0) process.stderr.write(`real-guest failures, each to the guest checked:\n${failureTimings.map((m) => JSON.stringify(m)).join('\n')}\n`);
    });

    describe.each(cases)('QEMU $from -> $to, $title', ({ from, to, hops, dirtyMiBPerSecond }) => {
      let dir: string;
      let fabric: GuestFabric;
      let guestConsole: GuestConsole;
      let configFile: string;
      let bootMs: number;
      let booted: GuestStatus;

      beforeAll(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-guest-${process.pid}-`));
        fabric = new GuestFabric(['hostA', 'hostB'], null);
        guestConsole = await GuestConsole.listen(path.join(dir, 'console.sock'));
        const spec = guestVmSpec({
          name: 'guest',
          image,
          address: `${GUEST_SUBNET_PREFIX}.10/24`,
          mac: MAC,
          bridge: 'br0',
          consoleArgs: guestConsole.qemuArgs(),
          dirtyMiBPerSecond: Number(process.env.NICMIG_GUEST_DIRTY_MIBS ?? dirtyMiBPerSecond),
          workingSetMiB: 32,
          udpPort: UDP_PORT,
          memoryMiB: MEMORY_MIB,
        });
        const hostEntry = (name: string, qemu: QemuBinary) => ({
          kind: 'qemu',
          migrationAddress: fabric.host(name).address,
          runDir: path.join(dir, name),
          qemuBinary: qemu.version === '7.2' && QEMU72_RAM_SHORT ? qemuWithGuestRamShort(dir, qemu.binary, MEMORY_MIB) : qemu.binary,
          accel: 'tcg',
          netns: fabric.host(name).netns,
        });
        configFile = path.join(dir, 'config.yaml');
        // JSON is YAML.
        fs.writeFileSync(
          configFile,
          JSON.stringify({
            stateDir: path.join(dir, 'state'),
            hosts: { hostA: hostEntry('hostA', binaries.get(from) as QemuBinary), hostB: hostEntry('hostB', binaries.get(to) as QemuBinary) },
            vms: [spec],
          }),
        );
        const ready = guestConsole.waitFor('ready', 120_000, 'guest agent ready (boot)');
        const started = performance.now();
        const start = await runCli(['vm', 'start', 'guest', '--on', 'hostA', '--config', configFile], { timeoutMs: 120_000 });
        expect({ code: start.code, stderr: start.stderr }).toMatchObject({ code: 0 });
        await ready;
        bootMs = performance.now() - started;
        booted = await guestConsole.request('status');
      }, 300_000);

      afterAll(async () => {
        for (const host of ['hostA', 'hostB']) {
          const pidFile = path.join(dir, host, 'guest.pid');
          if (!fs.existsSync(pidFile)) continue;
          const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
          if (!isAlive(pid)) continue;
          process.kill(pid, 'SIGKILL');
          const deadline = Date.now() + 10_000;
          while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        // The guest's whole serial output, for a look after a failure.
        if (process.env.NICMIG_GUEST_CONSOLE_DIR && guestConsole) fs.writeFileSync(path.join(process.env.NICMIG_GUEST_CONSOLE_DIR, `console-${from}-${to}.log`), guestConsole.log);
        await guestConsole?.close();
        fabric?.destroy();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
      });

      it(`keeps running across ${hops === 2 ? 'hostA -> hostB -> hostA' : 'hostA -> hostB'}: same boot, memory intact, probes lost only in the downtime, the fabric follows`, async () => {
        expect(booted.boot).toMatch(/^[0-9a-f-]{36}$/);
        let previous = booted;
        const route = hops === 2 ? ['hostB', 'hostA'] : ['hostB'];
        for (const [index, destination] of route.entries()) {
          const source = index === 0 ? 'hostA' : route[index - 1];
          const before = await guestConsole.request('verify');
          expect(before.memory).toBe(before.sum);
          expect(before.expected).toBe(before.sum);

          const prober = await fabric.startProber(image.prober, `${GUEST_SUBNET_PREFIX}.10`, UDP_PORT, PROBE_RATE_HZ);
          // The guest has answered from the source: the fabric learned it there.
          expect(fabric.fabricPortOf(MAC)).toBe(fabric.host(source as string).fabricPort);
          const fdb = fabric.watchFdb(MAC);
          await fdb.ready;
          const result = await runCli(['migrate', 'guest', destination, '--config', configFile, '--events', '--downtime-limit', String(DOWNTIME_LIMIT_MS), ...(process.env.NICMIG_GUEST_NO_AUTO_CONVERGE ? ['--no-auto-converge'] : [])], { timeoutMs: 300_000 });
          const events = result.stdout
            .split('\n')
            .filter((line) => line.startsWith('{'))
            .map((line) => JSON.parse(line) as Record<string, unknown> & { time: string; type: string });
          const summary = events.find((e) => e.type === 'summary') as Record<string, unknown> | undefined;
          if (result.code !== 0) throw new Error(`nicmig migrate guest ${destination} exited ${result.code}:\n${result.stderr.slice(-4000)}`);
          expect({ code: result.code, status: summary?.status }).toEqual({ code: 0, status: 'migrated' });
          // A TCG source older than QEMU 9.0 is warned about in preflight, not refused.
          const sourceVersion = source === 'hostA' ? from : to;
          const tcgWarnings = events.filter((e) => e.type === 'warning' && String(e.message).includes('runs the guest under TCG'));
          expect(tcgWarnings).toHaveLength(sourceVersion === '7.2' ? 1 : 0);

          // The announce reaches the fabric: its FDB points the guest's MAC at the destination.
          const port = fabric.host(destination).fabricPort;
          const deadline = Date.now() + 10_000;
          while (fabric.fabricPortOf(MAC) !== port && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
          expect(fabric.fabricPortOf(MAC)).toBe(port);
          // nicmig made the destination's tap on its bridge and deleted the source's; QEMU announced.
          // Its MAC the guest's with 0xfe first: the bridge keeps its own (and the host its address's).
          expect(fabric.linkOn(destination, TAP)).toMatchObject({ kind: 'tun', tunType: 'tap', master: 'br0', up: true, address: 'fe:54:00:c0:ff:ee' });
          expect(fabric.linkOn(source as string, TAP)).toBeUndefined();
          const [journal] = listJournals(path.join(dir, 'state', 'journal'), 'guest');
          expect(journal?.records.filter((r) => r.event === 'announced').map((r) => r.data)).toEqual([expect.objectContaining({ by: 'qemu', nics: [{ id: 'net0', mac: MAC }] })]);
          // Some traffic after the move before the prober stops, so the gap is closed by replies.
          await new Promise((resolve) => setTimeout(resolve, 300));
          const probe = await prober.stop();
          const changes: FdbChange[] = fdb.stop();

          // The guest, asked from inside after the migration: same boot, time went on, memory intact.
          const after = await guestConsole.request('verify');
          expect(after.boot).toBe(booted.boot);
          expect(after.uptimeMs).toBeGreaterThan(previous.uptimeMs);
          if (dirtyMiBPerSecond > 0) expect(after.generation).toBeGreaterThan(before.generation);
          expect({ memory: after.memory, expected: after.expected }).toEqual({ memory: after.sum, expected: after.sum });
          expect(guestConsole.connected).toBe(1);

          // Probes lost only inside the downtime.
          const measuredDowntimeMs = Number(summary?.measuredDowntimeMs);
          expect(measuredDowntimeMs).toBeGreaterThan(0);
          const resumeStarted = events.find((e) => e.type === 'phase' && e.phase === 'resume' && e.state === 'started');
          const moved = changes.find((c) => c.port === port);
          expect(moved).toBeDefined();
          // From the start of nicmig's resume phase (just before `cont`) to the fabric's FDB
          // entry moving; 0 when QEMU's announce (sent when the incoming migration completes)
          // got there before.
          const announceMs = Math.max(0, (moved as FdbChange).time - Date.parse(String(resumeStarted?.time)));
          // Probes still queued for the source when it stopped are lost with it: as many as
          // the guest's backlog then (the round trip of the last reply before the gap).
          const allowedLossMs = measuredDowntimeMs + 2 * probe.intervalMs + announceMs + probe.gapStartRttMs;
          measurements.push({
            hop: `${from}:${source} -> ${to === from ? to : destination === 'hostB' ? to : from}:${destination}`,
            bootMs: index === 0 ? Math.round(bootMs) : undefined,
            measuredDowntimeMs,
            qemuDowntimeMs: summary?.downtimeMs as number | null,
            orchestratorDowntimeMs: summary?.orchestratorDowntimeMs as number | null,
            announceMs: Math.round(announceMs * 1000) / 1000,
            probe,
            totalTimeMs: summary?.totalTimeMs as number,
          });
          expect(probe.duplicates).toBe(0);
          // Lost only inside the downtime: by send time, no longer run than the pause allows.
          // The gap between replies is longer under TCG: after RESUME the destination's guest
          // runs from an empty translation cache and answers the probes that waited in its
          // queues late (maxRttMs), so it is reported, not held to the pause.
          // The switchover's losses: the runs of lost probes sent between STOP (at the latest
          // RESUME - downtime, RESUME no earlier than the resume phase's start) and the
          // fabric's move. Losses elsewhere come from a TCG guest starved of CPU on a loaded
          // machine (seen with load 10 on 2 cores), and are reported in the measurements.
          const stopMs = Date.parse(String(resumeStarted?.time)) - measuredDowntimeMs;
          const windowSeq = [(stopMs - 50 - probe.startedMs) / probe.intervalMs, ((moved as FdbChange).time + 50 - probe.startedMs) / probe.intervalMs];
          const switchoverRuns = probe.lossRuns.filter(([first, length]) => first + length >= (windowSeq[0] as number) && first <= (windowSeq[1] as number));
          const switchoverLost = switchoverRuns.reduce((sum, [, length]) => sum + length, 0);
          const strictBoundHeld = switchoverLost * probe.intervalMs <= allowedLossMs;
          measurements[measurements.length - 1] = { ...(measurements[measurements.length - 1] as Measured), switchoverLost, strictBoundHeld };
          // A TCG guest resumes with an empty translation cache: on a loaded 2-core machine its
          // agent answered nothing for up to ~250 ms after RESUME (one CI run at load 6: 290
          // probes lost against a 40 ms pause). Allowed, and reported (strictBoundHeld); a
          // guest cut off for longer (a fabric still pointing at the source, an announce that
          // never came, a source that stopped answering early) still fails here.
          expect(switchoverLost * probe.intervalMs).toBeLessThanOrEqual(allowedLossMs + TCG_COLD_START_MS);
          previous = after;
        }
      });

      it('a migration that fails at each phase, or whose nicmig dies there, leaves the guest answering from where it ran, same boot', async () => {
        const here = hops === 2 ? 'hostA' : 'hostB';
        const there = here === 'hostA' ? 'hostB' : 'hostA';
        let previous = await guestConsole.request('verify');
        expect(previous.boot).toBe(booted.boot);
        for (const { how, at } of FAILURES) {
          const what = `${how} at ${at}`;
          const attemptStarted = performance.now();
          const env: Record<string, string> = how === 'time out' ? {} : { [how === 'fail' ? 'NICMIG_FAULT_FAIL_AT' : 'NICMIG_FAULT_KILL_AT']: at };
          const limits = how === 'time out' ? ['--bandwidth', '1MiB', '--timeout', '1'] : [];
          const result = await runCli(['migrate', 'guest', there, '--config', configFile, '--json', ...limits], { env, timeoutMs: 300_000 });
          const [phase, point] = at.split(':');
          if (how !== 'time out') {
            expect({ what, stderr: result.stderr }).toMatchObject({ stderr: expect.stringContaining(`fault injected: ${how === 'fail' ? 'failure' : 'SIGKILL'} at ${phase} (${point ?? (phase === 'switchover' ? 'pre-switchover-dispatch' : 'phase-start')})`) });
          }
          if (how === 'time out') {
            const document = JSON.parse(result.stdout || '{}') as { status?: string; error?: { code?: string } };
            expect({ what, code: result.code, status: document.status, error: document.error?.code, stderr: result.stderr.slice(-2000) }).toMatchObject({ what, code: 12, status: 'rolled-back', error: 'MIGRATION_TIMED_OUT' });
          } else if (how === 'fail') {
            const document = JSON.parse(result.stdout || '{}') as { status?: string; rolledBack?: boolean };
            expect({ what, code: result.code, status: document.status, rolledBack: document.rolledBack, stderr: result.stderr.slice(-2000) }).toMatchObject({ what, code: 11, status: 'rolled-back', rolledBack: true });
          } else {
            expect({ what, killed: result.code !== 0 }).toEqual({ what, killed: true });
            const recovered = await runCli(['recover', 'guest', '--config', configFile], { timeoutMs: 120_000 });
            expect({ what, code: recovered.code, stdout: recovered.stdout, stderr: recovered.stderr.slice(-2000) }).toMatchObject({ what, code: 0, stdout: expect.stringMatching(/guest: rolled back/) });
          }
          // Answering from where it ran: the prober's first reply came back (it waits for one),
          // through the source's port on the fabric; the other host keeps no tap.
          const prober = await fabric.startProber(image.prober, `${GUEST_SUBNET_PREFIX}.10`, UDP_PORT, PROBE_RATE_HZ);
          const probe = await prober.stop();
          expect({ what, received: probe.received > 0, duplicates: probe.duplicates }).toEqual({ what, received: true, duplicates: 0 });
          expect({ what, port: fabric.fabricPortOf(MAC) }).toEqual({ what, port: fabric.host(here).fabricPort });
          expect({ what, tap: fabric.linkOn(there, TAP) }).toEqual({ what, tap: undefined });
          expect({ what, tap: fabric.linkOn(here, TAP) }).toMatchObject({ what, tap: { master: 'br0', up: true } });
          // Asked from inside: the same boot, time went on, memory intact.
          const after = await guestConsole.request('verify');
          expect({ what, boot: after.boot, forward: after.uptimeMs > previous.uptimeMs }).toEqual({ what, boot: booted.boot, forward: true });
          expect({ what, memory: after.memory, expected: after.expected }).toEqual({ what, memory: after.sum, expected: after.sum });
          failureTimings.push({ case: `${from} -> ${to}`, what, ms: Math.round(performance.now() - attemptStarted) });
          previous = after;
        }
      });
    });
  });
});
