import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { findExecutable, missingExecutableReason } from '../../../src/hosts/executable.js';
import { QemuHost } from '../../../src/hosts/qemu-host.js';
import { VmSpecSchema } from '../../../src/inventory/vm-spec.js';

describe('finding the QEMU binary', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-exec-${process.pid}-`));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('searches PATH for a name, takes a path as it is, and wants an executable regular file', () => {
    const binary = path.join(dir, 'qemu-system-fake');
    fs.writeFileSync(binary, '#!/bin/sh\n', { mode: 0o755 });
    const plain = path.join(dir, 'not-executable');
    fs.writeFileSync(plain, '', { mode: 0o644 });
    const env = { PATH: `/nonexistent:${dir}` };
    expect(findExecutable('qemu-system-fake', env)).toBe(binary);
    expect(findExecutable(binary, {})).toBe(binary);
    expect(findExecutable('not-executable', env)).toBeUndefined();
    expect(findExecutable(dir, env)).toBeUndefined();
    expect(missingExecutableReason('qemu-system-none', env)).toBe(`'qemu-system-none' is not found on PATH (/nonexistent:${dir})`);
    expect(missingExecutableReason(plain, env)).toBe(`'${plain}' does not exist or is not an executable file`);
  });

  it('a host whose qemuBinary is missing says so in its facts and when asked to start a VM', async () => {
    const spec = VmSpecSchema.parse({ name: 'vm1', memoryMiB: 32 });
    const host = new QemuHost(
      { name: 'hostB', kind: 'qemu', migrationAddress: '127.0.0.1', runDir: dir, qemuBinary: path.join(dir, 'no-qemu'), accel: 'tcg' },
      new Map([['vm1', spec]]),
    );
    const facts = await host.facts();
    expect(facts.problems).toEqual([`the QEMU binary of hostB: '${path.join(dir, 'no-qemu')}' does not exist or is not an executable file (inventory hosts.hostB.qemuBinary)`]);
    await expect(host.startIncoming('vm1')).rejects.toMatchObject({
      code: 'VM_START_FAILED',
      message: expect.stringContaining(`cannot start 'vm1': the QEMU binary of hostB: '${path.join(dir, 'no-qemu')}' does not exist`),
    });
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
