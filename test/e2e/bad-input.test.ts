import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { readJournal } from '../../src/migration/journal.js';
import { NICMIG_BIN, runCli } from '../helpers/cli.js';
import { QemuLab, writeLabConfig } from '../helpers/qemu-lab.js';
import { describeWithQemu } from '../helpers/qemu.js';
import { SimHostProcesses } from '../helpers/sim-hosts.js';

jest.setTimeout(120_000);

/** Polls `check` until it returns a value, or fails naming `what` after `timeoutMs`. */
async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function journalsIn(stateDir: string): string[] {
  const dir = path.join(stateDir, 'journal');
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((name) => name.endsWith('.journal')).map((name) => path.join(dir, name)) : [];
}

describe('an inventory with a typo', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-typo-${process.pid}-`));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is refused with exit 3 naming the key, where it is and the key meant, as one JSON document', async () => {
    const config = path.join(dir, 'config.yaml');
    fs.writeFileSync(config, ['hosts:', '  hostA:', '    runDir: /run/a', '    migrationAdress: 192.0.2.10', 'vms: []', ''].join('\n'));
    const result = await runCli(['migrate', 'vm1', 'hostA', '--json', '--config', config]);
    expect(result.code).toBe(3);
    const document = JSON.parse(result.stdout);
    expect(document.error).toMatchObject({ code: 'CONFIG_INVALID', exitCode: 3, details: { unknownKeys: [{ key: 'migrationAdress', path: 'hosts.hostA', suggestion: 'migrationAddress' }] } });
    expect(document.error.message).toContain(`${config}: invalid inventory`);
    expect(document.error.message).toContain("unknown key 'migrationAdress' in hosts.hostA; did you mean 'migrationAddress'?");
    expect(result.stderr).not.toMatch(/at .*\.js:\d+/);
  });

  it('--config /dev/zero returns at once with a typed error', async () => {
    const result = await runCli(['vms', '--json', '--config', '/dev/zero'], { timeoutMs: 20_000 });
    expect(result.code).toBe(3);
    expect(JSON.parse(result.stdout).error).toMatchObject({ code: 'CONFIG_UNREADABLE', message: expect.stringContaining('not a regular file') });
  });
});

/**
 * A QMP peer on a real unix socket that greets, negotiates, and answers every command with
 * `reply(depth)`: a return value nested `depth` levels deep.
 */
async function hostileQmpPeer(dir: string, depth: number): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const socketPath = path.join(dir, 'hostile.qmp');
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write('{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n');
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString();
      for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
        const request = JSON.parse(buffered.slice(0, newline)) as { execute: string; id?: unknown };
        buffered = buffered.slice(newline + 1);
        const value = request.execute === 'qmp_capabilities' ? '{}' : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
        socket.write(`{"return": ${value}, "id": ${JSON.stringify(request.id)}}\r\n`);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  return {
    endpoint: `unix:${socketPath}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('nicmig qmp against a peer sending deeply nested replies', () => {
  let dir: string;
  let peer: { endpoint: string; close: () => Promise<void> } | undefined;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-hostile-${process.pid}-`));
  });
  afterEach(async () => {
    await peer?.close();
    peer = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each([[[] as string[]], [['-v']], [['--json']], [['-v', '--json']]])('nesting past QEMU\'s 1024 levels, with %j: QMP_MESSAGE_TOO_DEEP, exit 22, no stack', async (flags) => {
    peer = await hostileQmpPeer(dir, 100_000);
    const result = await runCli(['qmp', peer.endpoint, 'query-status', ...flags]);
    expect(result.code).toBe(22);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    if (flags.includes('--json')) {
      expect(JSON.parse(result.stdout)).toMatchObject({ status: 'error', error: { code: 'QMP_MESSAGE_TOO_DEEP', exitCode: 22 } });
    } else {
      expect(result.stderr).toMatch(/nests deeper than 1024 levels.*\[QMP_MESSAGE_TOO_DEEP\]/);
    }
  });

  it('nesting of 1024 levels, as QEMU allows, is read and logged by -v', async () => {
    peer = await hostileQmpPeer(dir, 1023);
    const result = await runCli(['qmp', peer.endpoint, 'query-status', '-v', '--json']);
    expect(result.code).toBe(0);
    let value = JSON.parse(result.stdout) as { a?: unknown };
    let depth = 1;
    while (typeof value.a === 'object') {
      value = value.a as { a?: unknown };
      depth++;
    }
    expect(depth).toBe(1023);
    expect(result.stderr).toContain('<- {"return":{"a":{"a":');
  });
});

describe('an invalid QMP extension prefix', () => {
  it('nicmig sim host refuses it with exit 2 before it starts anything', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-prefix-${process.pid}-`));
    try {
      const result = await runCli(['sim', 'host', '--name', 'hostX', '--dir', dir, '--extension-prefix', 'not a prefix', '--json'], { timeoutMs: 20_000 });
      expect(result.code).toBe(2);
      expect(JSON.parse(result.stdout).error).toMatchObject({ code: 'BAD_EXTENSION_PREFIX', exitCode: 2 });
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('in the inventory, every command refuses it at load (exit 3), none waits', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-prefix-${process.pid}-`));
    try {
      const config = path.join(dir, 'config.yaml');
      fs.writeFileSync(config, ["qmpExtensionPrefix: 'not a prefix'", `hosts: {hostA: {kind: sim, runDir: ${dir}}}`, 'vms: [{name: vm1, memoryMiB: 64}]', ''].join('\n'));
      for (const command of [['status'], ['recover', 'vm1'], ['migrate', 'vm1', 'hostA']]) {
        const result = await runCli([...command, '--json', '--config', config], { timeoutMs: 20_000 });
        expect({ command, code: result.code }).toEqual({ command, code: 3 });
        expect(JSON.parse(result.stdout).error.message).toContain('qmpExtensionPrefix');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('nicmig vf decode of input that never ends', () => {
  it.each([['decode'], ['state'], ['plan']])('vf %s /dev/zero returns at once: exit 4 and a JSON document', async (command) => {
    const result = await runCli(['vf', command, '/dev/zero', '--json'], { timeoutMs: 20_000 });
    expect(result.code).toBe(4);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'error', error: { code: 'CAPTURE_UNREADABLE', exitCode: 4, message: expect.stringContaining('a character device') } });
  });
});

describe('nicmig migrate between simulated hosts: bad values and signals', () => {
  let hosts: SimHostProcesses | undefined;
  let child: ChildProcess | undefined;

  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
    await hosts?.stop();
    hosts = undefined;
  });

  const stateDir = () => path.join((hosts as SimHostProcesses).dir, 'state');

  it.each([
    [['--downtime-limit', '2000001'], 'BAD_DOWNTIME_LIMIT', /QEMU takes 1 to 2000000 ms/],
    [['--downtime-limit', '0'], 'BAD_DOWNTIME_LIMIT', /out of range/],
    [['--bandwidth', '99999999999999999999'], 'BAD_BANDWIDTH', /above the largest bandwidth/],
  ])('%j QEMU would refuse: exit 2 before anything starts', async (flags, code, message) => {
    hosts = new SimHostProcesses(`e2e-range-${process.pid}`);
    await hosts.start();
    const result = await runCli(['migrate', 'vm1', 'hostB', ...flags, '--json', '--config', hosts.config]);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout).error).toMatchObject({ code, exitCode: 2, message: expect.stringMatching(message) });
    // Nothing began: no journal, no marker, and the VM runs on hostA only.
    expect(journalsIn(stateDir())).toEqual([]);
    expect(fs.existsSync(path.join(stateDir(), 'active', 'vm1.json'))).toBe(false);
    const status = JSON.parse((await runCli(['status', 'vm1', '--json', '--config', hosts.config])).stdout);
    expect(status.vms[0].placements).toEqual([expect.objectContaining({ host: 'hostA', status: 'running' })]);
  });

  it('an IPv6 migration address is bracketed in the migration URIs', async () => {
    hosts = new SimHostProcesses(`e2e-ipv6-${process.pid}`, { hostA: "migrationAddress: '::1'", hostB: "migrationAddress: '[::1]'" });
    await hosts.start();
    const there = await runCli(['migrate', 'vm1', 'hostB', '--json', '--config', hosts.config]);
    if (there.code !== 0) throw new Error(`migrate vm1 hostB: exit ${there.code}\n${there.stdout}\n${there.stderr}`);
    expect(JSON.parse(there.stdout)).toMatchObject({ status: 'migrated', from: 'hostA', to: 'hostB' });
    const [journal] = journalsIn(stateDir());
    const precopy = readJournal(journal as string).records.find((record) => record.event === 'precopy-starting');
    expect(precopy?.data.uri).toMatch(/^tcp:\[::1\]:\d+$/);
  });

  it('a second SIGINT under --json prints the interrupted document, exits 130 and leaves no marker', async () => {
    hosts = new SimHostProcesses(`e2e-sigint-${process.pid}`);
    await hosts.start();
    // 64 MiB at 1 MiB/s: pre-copy lasts about a minute, long enough to be interrupted in.
    const migrate = spawn(process.execPath, [NICMIG_BIN, 'migrate', 'vm1', 'hostB', '--json', '--bandwidth', '1MiB', '--config', hosts.config], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    child = migrate;
    let stdout = '';
    let stderr = '';
    migrate.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    migrate.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => migrate.once('exit', (code, signal) => resolve({ code, signal })));

    const journal = await waitFor('the journal to record precopy-starting', () =>
      journalsIn(stateDir()).find((file) => fs.readFileSync(file, 'utf8').includes('"precopy-starting"')),
    );
    // hostB stopped: the rollback the first SIGINT starts cannot finish (it waits on hostB).
    hosts.processes.get('hostB')?.kill('SIGSTOP');
    migrate.kill('SIGINT');
    await waitFor('nicmig to say it is cancelling', () => (stderr.includes('cancelling') ? true : undefined), 20_000);
    migrate.kill('SIGINT');
    const end = await Promise.race([
      exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`nicmig did not exit within 20 s of the second SIGINT; stderr: ${stderr}`)), 20_000).unref()),
    ]);

    expect(end).toEqual({ code: 130, signal: null });
    const document = JSON.parse(stdout);
    expect(document).toMatchObject({
      status: 'interrupted',
      vm: 'vm1',
      from: 'hostA',
      to: 'hostB',
      journal,
      journalFinished: false,
      error: { code: 'MIGRATION_ABANDONED', exitCode: 130, hint: expect.stringContaining('nicmig recover vm1') },
    });
    expect(document.error.message).toContain(`the journal ${journal} is unfinished`);
    expect(document.left).toEqual(expect.arrayContaining([expect.stringMatching(/destination VM on hostB may be left/), expect.stringMatching(/outgoing migration on hostA/)]));
    expect(fs.existsSync(path.join(stateDir(), 'active', 'vm1.json'))).toBe(false);
    const events = readJournal(journal).records.map((record) => record.event);
    expect(events).not.toContain('finished');
    expect(events).not.toContain('rolled-back');
  });
});

describeWithQemu('nicmig migrate on real QEMU: a missing QEMU binary, an IPv6 address', () => {
  let lab: QemuLab;
  let config: string;
  beforeEach(() => {
    lab = new QemuLab([{ name: 'vm1', memoryMiB: 32 }], 'tcg');
    config = writeLabConfig(lab);
  });
  afterEach(async () => {
    await lab.cleanup();
  });

  const editHost = (host: string, fields: Record<string, string>): void => {
    const document = JSON.parse(fs.readFileSync(config, 'utf8'));
    Object.assign(document.hosts[host], fields);
    fs.writeFileSync(config, JSON.stringify(document, null, 2));
  };

  it('a destination qemuBinary not on PATH is refused by preflight, named, nothing started', async () => {
    await lab.startRunning('vm1', 'hostA').then((vm) => vm.monitor.client.destroy());
    editHost('hostB', { qemuBinary: `qemu-system-missing-${process.pid}` });
    const result = await runCli(['migrate', 'vm1', 'hostB', '--json', '--config', config]);
    expect(result.code).toBe(10);
    const document = JSON.parse(result.stdout);
    expect(document.error.code).toBe('PREFLIGHT_REFUSED');
    expect(document.error.details.reasons).toEqual([
      expect.stringMatching(new RegExp(`QEMU binary of hostB: 'qemu-system-missing-${process.pid}' is not found on PATH .*hosts\\.hostB\\.qemuBinary`)),
    ]);
    expect(result.stdout).not.toContain('exit undefined');
    expect(lab.livePids()).toHaveLength(1);
  });

  it('migrates over IPv6 loopback (tcp:[::1]:PORT)', async () => {
    await lab.startRunning('vm1', 'hostA').then((vm) => vm.monitor.client.destroy());
    editHost('hostB', { migrationAddress: '::1' });
    const result = await runCli(['migrate', 'vm1', 'hostB', '--json', '--config', config]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'migrated', from: 'hostA', to: 'hostB' });
    const [journal] = journalsIn(path.join(lab.dir, 'state'));
    expect(readJournal(journal as string).records.find((record) => record.event === 'precopy-starting')?.data.uri).toMatch(/^tcp:\[::1\]:\d+$/);
  });
});
