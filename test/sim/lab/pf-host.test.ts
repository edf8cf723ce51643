import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { startPfHost, type PfHost } from '../../../src/lab/pf-host.js';
import { SwitchProcess } from '../../../src/lab/switch-process.js';
import { KERNEL_LIMITS } from '../../../src/sim/i40e/index.js';
import { rarpAnnounce } from '../../../src/sim/network/frame.js';
import { waitUntil } from '../../helpers/wait.js';

jest.setTimeout(30_000);

const MAC = '02:00:00:00:00:01';
const vfDevice = { type: 'vfio-i40evf' as const, id: 'vf0', pf: 'enp1s0f0', vf: 'auto' as const, mac: MAC };
const vmSpec = { name: 'vm1', memoryMiB: 16, devices: [vfDevice] };

/** What `nicmig sim host --switch` and `nicmig sim switch --traffic` run, in one process. */
describe('a simulated host with a PF on a socket switch', () => {
  let dir: string;
  let switchProcess: SwitchProcess | undefined;
  let host: PfHost | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-pfhost-'));
  });

  afterEach(async () => {
    await host?.stop();
    await switchProcess?.stop();
    host = undefined;
    switchProcess = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes its report file at once when a MAC moves, not at the next second', async () => {
    const reportFile = path.join(dir, 'report.json');
    switchProcess = await SwitchProcess.start({ socket: path.join(dir, 'switch.sock'), reportFile, log: () => undefined });
    const fabric = switchProcess.server.fabric;
    const portA = fabric.attach('hostA/enp1s0f0', () => undefined);
    const portB = fabric.attach('hostB/enp1s0f0', () => undefined);
    portA.send(rarpAnnounce(MAC, null));
    expect(JSON.parse(fs.readFileSync(reportFile, 'utf8')).moves).toEqual([]);
    // the announce of a migrated VM: read right after the frame, with no timer run in between
    portB.send(rarpAnnounce(MAC, null));
    expect(JSON.parse(fs.readFileSync(reportFile, 'utf8')).moves).toEqual([expect.objectContaining({ mac: MAC, from: 'hostA/enp1s0f0', to: 'hostB/enp1s0f0' })]);
  });

  it('backs a VM\'s vfio-i40evf device with a VF of its PF, answers probes through the switch, and releases the VF and the port at stop', async () => {
    const socket = path.join(dir, 'switch.sock');
    switchProcess = await SwitchProcess.start({ socket, trafficTarget: MAC, trafficRate: 1000, reportFile: path.join(dir, 'report.json'), log: () => undefined });
    host = await startPfHost({ name: 'hostB', dir: path.join(dir, 'hostB'), dirtyPagesPerSecond: 0, pf: 'enp1s0f0', vfs: 4, vsiBase: 40, limits: 'older', switchSocket: socket, log: () => undefined });
    expect(host.pf.limits).toMatchObject(KERNEL_LIMITS.older);
    expect(host.pf.vfs.map((vf) => vf.vsiId)).toEqual([40, 41, 42, 43]);

    await host.host.startVm(vmSpec);
    expect(host.pf.vfs[0]?.owner).toBe('vm1/vf0');
    const running = switchProcess;
    await waitUntil('the switch to count more than 100 echoes from vm1', () => running.report(), (report) => Boolean(report.traffic?.counting) && (report.traffic?.received ?? 0) > 100);
    expect(switchProcess.server.fabric.lookup(MAC)).toBe('hostB/enp1s0f0');
    // a VM whose PF this host does not have is refused with the names
    await expect(host.host.startVm({ ...vmSpec, name: 'vm2', devices: [{ ...vfDevice, pf: 'enp9s0' }] })).rejects.toMatchObject({ code: 'SIM_BAD_VM_SPEC' });

    const pf = host.pf;
    await host.stop();
    host = undefined;
    expect(pf.vfs.every((vf) => vf.owner === null)).toBe(true);
    expect(fs.existsSync(path.join(dir, 'hostB', 'host.json'))).toBe(false);
    // the PF's port left the switch, and its learned MAC with it
    const fabric = switchProcess.server.fabric;
    await waitUntil(`the switch to forget ${MAC} with hostB's port`, () => fabric.lookup(MAC), (port) => port === undefined);

    const report = await switchProcess.stop();
    switchProcess = undefined;
    expect(report.traffic).toMatchObject({ target: MAC, counting: true, duplicated: 0 });
    expect(fs.existsSync(socket)).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8'))).toMatchObject({ traffic: { target: MAC } });
  });
});
