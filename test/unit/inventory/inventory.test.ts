import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { loadInventory, parseInventory } from '../../../src/inventory/inventory.js';
import { closestKey, editDistance } from '../../../src/inventory/strict.js';
import { ConfigError } from '../../../src/errors.js';

const FILE = '/etc/nicmig/config.yaml';

function failure(text: string): ConfigError {
  try {
    parseInventory(text, FILE, {});
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('the inventory was accepted');
}

const HOSTS = ['hosts:', '  hostA: {runDir: /run/a}', '  hostB: {runDir: /run/b}'];

describe('inventory: unknown keys', () => {
  it('names a misspelt host key, where it is, and the key that was meant', () => {
    const error = failure(['hosts:', '  hostA:', '    runDir: /run/a', '    migrationAdress: 192.0.2.10', ''].join('\n'));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain(FILE);
    expect(error.message).toContain("unknown key 'migrationAdress' in hosts.hostA; did you mean 'migrationAddress'?");
    expect(error.details.unknownKeys).toEqual([{ key: 'migrationAdress', path: 'hosts.hostA', suggestion: 'migrationAddress' }]);
    expect(error.hint).toContain("did you mean 'migrationAddress'");
  });

  it('at the top level, in a VM, in a device (chosen by its type) and in a memory backend', () => {
    const error = failure(
      [
        ...HOSTS,
        'stateDri: /var/lib/nicmig',
        'vms:',
        '  - name: vm1',
        '    memoryMib: 64',
        '    memoryMiB: 64',
        '    memoryBackend: {type: file, pth: /dev/shm/x}',
        '    devices:',
        '      - {type: vfio-i40evf, id: vf0, pf: enp3s0f0, spoofchck: false}',
        '      - {type: virtio-net, id: net0, mac: "52:54:00:12:34:56", netdve: user}',
        '',
      ].join('\n'),
    );
    expect(error.message).toContain("unknown key 'stateDri' at the top level; did you mean 'stateDir'?");
    expect(error.message).toContain("unknown key 'memoryMib' in vms[0]; did you mean 'memoryMiB'?");
    expect(error.message).toContain("unknown key 'pth' in vms[0].memoryBackend; did you mean 'path'?");
    expect(error.message).toContain("unknown key 'spoofchck' in vms[0].devices[0]; did you mean 'spoofchk'?");
    expect(error.message).toContain("unknown key 'netdve' in vms[0].devices[1]; did you mean 'netdev'?");
  });

  it('lists the known keys when nothing is close', () => {
    const error = failure([...HOSTS.slice(0, 2), '    color: blue', ''].join('\n').replace('{runDir: /run/a}', '\n    runDir: /run/a'));
    expect(error.message).toMatch(/unknown key 'color' in hosts\.hostA \(known keys: kind, migrationAddress, runDir, qemuBinary, accel, netns, bridgeHelper, qemuVersion\)/);
  });

  it('accepts every key the documentation shows', () => {
    const docs = fs.readFileSync(path.join(process.cwd(), 'docs', 'configuration.md'), 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(docs)?.[1] as string;
    const inventory = parseInventory(yaml, FILE, {});
    expect([...inventory.hosts.keys()]).toEqual(['hostA', 'hostB', 'hostC']);
    expect(inventory.hosts.get('hostC')?.qemuVersion).toBe('10.0');
    expect(inventory.vms.get('vm1')?.devices).toHaveLength(2);
  });
});

describe('inventory: addresses', () => {
  it('keeps an IPv6 migration address without brackets, bracketed or not in the file', () => {
    const inventory = parseInventory(['hosts:', "  hostA: {runDir: /run/a, migrationAddress: '[2001:db8::1]'}", "  hostB: {runDir: /run/b, migrationAddress: '::1'}", ''].join('\n'), FILE, {});
    expect(inventory.hosts.get('hostA')?.migrationAddress).toBe('2001:db8::1');
    expect(inventory.hosts.get('hostB')?.migrationAddress).toBe('::1');
  });

  it('refuses an address that is neither an IP address nor a host name', () => {
    const error = failure(['hosts:', "  hostA: {runDir: /run/a, migrationAddress: 'tcp:192.0.2.1:4444'}", ''].join('\n'));
    expect(error.message).toContain('hosts.hostA.migrationAddress: expected an IPv4 or IPv6 address or a host name');
  });
});

describe('inventory: bounded reading', () => {
  it('refuses a device or a FIFO instead of reading it forever', () => {
    expect(() => loadInventory('/dev/zero', {})).toThrow(expect.objectContaining({ code: 'CONFIG_UNREADABLE', message: expect.stringContaining('not a regular file') }));
  });

  it('refuses a file over 1 MiB', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-inventory-${process.pid}-`));
    try {
      const file = path.join(dir, 'config.yaml');
      fs.writeFileSync(file, `# ${'x'.repeat(1024 * 1024)}\nhosts: {}\n`);
      expect(() => loadInventory(file, {})).toThrow(expect.objectContaining({ code: 'CONFIG_TOO_LARGE' }));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('inventory: nesting', () => {
  it('refuses brackets nested thousands deep before the YAML parser spends seconds on them, naming the line', () => {
    const error = failure(`hosts:\n  hostA: {kind: sim, runDir: ${'['.repeat(5000)}${']'.repeat(5000)}}\n`);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', message: `${FILE}:2: not valid as an inventory: brackets nested more than 64 deep` });
  });

  it('accepts the nesting real configs have, JSON-form QEMU arguments included', () => {
    const text = ['hosts:', '  hostA: {kind: qemu, runDir: ./a}', 'vms:', `  - {name: vm1, memoryMiB: 64, qemuArgs: ['-device', '{"driver":"virtio-rng-pci","x":{"y":[1]}}']}`, ''].join('\n');
    expect(parseInventory(text, FILE, {}).vms.get('vm1')?.qemuArgs).toEqual(['-device', '{"driver":"virtio-rng-pci","x":{"y":[1]}}']);
  });
});

describe('closest key', () => {
  it('measures edits, a swap of neighbours as one', () => {
    expect(editDistance('downtimeLimtMs', 'downtimeLimitMs')).toBe(1);
    expect(editDistance('ruNdir', 'runDir')).toBe(2);
    expect(editDistance('rnuDir', 'runDir')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests only what is close, case aside', () => {
    expect(closestKey('RUNDIR', ['runDir', 'kind'])).toBe('runDir');
    expect(closestKey('vcpu', ['vcpus', 'name'])).toBe('vcpus');
    expect(closestKey('zzzzzz', ['runDir', 'kind'])).toBeUndefined();
    expect(closestKey('x', [])).toBeUndefined();
  });
});

describe('inventory: the QEMU version of a simulated host', () => {
  const hosts = (hostA: string) => ['hosts:', `  hostA: {${hostA}}`, '  hostB: {kind: sim, runDir: /run/b}', ''].join('\n');

  it('is 7.2 unless told; 10.0 as YAML reads it (the number 10) or quoted', () => {
    expect(parseInventory(hosts('kind: sim, runDir: /run/a'), FILE, {}).hosts.get('hostA')?.qemuVersion).toBe('7.2');
    expect(parseInventory(hosts('kind: sim, runDir: /run/a, qemuVersion: 10.0'), FILE, {}).hosts.get('hostA')?.qemuVersion).toBe('10.0');
    expect(parseInventory(hosts("kind: sim, runDir: /run/a, qemuVersion: '10.0'"), FILE, {}).hosts.get('hostA')?.qemuVersion).toBe('10.0');
    expect(parseInventory(hosts('kind: sim, runDir: /run/a, qemuVersion: 7.2'), FILE, {}).hosts.get('hostA')?.qemuVersion).toBe('7.2');
  });

  it('refuses a version the simulator does not know, naming it, where, and the known ones', () => {
    const error = failure(hosts('kind: sim, runDir: /run/a, qemuVersion: 9.2'));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.exitCode).toBe(3);
    expect(error.message).toContain("hosts.hostA.qemuVersion: unknown simulated QEMU version '9.2'; known: 7.2, 10.0");
    expect(failure(hosts("kind: sim, runDir: /run/a, qemuVersion: 'ten'")).message).toContain("hosts.hostA.qemuVersion: unknown simulated QEMU version 'ten'; known: 7.2, 10.0");
  });

  it('is refused on a QEMU host, whose version is its binary', () => {
    const error = failure(hosts('kind: qemu, runDir: /run/a, qemuVersion: 10.0'));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain('hosts.hostA.qemuVersion: only a kind: sim host takes qemuVersion');
    expect(parseInventory(hosts('kind: qemu, runDir: /run/a'), FILE, {}).hosts.get('hostA')?.qemuVersion).toBeUndefined();
  });
});
