import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { findMonitorProcess, holdsSocket, namesSocket } from '../../../src/hosts/monitor-process.js';
import { waitUntil } from '../../helpers/wait.js';

describe('finding the process behind a monitor socket', () => {
  it('an argument names the socket only as a whole path', () => {
    const socket = '/run/nicmig/vm1.qmp';
    expect(namesSocket(['-qmp', 'unix:/run/nicmig/vm1.qmp,server=on,wait=off'], socket)).toBe(true);
    expect(namesSocket(['-chardev', 'socket,id=m,path=/run/nicmig/vm1.qmp,server=on'], socket)).toBe(true);
    expect(namesSocket(['-chardev', '{"backend":"socket","path":"/run/nicmig/vm1.qmp"}'], socket)).toBe(true);
    expect(namesSocket(['/run/nicmig/vm1.qmp'], socket)).toBe(true);
    expect(namesSocket(['-qmp', 'unix:/run/nicmig/vm1.qmp2,server=on'], socket)).toBe(false);
    expect(namesSocket(['-qmp', 'unix:/old/run/nicmig/vm1.qmp'], socket)).toBe(false);
    expect(namesSocket(['-qmp', 'unix:/run/nicmig/vm1xqmp'], socket)).toBe(false);
  });

  describe('on this machine\'s /proc', () => {
    let dir: string;
    let server: net.Server;
    let socket: string;
    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-monitor-process-'));
      socket = path.join(dir, 'vm1.qmp');
      server = net.createServer();
      await new Promise<void>((resolve) => server.listen(socket, resolve));
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('a process that names the socket but does not hold it is not the one; the one that holds it is', async () => {
      // This test process listens on the socket; a child only names it.
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', `unix:${socket},server=on`], { stdio: 'ignore' });
      try {
        await waitUntil('the child to show its argv in /proc', () => fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8'), (text) => text.includes(socket));
        expect(holdsSocket(process.pid, socket)).toBe(true);
        expect(holdsSocket(child.pid as number, socket)).toBe(false);
        // findMonitorProcess skips nicmig's own process: the namer alone is no answer.
        const found = findMonitorProcess(socket, path.join(dir, 'vm1.pid'));
        expect(found).toEqual({ problem: `the processes that name ${socket} in their command lines (${child.pid}) do not hold that socket` });
      } finally {
        child.kill('SIGKILL');
      }
    });

    it('says why when no process names the socket', () => {
      const absent = path.join(dir, 'absent.qmp');
      expect(findMonitorProcess(absent, path.join(dir, 'absent.pid'))).toEqual({
        problem: `no process on this machine names ${absent} in its command line (no pid file at ${path.join(dir, 'absent.pid')}); a monitor passed as a file descriptor hides it`,
      });
    });
  });
});
