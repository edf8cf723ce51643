import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { QmpClient } from '../../src/qmp/client.js';
import { QemuMonitor } from '../../src/qmp/monitor.js';
import type { SimDevice, SimDeviceContext } from '../../src/sim/device.js';
import { SimVm } from '../../src/sim/vm.js';

let dir: string;
let vm: SimVm;
let socketPath: string;
const sockets: net.Socket[] = [];
const clients: QmpClient[] = [];

class CounterDevice implements SimDevice {
  readonly id = 'counter0';
  context!: SimDeviceContext;
  attach(context: SimDeviceContext): void {
    this.context = context;
    context.registerCommand({
      name: 'counter-bump',
      args: { by: { type: 'int' } },
      handler: (args) => {
        context.emitEvent('COUNTER_BUMPED', { by: args.by });
        return { value: Number(args.by) };
      },
    });
  }
}

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-sim-qmp-'));
  socketPath = path.join(dir, 'vm1.qmp');
  vm = new SimVm({ name: 'vm1', memoryBytes: 1 << 20, devices: [new CounterDevice()] });
  await vm.listen(socketPath);
});
afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const socket of sockets.splice(0)) socket.destroy();
  await vm.exit(0, 'test cleanup');
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A raw connection: write lines, read `count` messages. */
function raw(): { send(line: string): void; read(count: number): Promise<Record<string, unknown>[]> } {
  const socket = net.connect(socketPath);
  sockets.push(socket);
  const messages: Record<string, unknown>[] = [];
  let buffered = '';
  let wake: (() => void) | undefined;
  socket.on('data', (chunk) => {
    buffered += chunk.toString();
    let index: number;
    while ((index = buffered.indexOf('\r\n')) >= 0) {
      messages.push(JSON.parse(buffered.slice(0, index)) as Record<string, unknown>);
      buffered = buffered.slice(index + 2);
    }
    wake?.();
  });
  return {
    send: (line) => socket.write(`${line}\n`),
    read: async (count) => {
      while (messages.length < count) await new Promise<void>((resolve) => (wake = resolve));
      return messages.splice(0, count);
    },
  };
}

describe('the simulated QMP server', () => {
  it('echoes ids of any JSON type and answers pipelined commands in order', async () => {
    const conn = raw();
    await conn.read(1);
    conn.send('{"execute":"qmp_capabilities"}');
    const ids = [7, 'x', { a: [1] }, null, [2, 3]];
    for (const id of ids) conn.send(JSON.stringify({ execute: 'query-name', id }));
    const replies = await conn.read(1 + ids.length);
    expect(replies[0]).toEqual({ return: {} });
    expect(replies.slice(1)).toEqual(ids.map((id) => ({ return: { name: 'vm1' }, id })));
  });

  it('answers malformed input with GenericError like QEMU', async () => {
    const conn = raw();
    await conn.read(1);
    conn.send('{"execute":"qmp_capabilities"}');
    conn.send('not json');
    conn.send('[1]');
    conn.send('{"id":1}');
    conn.send('{"execute":"query-name","extra":1,"id":2}');
    conn.send('{"execute":"query-name","arguments":[],"id":3}');
    // QEMU's lexer sees two keywords in 'not json', each its own error.
    const replies = await conn.read(7);
    expect(replies.slice(1)).toEqual([
      { error: { class: 'GenericError', desc: "JSON parse error, invalid keyword 'not'" } },
      { error: { class: 'GenericError', desc: "JSON parse error, invalid keyword 'json'" } },
      { error: { class: 'GenericError', desc: 'QMP input must be a JSON object' } },
      { error: { class: 'GenericError', desc: "QMP input lacks member 'execute'" }, id: 1 },
      { error: { class: 'GenericError', desc: "QMP input member 'extra' is unexpected" }, id: 2 },
      { error: { class: 'GenericError', desc: "QMP input member 'arguments' must be an object" }, id: 3 },
    ]);
  });

  it('serves one client at a time; the next one gets its greeting when the first leaves', async () => {
    const first = await QmpClient.connect(`unix:${socketPath}`);
    const second = raw();
    let greeted = false;
    const greeting = second.read(1).then((m) => {
      greeted = true;
      return m;
    });
    await first.execute('query-status');
    expect(greeted).toBe(false);
    await first.close();
    expect((await greeting)[0]).toHaveProperty('QMP');
  });

  it('runs device extension commands under the prefix, with their events', async () => {
    const client = await QmpClient.connect(`unix:${socketPath}`);
    clients.push(client);
    const monitor = new QemuMonitor(client);
    const bumped = client.waitFor('COUNTER_BUMPED', undefined, 5000);
    expect(await monitor.executeExtension('counter-bump', { by: 3 })).toEqual({ value: 3 });
    expect((await bumped).data).toEqual({ by: 3 });
    expect(await monitor.queryCommands()).toContain('__org.nicmig_counter-bump');
    await expect(monitor.executeExtension('counter-bump', { by: 'x' })).rejects.toMatchObject({ errorClass: 'GenericError' });
  });

  it('hangNext (a test fault): that call is never acted on nor answered, those behind it on its connection wait, a new connection is served', async () => {
    const stuck = await QmpClient.connect(`unix:${socketPath}`, { peerName: 'vm1' });
    vm.registry.hangNext('stop');
    await expect(stuck.execute('stop', undefined, { timeoutMs: 300 })).rejects.toThrow('stop: no reply from vm1 within 300 ms');
    await expect(stuck.execute('query-status', undefined, { timeoutMs: 300 })).rejects.toThrow('query-status: no reply');
    expect(vm.runState).toBe('running');
    stuck.destroy();
    const next = new QemuMonitor(await QmpClient.connect(`unix:${socketPath}`));
    clients.push(next.client);
    expect((await next.queryStatus()).status).toBe('running');
    // Only the next call hung: a later stop is acted on.
    await next.stop();
    expect(vm.runState).toBe('paused');
  });
});
