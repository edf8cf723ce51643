import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { isAlive } from '../../src/hosts/qemu-host.js';
import { listJournals, type JournalRecord } from '../../src/migration/journal.js';
import { NICMIG_BIN, runCli, type CliResult } from '../helpers/cli.js';
import { GuestFabric } from '../helpers/guest/network.js';
import { netnsAvailable, NetnsPair } from '../helpers/netns.js';
import { describeWithQemu, QEMU_BINARY } from '../helpers/qemu.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * NICs the inventory describes, on QEMU 7.2 with network namespaces as hosts: the built CLI
 * starts a VM whose virtio-net is a tap on a bridge (`nicmig vm start`), migrates it, and the
 * taps, the fabric's forwarding table and the journal are read from outside. No guest OS: the
 * announce is QEMU's own RARP from the NIC's MAC (or announce-self's), which the fabric learns.
 */

jest.setTimeout(300_000);

const MAC = '52:54:00:5a:00:01';
/** The tap's own MAC: the guest's with 0xfe first, so that the host bridge never takes it (src/hosts/taps.ts). */
const TAP_MAC = 'fe:54:00:5a:00:01';

const canNetns = netnsAvailable();
if (!canNetns && process.env.CI === 'true') throw new Error('CI=true but network namespaces cannot be made here (needs root and iproute2)');
if (!canNetns) process.stderr.write('SKIPPED NIC suite: cannot make network namespaces (needs root and iproute2)\n');

/** The built CLI in a mount namespace of its own whose /etc has `etcDir` laid over it (an ACL for the bridge helper), the machine's /etc untouched. */
function runCliWithEtc(etcDir: string, args: string[]): Promise<CliResult> {
  const script = 'mount -t overlay overlay -o lowerdir="$0":/etc /etc && exec "$@"';
  return new Promise((resolve, reject) => {
    execFile(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', script, etcDir, process.execPath, NICMIG_BIN, ...args],
      { timeout: 120_000, env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        if (error && error.signal) return resolve({ code: -1, signal: error.signal, stdout, stderr });
        if (error && typeof error.code !== 'number') return reject(new Error(`nicmig ${args.join(' ')} did not run: ${error.message}\n${stderr}`));
        resolve({ code: error ? Number(error.code) : 0, signal: null, stdout, stderr });
      },
    );
  });
}

describeWithQemu('NICs from the inventory on network-namespace hosts (QEMU 7.2, the built CLI)', () => {
  (canNetns ? describe : describe.skip)('two hosts with a bridge each on one fabric', () => {
    let dir: string;
    let fabric: GuestFabric;

    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-nics-'));
      fabric = new GuestFabric(['hostA', 'hostB'], null);
    });

    afterEach(async () => {
      // Every QEMU the CLI started, whatever happened to the test.
      for (const host of ['hostA', 'hostB']) {
        const runDir = path.join(dir, host);
        if (!fs.existsSync(runDir)) continue;
        for (const file of fs.readdirSync(runDir).filter((f) => f.endsWith('.pid'))) {
          const pid = Number(fs.readFileSync(path.join(runDir, file), 'utf8').trim());
          if (!isAlive(pid)) continue;
          process.kill(pid, 'SIGKILL');
          await waitUntil(`QEMU ${pid} to be gone`, () => isAlive(pid), (alive) => !alive, { deadlineMs: 10_000 });
        }
      }
      fabric.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    function inventory(vms: Record<string, unknown>[], name = 'config.yaml'): string {
      const host = (hostName: string) => ({ kind: 'qemu', migrationAddress: fabric.host(hostName).address, runDir: path.join(dir, hostName), qemuBinary: QEMU_BINARY, accel: 'tcg', netns: fabric.host(hostName).netns });
      const file = path.join(dir, name);
      // JSON is YAML.
      fs.writeFileSync(file, JSON.stringify({ stateDir: path.join(dir, 'state'), hosts: { hostA: host('hostA'), hostB: host('hostB') }, vms }));
      return file;
    }

    const vm = (netdev: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      name: 'vm1',
      machine: 'pc-q35-7.2',
      memoryMiB: 64,
      devices: [{ type: 'virtio-net', id: 'net0', mac: MAC, netdev }],
      ...extra,
    });

    async function cli(config: string, ...args: string[]): Promise<CliResult> {
      return runCli([...args, '--config', config], { timeoutMs: 120_000 });
    }

    function expectExit(result: CliResult, code: number): void {
      expect({ code: result.code, stdout: result.stdout.slice(-3000), stderr: result.stderr.slice(-3000) }).toMatchObject({ code });
    }

    const tap = (host: string) => fabric.linkOn(host, 'vm1-net0');
    const fabricPointsAt = (host: string) =>
      waitUntil(`the fabric to forward ${MAC} to ${host}`, () => fabric.fabricPortOf(MAC) ?? 'nowhere', (port) => port === fabric.host(host).fabricPort, { deadlineMs: 15_000 });

    /** The records of the VM's latest journal. */
    function journal(): JournalRecord[] {
      const [latest] = listJournals(path.join(dir, 'state', 'journal'), 'vm1');
      if (!latest) throw new Error('no journal');
      return latest.records;
    }

    it("vm start makes the tap in hostA's namespace; migrate moves it to hostB and QEMU's announce moves the fabric's entry, and back; vm stop removes it", async () => {
      const config = inventory([vm({ type: 'tap', bridge: 'br0' })]);
      expectExit(await cli(config, 'vm', 'start', 'vm1', '--on', 'hostA'), 0);
      const pid = Number(fs.readFileSync(path.join(dir, 'hostA', 'vm1.pid'), 'utf8'));
      expect(NetnsPair.namespaceOf(pid)).toBe(fabric.host('hostA').netns);
      expect(tap('hostA')).toEqual({ kind: 'tun', tunType: 'tap', master: 'br0', up: true, address: TAP_MAC });
      expect(tap('hostB')).toBeUndefined();

      const status = JSON.parse((await cli(config, 'status', 'vm1', '--json')).stdout) as { vms: { runsOn: string; nics: unknown[] }[] };
      expect(status.vms[0]).toMatchObject({ runsOn: 'hostA', nics: [{ id: 'net0', mac: MAC, netdev: 'tap on br0', tap: 'vm1-net0' }] });

      for (const [from, to] of [
        ['hostA', 'hostB'],
        ['hostB', 'hostA'],
      ] as const) {
        const migrated = await cli(config, 'migrate', 'vm1', to, '--json');
        expectExit(migrated, 0);
        expect(JSON.parse(migrated.stdout)).toMatchObject({ status: 'migrated', from, to });
        // The destination's tap on its bridge; the source's gone with its QEMU.
        expect(tap(to)).toEqual({ kind: 'tun', tunType: 'tap', master: 'br0', up: true, address: TAP_MAC });
        expect(tap(from)).toBeUndefined();
        await fabricPointsAt(to);
        const records = journal();
        expect(records.filter((r) => r.event === 'announced').map((r) => r.data)).toEqual([
          expect.objectContaining({ by: 'qemu', nics: [{ id: 'net0', mac: MAC }], rounds: 5, initialMs: 50, stepMs: 100, maxMs: 550 }),
        ]);
        expect(records.find((r) => r.event === 'note' && r.data.released)?.data).toEqual({ released: { host: from, taps: ['vm1-net0'] } });
      }

      const stopped = await cli(config, 'vm', 'stop', 'vm1', '--json');
      expectExit(stopped, 0);
      expect(JSON.parse(stopped.stdout)).toEqual({ vm: 'vm1', stopped: [{ host: 'hostA', how: 'quit' }] });
      expect(fabric.tapsOn('hostA')).toEqual([]);
      expect(fabric.tapsOn('hostB')).toEqual([]);
    });

    it("nicmig sends announce-self with the inventory's rounds when the destination's are off, and journals it as its own", async () => {
      // QEMU's own announce off on both sides: only announce-self can move the fabric's entry.
      const config = inventory([vm({ type: 'tap', bridge: 'br0' }, { qemuArgs: ['-global', 'migration.announce-rounds=0'], announce: { rounds: 2, stepMs: 10 } })]);
      expectExit(await cli(config, 'vm', 'start', 'vm1', '--on', 'hostA'), 0);
      expect(fabric.fabricPortOf(MAC)).toBeUndefined();
      expectExit(await cli(config, 'migrate', 'vm1', 'hostB', '--json'), 0);
      await fabricPointsAt('hostB');
      expect(journal().filter((r) => r.event === 'announced').map((r) => r.data)).toEqual([
        {
          by: 'nicmig',
          how: 'announce-self',
          why: "the destination QEMU's announce-rounds is 0",
          nics: [{ id: 'net0', mac: MAC }],
          rounds: 2,
          initialMs: 50,
          maxMs: 550,
          stepMs: 10,
        },
      ]);
    });

    it("a migration that fails and rolls back deletes the destination's tap; the source keeps its tap and runs", async () => {
      // Random RAM at 1 MiB/s cannot be copied within the 1 s deadline: timed out, rolled back.
      const config = inventory([vm({ type: 'tap', bridge: 'br0' }, { memoryBackend: { type: 'file', path: path.join(dir, '{host}-{vm}.ram') } })]);
      fs.writeFileSync(path.join(dir, 'hostA-vm1.ram'), crypto.randomBytes(64 << 20));
      expectExit(await cli(config, 'vm', 'start', 'vm1', '--on', 'hostA'), 0);
      const failed = await cli(config, 'migrate', 'vm1', 'hostB', '--bandwidth', '1MiB', '--timeout', '1', '--json');
      expectExit(failed, 12);
      expect(JSON.parse(failed.stdout)).toMatchObject({ status: 'rolled-back' });
      const records = journal();
      expect(records.map((r) => r.event)).toEqual(expect.arrayContaining(['destination-started', 'rollback-started', 'rolled-back']));
      expect(records.find((r) => r.event === 'note' && r.data.released)?.data).toEqual({ released: { host: 'hostB', taps: ['vm1-net0'] } });
      expect(tap('hostB')).toBeUndefined();
      expect(tap('hostA')).toEqual({ kind: 'tun', tunType: 'tap', master: 'br0', up: true, address: TAP_MAC });
      const status = JSON.parse((await cli(config, 'status', 'vm1', '--json')).stdout) as { vms: { runsOn: string; placements: { status: string }[] }[] };
      expect(status.vms[0]).toMatchObject({ runsOn: 'hostA', placements: [{ status: 'running' }] });
    });

    it('a bridge the destination lacks refuses the migration in preflight, naming host and bridge; nothing is made there', async () => {
      fabric.addBridge('hostA', 'br7');
      const config = inventory([vm({ type: 'tap', bridge: 'br7' })]);
      expectExit(await cli(config, 'vm', 'start', 'vm1', '--on', 'hostA'), 0);
      expect(tap('hostA')).toMatchObject({ master: 'br7' });
      const refused = await cli(config, 'migrate', 'vm1', 'hostB', '--json');
      expectExit(refused, 10);
      expect(JSON.parse(refused.stdout).error.details.reasons).toEqual(["hostB has no bridge br7 (NIC net0 of 'vm1'; it has br0)"]);
      expect(fabric.tapsOn('hostB')).toEqual([]);
      expect(fs.existsSync(path.join(dir, 'hostB', 'vm1.pid'))).toBe(false);
      expect(tap('hostA')).toMatchObject({ master: 'br7', up: true });
    });

    it("a bridge NIC through QEMU's bridge helper: refused while its ACL does not allow the bridge, started and migrated once it does", async () => {
      // The helper's ACL is /etc/qemu/bridge.conf (compiled into it); each CLI run gets one
      // laid over /etc in a mount namespace of its own, which QEMU and its helper inherit.
      const etc = (name: string, acl: string) => {
        const etcDir = path.join(dir, name);
        fs.mkdirSync(path.join(etcDir, 'qemu'), { recursive: true });
        fs.writeFileSync(path.join(etcDir, 'qemu', 'bridge.conf'), acl);
        return etcDir;
      };
      const denying = etc('etc-denying', 'allow br9\n');
      const allowing = etc('etc-allowing', '# the fabric\ninclude /etc/qemu/fabric.conf\n');
      fs.writeFileSync(path.join(allowing, 'qemu', 'fabric.conf'), 'allow br0\n');
      const config = inventory([vm({ type: 'bridge', br: 'br0' })]);

      const refused = await runCliWithEtc(denying, ['vm', 'start', 'vm1', '--on', 'hostA', '--json', '--config', config]);
      expectExit(refused, 10);
      expect(JSON.parse(refused.stdout).error.details.reasons).toEqual([
        "the bridge helper on hostA may not use bridge br0 (NIC net0 of 'vm1'): /etc/qemu/bridge.conf has no 'allow br0' (nor 'allow all'); the operator adds it there",
      ]);
      expect(fs.existsSync(path.join(dir, 'hostA', 'vm1.pid'))).toBe(false);

      expectExit(await runCliWithEtc(allowing, ['vm', 'start', 'vm1', '--on', 'hostA', '--config', config]), 0);
      // The helper's tap, on br0 in hostA's namespace.
      const [helperTap] = fabric.tapsOn('hostA');
      expect(helperTap).toBeDefined();
      expect(fabric.linkOn('hostA', helperTap as string)).toMatchObject({ master: 'br0', up: true });

      const deniedThere = await runCliWithEtc(denying, ['migrate', 'vm1', 'hostB', '--json', '--config', config]);
      expectExit(deniedThere, 10);
      expect(JSON.parse(deniedThere.stdout).error.details.reasons).toEqual([
        "the bridge helper on hostB may not use bridge br0 (NIC net0 of 'vm1'): /etc/qemu/bridge.conf has no 'allow br0' (nor 'allow all'); the operator adds it there",
      ]);

      const migrated = await runCliWithEtc(allowing, ['migrate', 'vm1', 'hostB', '--json', '--config', config]);
      expectExit(migrated, 0);
      await fabricPointsAt('hostB');
      const [destinationTap] = fabric.tapsOn('hostB');
      expect(fabric.linkOn('hostB', destinationTap as string)).toMatchObject({ master: 'br0', up: true });
      // The helper's tap goes with the QEMU that held it.
      await waitUntil("hostA's helper tap to go with its QEMU", () => fabric.tapsOn('hostA'), (taps) => taps.length === 0, { deadlineMs: 10_000 });
    });
  });
});
