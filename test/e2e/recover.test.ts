import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { QmpClient } from '../../src/qmp/client.js';
import { runCli } from '../helpers/cli.js';
import { SimHostProcesses } from '../helpers/sim-hosts.js';

jest.setTimeout(120_000);

/** `nicmig recover` between two `nicmig sim host` processes, as a user runs it. */
describe('nicmig recover after nicmig was killed (simulated hosts, separate processes)', () => {
  let hosts: SimHostProcesses;
  const clients: QmpClient[] = [];
  const cli = (...args: string[]) => runCli([...args, '--config', hosts.config]);
  const status = async () => JSON.parse((await cli('status', 'vm1', '--json')).stdout).vms[0];
  const journals = () => fs.readdirSync(path.join(hosts.dir, 'state', 'journal')).filter((f) => f.endsWith('.journal'));

  beforeEach(async () => {
    hosts = new SimHostProcesses(`e2e-recover-${process.pid}`);
    await hosts.start();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await hosts.stop();
  });

  async function killedReturnMigration(): Promise<void> {
    const there = await cli('migrate', 'vm1', 'hostB', '--json');
    if (there.code !== 0) throw new Error(`migrate vm1 hostB: exit ${there.code}\n${there.stdout}\n${there.stderr}`);
    const back = await runCli(['migrate', 'vm1', 'hostA', '--config', hosts.config], { env: { NICMIG_FAULT_KILL_AT: 'switchover' } });
    expect(back.stderr).toContain('fault injected: SIGKILL at switchover (pre-switchover-dispatch)');
    expect(back.signal).toBe('SIGKILL');
  }

  it('a return migration killed at the switchover: one JSON document, rolled back to the host it came from, exit 0', async () => {
    await killedReturnMigration();
    const recovered = await cli('recover', 'vm1', '--json');
    expect(recovered.stderr).toBe('');
    expect(recovered.code).toBe(0);
    const document = JSON.parse(recovered.stdout);
    expect(document.recovered).toEqual([
      expect.objectContaining({ vm: 'vm1', from: 'hostB', to: 'hostA', runsOn: 'hostB', resolved: true, decision: expect.objectContaining({ action: 'roll-back', cancelMigration: true }) }),
    ]);
    expect(document.recovered[0].source).toMatchObject({ state: 'paused', status: 'finish-migrate', migration: 'pre-switchover' });
    expect(await status()).toMatchObject({ runsOn: 'hostB', needsRecover: null, placements: [{ host: 'hostB', status: 'running' }] });
    expect((await cli('recover', 'vm1')).stdout).toMatch(/nothing to recover/);
  });

  it('with the destination monitor held by another client: exit 15, says what it needs, changes nothing; then settles', async () => {
    await killedReturnMigration();
    const [journal] = journals();
    const before = fs.readFileSync(path.join(hosts.dir, 'state', 'journal', journal as string));
    clients.push(await QmpClient.connect(`unix:${path.join(hosts.dir, 'hostA', 'vm1.qmp')}`));
    const refused = await cli('recover', 'vm1', '--json');
    expect(refused.code).toBe(15);
    const document = JSON.parse(refused.stdout);
    expect(document).toMatchObject({ status: 'error', error: { code: 'RECOVER_NEEDS_FACTS', exitCode: 15 } });
    expect(document.error.details.needs).toEqual([expect.stringMatching(/^stop the other client of vm1's monitor on hostA/)]);
    expect(fs.readFileSync(path.join(hosts.dir, 'state', 'journal', journal as string)).equals(before)).toBe(true);
    // status says busy, not "not running".
    const busy = await status();
    expect(busy.placements).toEqual(expect.arrayContaining([expect.objectContaining({ host: 'hostA', status: 'busy' }), expect.objectContaining({ host: 'hostB', status: 'finish-migrate' })]));
    expect(busy.runsOn).toBeNull();
    const text = await cli('status', 'vm1');
    expect(text.stdout).toMatch(/monitor busy on hostA/);
    // The other client gone, the facts decide.
    clients.splice(0).forEach((client) => client.destroy());
    const recovered = await cli('recover', 'vm1', '--json');
    expect(recovered.code).toBe(0);
    expect(JSON.parse(recovered.stdout).recovered[0]).toMatchObject({ runsOn: 'hostB', decision: { action: 'roll-back' } });
    expect(await status()).toMatchObject({ runsOn: 'hostB', placements: [{ host: 'hostB', status: 'running' }] });
  });

  it('a 0-byte journal (from an older nicmig) is seen by `recover vm1` and settled: the migration never began', async () => {
    const dir = path.join(hosts.dir, 'state', 'journal');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'vm1-2026-11-30T10-00-00-000Z.journal');
    fs.writeFileSync(file, '');
    expect(await status()).toMatchObject({ needsRecover: file });
    const recovered = await cli('recover', 'vm1', '--json');
    expect(recovered.code).toBe(0);
    expect(JSON.parse(recovered.stdout).recovered).toEqual([expect.objectContaining({ vm: 'vm1', resolved: true, decision: expect.objectContaining({ action: 'nothing', owner: null }) })]);
    expect(await status()).toMatchObject({ needsRecover: null, runsOn: 'hostA' });
    expect((await cli('recover')).stdout).toMatch(/nothing to recover/);
  });
});
