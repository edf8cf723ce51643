import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { runCli, type CliResult } from '../helpers/cli.js';
import { waitUntil } from '../helpers/wait.js';
import { processAlive } from '../../src/lab/processes.js';

jest.setTimeout(120_000);

interface LabProcessJson {
  role: string;
  name: string;
  pid: number;
  socket: string;
  dir?: string;
}

function json<T = Record<string, unknown>>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}


/** `nicmig lab up|status|down` keep a lab of processes (a switch, two simulated hosts with PFs) in the background. */
describe('nicmig lab', () => {
  let dir: string;
  let config: string;
  /** every pid a lab up reported, killed as a last resort */
  const pids = new Set<number>();

  const lab = (args: string[]) => runCli(['lab', ...args, '--dir', dir]);
  const nicmig = (args: string[]) => runCli([...args, '--config', config]);

  async function up(extra: string[] = []): Promise<{ processes: LabProcessJson[]; startedInMs: number; config: string }> {
    const result = await lab(['up', '--memory', '64', '--json', ...extra]);
    const body = json<{ processes: LabProcessJson[]; startedInMs: number; config: string }>(result);
    for (const p of body.processes ?? []) pids.add(p.pid);
    expect(result.code).toBe(0);
    return body;
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-lab-'));
    config = path.join(dir, 'config.yaml');
  });

  afterEach(async () => {
    if (fs.existsSync(path.join(dir, 'lab.json'))) await lab(['down', '--grace', '2']);
    for (const pid of pids) {
      if (processAlive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone in the meantime
        }
      }
    }
    pids.clear();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('comes up in the background, migrates vm1 with its VF there and back through the processes, and goes down leaving nothing', async () => {
    const started = await up(['--traffic-rate', '1000']);
    expect(started.config).toBe(config);
    expect(started.processes.map((p) => p.name)).toEqual(['switch', 'hostA', 'hostB']);
    // lab up has exited; its processes live on
    for (const p of started.processes) expect(processAlive(p.pid)).toBe(true);

    const before = json<{ vms: { vm: string; runsOn: string }[] }>(await nicmig(['status', '--json']));
    expect(before.vms[0]).toMatchObject({ vm: 'vm1', runsOn: 'hostA' });

    // probes from the switch process reach vm1's VF on hostA's PF and come back
    const labStatus = () => lab(['status', '--json']).then((r) => json<{ status: string; vms: { name: string; host: string; runState: string }[]; traffic: { counting: boolean; received: number; lost: number; duplicated: number } | null; moves: { from: string; to: string }[] }>(r));
    await waitUntil('the switch to count more than 200 echoes from vm1 on hostA', labStatus, (s) => s.traffic !== null && s.traffic.counting && s.traffic.received > 200, { intervalMs: 100 });

    const there = await nicmig(['migrate', 'vm1', 'hostB', '--json']);
    if (there.code !== 0) throw new Error(`migrate vm1 hostB: exit ${there.code}\n${there.stdout}\n${there.stderr}`);
    const thereSummary = json<{ status: string; strategy: string; replay: { verified: boolean; replayed: number }; downtimeMs: number }>(there);
    expect(thereSummary).toMatchObject({ status: 'migrated', from: 'hostA', to: 'hostB', strategy: 'vf-replay', replay: { verified: true } });
    expect(json<{ vms: { runsOn: string }[] }>(await nicmig(['status', '--json'])).vms[0]?.runsOn).toBe('hostB');

    // the traffic follows the VM: the announce moved its MAC to hostB's port, echoes come from there.
    // The announce reaches the switch process on its own after migrate returns: wait for the move.
    const moved = await waitUntil('the switch to report vm1\'s MAC moved from hostA/enp1s0f0 to hostB/enp1s0f0', labStatus, (s) => s.moves.some((m) => m.from === 'hostA/enp1s0f0' && m.to === 'hostB/enp1s0f0'), { intervalMs: 100 });
    expect(moved.vms).toEqual([expect.objectContaining({ name: 'vm1', host: 'hostB', runState: 'running' })]);
    const receivedAfter = moved.traffic?.received ?? 0;
    const flowing = await waitUntil('500 more echoes, now from hostB', labStatus, (s) => (s.traffic?.received ?? 0) > receivedAfter + 500, { intervalMs: 100 });
    expect(flowing.traffic?.duplicated).toBe(0);

    const back = await nicmig(['migrate', 'vm1', 'hostA', '--json']);
    expect(back.code).toBe(0);
    expect(json(back)).toMatchObject({ status: 'migrated', from: 'hostB', to: 'hostA', strategy: 'vf-replay', replay: { verified: true } });

    const down = await lab(['down', '--json']);
    expect(down.code).toBe(0);
    expect(json<{ processes: { name: string; ended: string }[] }>(down).processes.map((p) => p.ended)).toEqual(['SIGTERM', 'SIGTERM', 'SIGTERM']);
    for (const p of started.processes) expect(processAlive(p.pid)).toBe(false);
    for (const socket of ['switch.sock', 'hostA/host.sock', 'hostA/vm1.qmp', 'hostB/host.sock', 'lab.json']) expect(fs.existsSync(path.join(dir, socket))).toBe(false);

    const again = await lab(['down', '--json']);
    expect(again.code).toBe(2);
    expect(json<{ error: { code: string } }>(again).error.code).toBe('LAB_NOT_UP');
  });

  it('refuses a second lab up in the same directory, clearly, and leaves the first lab as it was', async () => {
    const first = await up();
    const second = await lab(['up', '--memory', '64']);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('a lab is already up in');
    expect(second.stderr).toContain('LAB_ALREADY_UP');
    expect(second.stdout).toBe('');
    const secondJson = await lab(['up', '--memory', '64', '--json']);
    expect(secondJson.code).toBe(2);
    expect(json<{ error: { code: string; exitCode: number } }>(secondJson).error).toMatchObject({ code: 'LAB_ALREADY_UP', exitCode: 2 });
    for (const p of first.processes) expect(processAlive(p.pid)).toBe(true);
    const status = json<{ status: string; vms: { name: string; host: string }[] }>(await lab(['status', '--json']));
    expect(status).toMatchObject({ status: 'up', vms: [{ name: 'vm1', host: 'hostA' }] });
  });

  it('goes down when some of its processes already died, and can come up again', async () => {
    const started = await up();
    const hostB = started.processes.find((p) => p.name === 'hostB') as LabProcessJson;
    process.kill(hostB.pid, 'SIGKILL');
    await waitUntil(`hostB (pid ${hostB.pid}) to be gone after SIGKILL`, () => processAlive(hostB.pid), (alive) => !alive);
    expect(json<{ status: string }>(await lab(['status', '--json'])).status).toBe('degraded');

    const down = await lab(['down', '--json']);
    expect(down.code).toBe(0);
    expect(json<{ processes: { name: string; ended: string }[] }>(down).processes).toEqual([
      expect.objectContaining({ name: 'switch', ended: 'SIGTERM' }),
      expect.objectContaining({ name: 'hostA', ended: 'SIGTERM' }),
      expect.objectContaining({ name: 'hostB', ended: 'already gone' }),
    ]);
    for (const p of started.processes) expect(processAlive(p.pid)).toBe(false);
    // hostB was killed: its sockets were left; lab down removed them
    expect(fs.existsSync(path.join(dir, 'hostB', 'host.sock'))).toBe(false);

    const status = await lab(['status', '--json']);
    expect(status.code).toBe(2);
    expect(json<{ error: { code: string } }>(status).error.code).toBe('LAB_NOT_UP');
    await up();
  });
});
