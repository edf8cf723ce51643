// QMP client cost against real QEMU: round-trip latency of QmpClient.execute next to a
// minimal raw-socket client measured in the same run, and pipelined vs sequential throughput.
// Needs `npm run build` (imports dist/) and qemu-system-x86_64.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { QmpClient } from '../../dist/qmp/client.js';

const QEMU = process.env.NICMIG_QEMU ?? 'qemu-system-x86_64';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CALLS = Number(process.env.BENCH_CALLS ?? 2000);
const LINK_DELAY_MS = 1;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function waitForSocket(file, child) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error('QEMU exited early');
    if (fs.existsSync(file)) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('QMP socket did not appear');
}

/** The baseline: the least a client can do: write a line, find the reply line by id. */
async function rawClient(file) {
  const socket = net.connect({ path: file });
  socket.setNoDelay(true);
  let buffer = '';
  let waiter;
  socket.on('data', (chunk) => {
    buffer += chunk.toString();
    let newline;
    while ((newline = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      const message = JSON.parse(line);
      if (waiter && message.id === waiter.id) {
        const w = waiter;
        waiter = undefined;
        w.resolve(message);
      } else if (waiter && waiter.id === 'greeting' && message.QMP) {
        const w = waiter;
        waiter = undefined;
        w.resolve(message);
      }
    }
  });
  const call = (id, execute) =>
    new Promise((resolve) => {
      waiter = { id, resolve };
      if (execute) socket.write(`${JSON.stringify({ execute, id })}\n`);
    });
  await call('greeting');
  await call('neg', 'qmp_capabilities');
  return { call, close: () => socket.destroy() };
}

/** Forwards a unix socket to a TCP port, holding every chunk back `delayMs` each way: a slow link. */
function delayingProxy(target, delayMs) {
  const server = net.createServer((client) => {
    const upstream = net.connect({ path: target });
    client.setNoDelay(true);
    const relay = (from, to) => {
      from.on('data', (chunk) => setTimeout(() => to.write(chunk), delayMs));
      from.on('close', () => setTimeout(() => to.destroy(), delayMs));
      from.on('error', () => to.destroy());
    };
    relay(client, upstream);
    relay(upstream, client);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function sequential(call, count) {
  const start = performance.now();
  for (let i = 0; i < count; i++) await call(i);
  return ((performance.now() - start) * 1000) / count;
}

async function main() {
  if (spawnSync(QEMU, ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.log(`bench/qmp: ${QEMU} not found, skipped`);
    console.log(`BENCH ${JSON.stringify({ name: 'qmp', skipped: 'no qemu', rows: [] })}`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nicmig-bench-qmp-'));
  const rawSocket = path.join(dir, 'raw.qmp');
  const clientSocket = path.join(dir, 'client.qmp');
  const linkSocket = path.join(dir, 'link.qmp');
  // Three monitors on one QEMU: both clients are measured against the same process, in
  // alternating blocks, so QEMU's own variance falls on both alike.
  const child = spawn(
    QEMU,
    ['-nodefaults', '-no-user-config', '-display', 'none', '-m', '64M', '-machine', 'q35', '-accel', 'kvm', '-accel', 'tcg', '-S',
      '-qmp', `unix:${rawSocket},server=on,wait=off`, '-qmp', `unix:${clientSocket},server=on,wait=off`, '-qmp', `unix:${linkSocket},server=on,wait=off`],
    { stdio: 'ignore' },
  );
  let proxy;
  try {
    await waitForSocket(rawSocket, child);
    await waitForSocket(clientSocket, child);
    await waitForSocket(linkSocket, child);
    const raw = await rawClient(rawSocket);
    const client = await QmpClient.connect(`unix:${clientSocket}`);
    const block = Math.max(50, Math.floor(CALLS / 20));
    const rawRtt = [];
    const clientRtt = [];
    for (let round = 0; round < ROUNDS * 20; round++) {
      const runRaw = async () => rawRtt.push(await sequential((i) => raw.call(i, 'query-status'), block));
      const runClient = async () => clientRtt.push(await sequential(() => client.execute('query-status'), block));
      if (round % 2 === 0) { await runRaw(); await runClient(); } else { await runClient(); await runRaw(); }
    }
    const pipelined = [];
    for (let round = 0; round < ROUNDS; round++) {
      const start = performance.now();
      await Promise.all(Array.from({ length: CALLS }, () => client.execute('query-status')));
      pipelined.push(((performance.now() - start) * 1000) / CALLS);
    }
    raw.close();
    client.destroy();

    // Across a link with latency (the orchestrator reaching a remote host), where round
    // trips, not QEMU, dominate.
    proxy = await delayingProxy(linkSocket, LINK_DELAY_MS);
    const remote = await QmpClient.connect({ kind: 'tcp', host: '127.0.0.1', port: proxy.address().port });
    const remoteCalls = 200;
    const remoteSequential = median([await sequential(() => remote.execute('query-status'), remoteCalls), await sequential(() => remote.execute('query-status'), remoteCalls)]);
    const remotePipelined = [];
    for (let round = 0; round < 3; round++) {
      const start = performance.now();
      await Promise.all(Array.from({ length: remoteCalls }, () => remote.execute('query-status')));
      remotePipelined.push(((performance.now() - start) * 1000) / remoteCalls);
    }
    remote.destroy();

    const rawMedian = median(rawRtt);
    const clientMedian = median(clientRtt);
    const pipe = median(pipelined);
    const remotePipe = median(remotePipelined);
    const rows = [
      { metric: 'round trip, raw socket baseline', value: round2(rawMedian), unit: 'us/call' },
      { metric: 'round trip, QmpClient.execute', value: round2(clientMedian), unit: 'us/call', baseline: round2(rawMedian), ratio: round3(clientMedian / rawMedian) },
      { metric: 'local: sequential', value: Math.round(1e6 / clientMedian), unit: 'calls/s' },
      { metric: 'local: pipelined (64 in flight)', value: Math.round(1e6 / pipe), unit: 'calls/s', baseline: Math.round(1e6 / clientMedian), ratio: round3(clientMedian / pipe) },
      { metric: `link +${LINK_DELAY_MS} ms each way: sequential`, value: Math.round(1e6 / remoteSequential), unit: 'calls/s' },
      { metric: `link +${LINK_DELAY_MS} ms each way: pipelined`, value: Math.round(1e6 / remotePipe), unit: 'calls/s', baseline: Math.round(1e6 / remoteSequential), ratio: round3(remoteSequential / remotePipe) },
    ];
    console.log(`bench/qmp: query-status against one QEMU, medians of ${rawRtt.length} alternating blocks of ${block} calls`);
    for (const row of rows) {
      console.log(`  ${row.metric.padEnd(40)} ${String(row.value).padStart(10)} ${row.unit}${row.ratio ? `   x${row.ratio} vs ${row.baseline}` : ''}`);
    }
    console.log(`BENCH ${JSON.stringify({ name: 'qmp', rows })}`);
  } finally {
    proxy?.close();
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const round2 = (x) => Math.round(x * 100) / 100;
const round3 = (x) => Math.round(x * 1000) / 1000;

await main();
