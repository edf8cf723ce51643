import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, beforeEach, expect, it, jest } from '@jest/globals';
import { NICMIG_BIN, runCli } from '../helpers/cli.js';
import { QemuLab, writeLabConfig } from '../helpers/qemu-lab.js';
import { describeWithQemu } from '../helpers/qemu.js';

jest.setTimeout(120_000);

describeWithQemu('nicmig migrate / status / recover / cancel on real QEMU hosts', () => {
  let lab: QemuLab;
  let config: string;
  beforeEach(() => {
    lab = new QemuLab([{ name: 'vm1', memoryMiB: 64, memoryBackend: { type: 'file', path: '{host}/{vm}.ram' } }], 'tcg');
    config = writeLabConfig(lab);
  });
  afterEach(async () => {
    await lab.cleanup();
  });

  const cli = (...args: string[]) => runCli([...args, '--config', config]);
  const where = async () => JSON.parse((await cli('status', 'vm1', '--json')).stdout).vms[0];

  it('migrates with --json: one summary document, exit 0, the VM then runs on the destination', async () => {
    await lab.startRunning('vm1', 'hostA').then((vm) => vm.monitor.client.destroy());
    const result = await cli('migrate', 'vm1', 'hostB', '--json');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ status: 'migrated', vm: 'vm1', from: 'hostA', to: 'hostB', rolledBack: false, error: null, replay: null });
    expect(summary.totalTimeMs).toBeGreaterThan(0);
    expect(summary.downtimeMs).toBeGreaterThanOrEqual(0);
    expect(summary.measuredDowntimeMs).toBeGreaterThan(0);
    expect(await where()).toMatchObject({ runsOn: 'hostB', migrationInFlight: null, needsRecover: null });
    expect(lab.livePids()).toHaveLength(1);
  });

  it('without --json prints progress on stderr and a summary table on stdout', async () => {
    await lab.startRunning('vm1', 'hostA').then((vm) => vm.monitor.client.destroy());
    const result = await cli('migrate', 'vm1', 'hostB');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/vm1 now runs on hostB/);
    expect(result.stdout).toMatch(/downtime \(QEMU\)\s+\S+ ms/);
    expect(result.stderr).toMatch(/Pre-copy guest memory/);
  });

  it('--events prints NDJSON phases and progress, the summary last', async () => {
    await lab.startRunning('vm1', 'hostA').then((vm) => vm.monitor.client.destroy());
    const result = await cli('migrate', 'vm1', 'hostB', '--events');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines.filter((l) => l.type === 'phase' && l.state === 'done').map((l) => l.phase)).toContain('switchover');
    expect(lines[lines.length - 1]).toMatchObject({ type: 'summary', status: 'migrated' });
  });

  it('--dry-run changes nothing', async () => {
    await lab.startRunning('vm1', 'hostA').then((vm) => vm.monitor.client.destroy());
    const result = await cli('migrate', 'vm1', 'hostB', '--dry-run', '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'dry-run', from: 'hostA', to: 'hostB' });
    expect(await where()).toMatchObject({ runsOn: 'hostA' });
    expect(lab.livePids()).toHaveLength(1);
  });

  it('refuses with exit 10 and a refused document when the VM runs nowhere; exit 2 for an unknown host', async () => {
    const refused = await cli('migrate', 'vm1', 'hostB', '--json');
    expect(refused.code).toBe(10);
    expect(JSON.parse(refused.stdout)).toMatchObject({ status: 'refused', rolledBack: false, error: { code: 'PREFLIGHT_REFUSED' } });
    const unknown = await cli('migrate', 'vm1', 'hostZ');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no host named 'hostZ'/);
    const badBandwidth = await cli('migrate', 'vm1', 'hostB', '--bandwidth', 'fast');
    expect(badBandwidth.code).toBe(2);
    expect(badBandwidth.stderr).toMatch(/BAD_BANDWIDTH/);
  });

  it('exits 3 naming the field when the config is wrong', async () => {
    const result = await runCli(['migrate', 'vm1', 'hostB', '--config', path.join(lab.dir, 'absent.yaml')]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/CONFIG_NOT_FOUND/);
  });

  it.each([
    ['switchover', 'rolled back', 'hostA'],
    ['resume', 'rolled back', 'hostA'],
    // The pre-cont record is durable, cont was never sent: the destination never ran.
    ['resume:before-cont', 'rolled back', 'hostA'],
    // cont was sent and answered: the destination runs and owns the guest.
    ['resume:after-cont', 'finished', 'hostB'],
    ['cleanup', 'finished', 'hostB'],
  ])('nicmig SIGKILLed at %s: recover says %s and the VM runs on %s', async (phase, verb, host) => {
    await lab.startRunning('vm1', 'hostA').then((vm) => vm.monitor.client.destroy());
    const killed = await runCli(['migrate', 'vm1', 'hostB', '--config', config], { env: { NICMIG_FAULT_KILL_AT: phase } });
    expect(killed.code).not.toBe(0);
    // The switchover's fault fires on the production path: inside the pre-switchover event's dispatch.
    const [phaseName, point] = phase.split(':');
    expect(killed.stderr).toContain(`fault injected: SIGKILL at ${phaseName} (${point ?? (phase === 'switchover' ? 'pre-switchover-dispatch' : 'phase-start')})`);
    expect(await where()).toMatchObject({ needsRecover: expect.any(String) });
    const recovered = await cli('recover', 'vm1');
    expect(recovered.code).toBe(0);
    expect(recovered.stdout).toMatch(new RegExp(`vm1: ${verb}`));
    expect(await where()).toMatchObject({ runsOn: host, needsRecover: null, placements: [expect.objectContaining({ host, status: 'running' })] });
    expect(lab.livePids()).toHaveLength(1);
    const again = await cli('recover', 'vm1');
    expect(again.stdout).toMatch(/nothing to recover/);
  });

  it('nicmig cancel from another terminal rolls back a migration in pre-copy (exit 13)', async () => {
    await lab.startRunning('vm1', 'hostA', 64).then((vm) => vm.monitor.client.destroy());
    const child = spawn(process.execPath, [NICMIG_BIN, 'migrate', 'vm1', 'hostB', '--events', '--bandwidth', '2MiB', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no progress event: ${output}`)), 60_000);
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('"type":"progress"')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const cancelled = await cli('cancel', 'vm1');
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toMatch(/rolled back/);
    expect(await exited).toBe(13);
    expect(output.trim().split('\n').pop()).toMatch(/"status":"rolled-back"/);
    expect(await where()).toMatchObject({ runsOn: 'hostA' });
    expect(lab.livePids()).toHaveLength(1);
  });
});
