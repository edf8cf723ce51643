import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, expect, it, jest } from '@jest/globals';
import { readJournal } from '../../src/migration/journal.js';
import { QmpClient } from '../../src/qmp/client.js';
import { runCli } from '../helpers/cli.js';
import { HandStartedProcesses, type HandStarted } from '../helpers/hand-started.js';
import { QemuLab, writeLabConfig } from '../helpers/qemu-lab.js';
import { describeWithQemu, qemuBinaries, qemuBinary } from '../helpers/qemu.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * VMs nicmig did not start: a command line written the way libvirt writes them, with
 * libvirt's own monitor (held by its client) and nicmig's extra `-qmp` socket, migrates with
 * the built `nicmig migrate` (`npm run build` first) to another host entry, the destination
 * built from the source's own command line and running the same devices. One with a tap
 * passed as an open file descriptor, and one whose monitor is passed as one, are refused
 * before anything starts, the source left running.
 */

jest.setTimeout(180_000);

const MAC = '52:54:00:5e:c0:01';

/** A tap name per host and per run (interface names are 15 bytes at most). */
function tapTemplate(): string {
  return `nm{host}${crypto.randomBytes(2).toString('hex')}`;
}

/** What libvirt 9 writes for a q35 guest on QEMU 7.2, nicmig's monitor from <qemu:commandline> last. */
function libvirtArgs(dir: string, runDir: string, netdev: Record<string, unknown>): string[] {
  return [
    '-name', 'guest=vm1,debug-threads=on',
    '-S',
    '-object', JSON.stringify({ 'qom-type': 'secret', id: 'masterKey0', format: 'raw', file: path.join(dir, 'master-key.aes') }),
    '-machine', 'pc-q35-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram',
    '-accel', 'tcg',
    '-m', 'size=65536k',
    '-object', '{"qom-type":"memory-backend-ram","id":"pc.ram","size":67108864}',
    '-overcommit', 'mem-lock=off',
    '-smp', '1,sockets=1,cores=1,threads=1',
    '-uuid', '0b6f8f7e-1c1a-4c0e-9d55-2a3f4b5c6d7e',
    '-no-user-config',
    '-nodefaults',
    '-chardev', `socket,id=charmonitor,path=${path.join(dir, 'libvirt-monitor.sock')},server=on,wait=off`,
    '-mon', 'chardev=charmonitor,id=monitor,mode=control',
    '-rtc', 'base=utc',
    '-no-shutdown',
    '-boot', 'strict=on',
    '-device', '{"driver":"pcie-root-port","port":16,"chassis":1,"id":"pci.1","bus":"pcie.0","multifunction":true,"addr":"0x2"}',
    '-device', '{"driver":"pcie-root-port","port":17,"chassis":2,"id":"pci.2","bus":"pcie.0","addr":"0x2.0x1"}',
    '-blockdev', JSON.stringify({ driver: 'file', filename: path.join(dir, 'vm1.img'), 'node-name': 'libvirt-1-storage', 'auto-read-only': true, discard: 'unmap' }),
    '-blockdev', '{"node-name":"libvirt-1-format","read-only":false,"driver":"raw","file":"libvirt-1-storage"}',
    '-device', '{"driver":"virtio-blk-pci","bus":"pci.2","addr":"0x0","drive":"libvirt-1-format","id":"virtio-disk0","bootindex":1}',
    '-netdev', JSON.stringify({ ...netdev, id: 'hostnet0' }),
    '-device', JSON.stringify({ driver: 'virtio-net-pci', netdev: 'hostnet0', id: 'net0', mac: MAC, bus: 'pci.1', addr: '0x0' }),
    '-chardev', 'pty,id=charserial0',
    '-device', '{"driver":"isa-serial","chardev":"charserial0","id":"serial0","index":0}',
    '-audiodev', '{"id":"audio1","driver":"none"}',
    '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    '-msg', 'timestamp=on',
    '-display', 'none',
    '-qmp', `unix:${path.join(runDir, 'vm1.qmp')},server=on,wait=off`,
  ];
}

/** The PCI devices as the guest sees them (bus, slot, function, ids, qdev id), bridges flattened. */
async function pciDevices(client: QmpClient): Promise<string[]> {
  interface PciDevice {
    bus: number;
    slot: number;
    function: number;
    id: { vendor: number; device: number };
    qdev_id: string;
    pci_bridge?: { devices?: PciDevice[] };
  }
  const buses = await client.execute<{ bus: number; devices: PciDevice[] }[]>('query-pci');
  const out: string[] = [];
  const walk = (devices: PciDevice[]) => {
    for (const d of devices) {
      out.push(`${d.bus}:${d.slot}.${d.function} ${d.id.vendor.toString(16)}:${d.id.device.toString(16)} ${d.qdev_id}`);
      walk(d.pci_bridge?.devices ?? []);
    }
  };
  for (const bus of buses) walk(bus.devices);
  return out.sort();
}

async function deviceFacts(client: QmpClient) {
  const peripherals = await client.execute<{ name: string; type: string }[]>('qom-list', { path: '/machine/peripheral' });
  const memdevs = await client.execute<{ id?: string; size: number }[]>('query-memdev');
  return {
    pci: await pciDevices(client),
    peripherals: peripherals.map((p) => `${p.name} ${p.type}`).sort(),
    memdevs: memdevs.map((m) => `${m.id} ${m.size}`),
    machine: await client.execute<string>('qom-get', { path: '/machine', property: 'type' }),
  };
}

function linkExists(name: string): boolean {
  return spawnSync('ip', ['link', 'show', name], { stdio: 'ignore' }).status === 0;
}

/** Connects to a QMP socket once it is up (the hand-started QEMU opens it during its start). */
async function connectWhenUp(socket: string, owner: HandStarted): Promise<QmpClient> {
  let client: QmpClient | undefined;
  await waitUntil(
    `a QMP greeting on ${socket}`,
    async () => {
      if (owner.hasExited()) throw new Error(`the hand-started QEMU exited before ${socket} was up: ${owner.stderr().trim()}`);
      client = fs.existsSync(socket) ? await QmpClient.connect(`unix:${socket}`, { peerName: path.basename(socket) }).catch(() => undefined) : undefined;
      return client;
    },
    (value) => value !== undefined,
    { deadlineMs: 60_000, show: () => owner.stderr().trim() || 'no socket yet' },
  );
  return client as QmpClient;
}

describeWithQemu('VMs nicmig did not start: the destination from the source\'s own command line', () => {
  let lab: QemuLab | undefined;
  const processes = new HandStartedProcesses();
  const clients: QmpClient[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await processes.cleanup();
    await lab?.cleanup();
    lab = undefined;
  });

  /** A lab whose inventory maps the tap's name per host, and the source's directory made. */
  function setUp(binary: string, template = tapTemplate()) {
    lab = new QemuLab([{ name: 'vm1', memoryMiB: 64, machine: 'pc-q35-7.2', qemuArgs: ['-netdev', `tap,id=hostnet0,ifname=${template},script=no,downscript=no`] }], 'tcg', undefined, { a: binary, b: binary });
    const config = writeLabConfig(lab);
    const runDirA = path.join(lab.dir, 'hostA');
    fs.mkdirSync(runDirA, { recursive: true });
    fs.writeFileSync(path.join(lab.dir, 'master-key.aes'), crypto.randomBytes(32));
    fs.writeFileSync(path.join(lab.dir, 'vm1.img'), Buffer.alloc(1 << 20));
    return { lab, config, runDirA, tapA: template.replace('{host}', 'hostA'), tapB: template.replace('{host}', 'hostB') };
  }

  /** As libvirt does after starting QEMU with -S: its client on its own monitor says cont. */
  async function libvirtContinues(current: QemuLab, source: HandStarted): Promise<QmpClient> {
    const libvirt = await connectWhenUp(path.join(current.dir, 'libvirt-monitor.sock'), source);
    clients.push(libvirt);
    await libvirt.execute('cont');
    await waitUntil('the source to run', () => libvirt.execute<{ status: string }>('query-status'), (s) => s.status === 'running');
    return libvirt;
  }

  for (const { version, binary } of qemuBinaries()) {
    it(`QEMU ${version}: a libvirt-style VM with an extra monitor migrates; the destination runs the same devices, its tap named for its host`, async () => {
      const { lab: current, config, runDirA, tapA, tapB } = setUp(binary);
      const source = processes.start(binary, libvirtArgs(current.dir, runDirA, { type: 'tap', ifname: tapA, script: 'no', downscript: 'no' }));
      const libvirt = await libvirtContinues(current, source);
      // The firmware numbers the root ports' buses as it runs: compare once it has.
      const before = await waitUntil('the firmware to number the buses behind the root ports', () => deviceFacts(libvirt), (facts) => facts.pci.some((d) => / net0$/.test(d)) && facts.pci.some((d) => / virtio-disk0$/.test(d)), {
        deadlineMs: 60_000,
      });
      expect(before.peripherals).toEqual(expect.arrayContaining(['net0 child<virtio-net-pci>', 'virtio-disk0 child<virtio-blk-pci>', 'serial0 child<isa-serial>']));
      expect(linkExists(tapA)).toBe(true);

      // The dry run shows the operator each change before anything moves.
      const dryRun = await runCli(['migrate', 'vm1', 'hostB', '--dry-run', '--config', config]);
      expect(dryRun.code).toBe(0);
      expect(dryRun.stdout).toMatch(/destination built from\s+the source's command line \(\d+ changes\)/);
      expect(dryRun.stdout).toMatch(new RegExp(`destination change\\s+-netdev .*: ifname ${tapA} -> ${tapB}`));
      expect(fs.existsSync(path.join(current.dir, 'hostB', 'vm1.log'))).toBe(false);

      const result = await runCli(['migrate', 'vm1', 'hostB', '--json', '--config', config], { timeoutMs: 150_000 });
      if (result.code !== 0) throw new Error(`nicmig migrate exited ${result.code}: ${result.stdout}\n${result.stderr}`);
      const summary = JSON.parse(result.stdout);
      expect(summary).toMatchObject({ status: 'migrated', from: 'hostA', to: 'hostB', destination: { builtFrom: 'source-command-line' } });
      expect(summary.destination.rewrites).toEqual(
        expect.arrayContaining([
          '-S: dropped (the destination starts -S -incoming defer)',
          expect.stringMatching(/^-chardev socket,id=charmonitor,path=.*: dropped \(the chardev of a monitor of the source\)$/),
          "-mon chardev=charmonitor,id=monitor,mode=control: dropped (the destination has nicmig's monitor only)",
          expect.stringMatching(new RegExp(`^-netdev .*: ifname ${tapA} -> ${tapB} \\(inventory template nm\\{host\\}`)),
        ]),
      );
      const journal = readJournal(summary.journal).records;
      expect(journal.find((r) => r.event === 'destination-starting')?.data).toMatchObject({ host: 'hostB', builtFrom: 'source-command-line' });

      // The source quit (and its tap went with it); the destination runs the same machine.
      await waitUntil('the source QEMU to exit', () => source.hasExited(), (exited) => exited);
      expect(linkExists(tapA)).toBe(false);
      expect(linkExists(tapB)).toBe(true);
      const destination = await QmpClient.connect(`unix:${path.join(current.dir, 'hostB', 'vm1.qmp')}`, { peerName: 'vm1 on hostB' });
      clients.push(destination);
      expect((await destination.execute<{ status: string }>('query-status')).status).toBe('running');
      expect(await deviceFacts(destination)).toEqual(before);
      expect(fs.readFileSync(path.join(current.dir, 'hostB', 'vm1.log'), 'utf8')).toMatch(new RegExp(`nicmig starts vm1 \\(incoming, from the command line of process ${source.pid} on hostA\\)`));
    });
  }

  const q72 = qemuBinary('7.2');
  if (q72) {
    it('QEMU 7.2: a tap passed as an open file descriptor (-netdev tap,fd=3) is refused before anything starts; the source runs on', async () => {
      const { lab: current, config, runDirA, tapA } = setUp(q72.binary);
      const source = processes.start(q72.binary, libvirtArgs(current.dir, runDirA, { type: 'tap', fd: '3' }), { kind: 'tap', target: tapA });
      await libvirtContinues(current, source);

      const result = await runCli(['migrate', 'vm1', 'hostB', '--json', '--config', config]);
      expect(result.code).toBe(10);
      const document = JSON.parse(result.stdout);
      expect(document).toMatchObject({ status: 'refused', rolledBack: false, journal: null, error: { code: 'PREFLIGHT_REFUSED', cause: { code: 'COMMAND_LINE_NOT_PORTABLE' } } });
      expect(document.error.message).toMatch(
        /the command line of 'vm1' on hostA cannot be carried to hostB: -netdev \{"type":"tap","fd":"3","id":"hostnet0"\}: passes an open file descriptor \(fd=3\) that only the source QEMU process holds/,
      );
      // Nothing started on hostB, nothing journalled; the source still runs.
      expect(fs.existsSync(path.join(current.dir, 'hostB', 'vm1.log'))).toBe(false);
      expect(fs.existsSync(path.join(current.dir, 'hostB', 'vm1.qmp'))).toBe(false);
      expect(fs.existsSync(path.join(current.dir, 'state', 'journal')) ? fs.readdirSync(path.join(current.dir, 'state', 'journal')) : []).toEqual([]);
      const status = await runCli(['status', 'vm1', '--json', '--config', config]);
      expect(JSON.parse(status.stdout).vms[0]).toMatchObject({ runsOn: 'hostA', placements: [{ host: 'hostA', status: 'running' }] });
      expect(source.hasExited()).toBe(false);
    });

    it('QEMU 7.2: a VM whose nicmig monitor is passed as a file descriptor cannot be tied to a process: refused, nothing started', async () => {
      const { lab: current, config, runDirA, tapA } = setUp(q72.binary);
      const args = libvirtArgs(current.dir, runDirA, { type: 'tap', ifname: tapA, script: 'no', downscript: 'no' });
      // nicmig's socket made by the parent and passed as fd 3, as libvirt passes its monitor.
      args.splice(args.indexOf('-qmp'), 2, '-chardev', 'socket,id=nicmig,fd=3,server=on,wait=off', '-mon', 'chardev=nicmig,mode=control');
      const source = processes.start(q72.binary, args, { kind: 'unix-listen', target: path.join(runDirA, 'vm1.qmp') });
      await libvirtContinues(current, source);

      const result = await runCli(['migrate', 'vm1', 'hostB', '--json', '--config', config]);
      expect(result.code).toBe(10);
      const document = JSON.parse(result.stdout);
      expect(document).toMatchObject({ status: 'refused', error: { code: 'PREFLIGHT_REFUSED', cause: { code: 'COMMAND_LINE_UNREADABLE' } } });
      expect(document.error.message).toMatch(/cannot read the command line of 'vm1' on hostA: no process on this machine names .*vm1\.qmp in its command line/);
      expect(fs.existsSync(path.join(current.dir, 'hostB', 'vm1.log'))).toBe(false);
      expect(source.hasExited()).toBe(false);
      expect(linkExists(tapA)).toBe(true);
    });
  }
});
