import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, expect, it, jest } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { QemuLab, writeLabConfig } from '../helpers/qemu-lab.js';
import { describeWithQemu } from '../helpers/qemu.js';

jest.setTimeout(120_000);

describeWithQemu('nicmig vm start / stop on real QEMU hosts', () => {
  let lab: QemuLab;
  let config: string;
  beforeEach(() => {
    lab = new QemuLab([{ name: 'vm1', memoryMiB: 64 }], 'tcg');
    config = writeLabConfig(lab);
  });
  afterEach(async () => {
    await lab.cleanup();
  });

  const cli = (...args: string[]) => runCli([...args, '--config', config]);
  const where = async () => JSON.parse((await cli('status', 'vm1', '--json')).stdout).vms[0];

  it('starts a VM from its entry, refuses a second copy anywhere, migrates it, and stops it softly', async () => {
    const started = await cli('vm', 'start', 'vm1', '--on', 'hostA', '--json');
    expect(started.code).toBe(0);
    const document = JSON.parse(started.stdout);
    expect(document).toMatchObject({ vm: 'vm1', host: 'hostA', status: 'running', endpoint: expect.stringMatching(/^unix:.*hostA\/vm1\.qmp$/) });
    // QEMU's stderr goes to a per-VM log on its host (its start line is nicmig's).
    expect(fs.readFileSync(document.log, 'utf8')).toMatch(/nicmig starts vm1/);
    expect(await where()).toMatchObject({ runsOn: 'hostA' });

    const again = await cli('vm', 'start', 'vm1', '--on', 'hostB');
    expect(again.code).toBe(10);
    expect(again.stderr).toMatch(/VM 'vm1' already runs on hostA/);
    expect(lab.livePids()).toHaveLength(1);

    const migrated = await cli('migrate', 'vm1', 'hostB', '--json');
    expect(migrated.code).toBe(0);

    const stopped = await cli('vm', 'stop', 'vm1');
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toMatch(/vm1 stopped on hostB \(quit\)/);
    expect(lab.livePids()).toHaveLength(0);
    expect(fs.existsSync(path.join(lab.dir, 'hostB', 'vm1.qmp'))).toBe(false);

    const twice = await cli('vm', 'stop', 'vm1');
    expect(twice.code).toBe(0);
    expect(twice.stdout).toMatch(/vm1 is not running/);
  });

  it('kills a VM that does not quit (its process stopped), within the deadlines', async () => {
    expect((await cli('vm', 'start', 'vm1', '--on', 'hostA')).code).toBe(0);
    const [pid] = lab.livePids();
    process.kill(pid as number, 'SIGSTOP');
    const began = Date.now();
    const stopped = await cli('vm', 'stop', 'vm1', '--on', 'hostA', '--json');
    expect(stopped.code).toBe(0);
    expect(JSON.parse(stopped.stdout)).toEqual({ vm: 'vm1', stopped: [{ host: 'hostA', how: 'killed' }] });
    expect(lab.livePids()).toHaveLength(0);
    // The monitor's greeting (5 s), SIGTERM's grace (2 s), then SIGKILL: well under the 30 s
    // quit timeout alone that removing a stopped QEMU used to take.
    expect(Date.now() - began).toBeLessThan(30_000);
  });

  it('needs --on when the inventory has several hosts, and names them', async () => {
    const result = await cli('vm', 'start', 'vm1');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--on hostA\|hostB/);
  });
});
