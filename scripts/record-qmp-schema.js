#!/usr/bin/env node
// Records a real QEMU's `query-qmp-schema` (and `query-commands`, `query-version`, and the
// migration defaults and machine types the simulator presents: `query-migrate-capabilities`,
// `query-migrate-parameters`, `query-machines`) into fixtures/qmp/schema/qemu-MAJOR.MINOR.json,
// which the simulator answers from.
//   node scripts/record-qmp-schema.js [qemu-binary] [output-dir]
// It starts `BINARY -machine none -nodefaults -display none -S` with a QMP unix socket in a
// temporary directory, negotiates, asks the queries, and quits QEMU. The schema is the
// binary's compiled-in QAPI schema: the machine and devices do not change it; neither do the
// migration defaults of the newest machine types (no compat properties), nor the machine list.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const binary = process.argv[2] ?? process.env.NICMIG_QEMU ?? 'qemu-system-x86_64';
const outDir = path.resolve(process.argv[3] ?? path.join(root, 'fixtures/qmp/schema'));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nicmig-record-schema-${process.pid}-`));
const socketPath = path.join(dir, 'qmp.sock');
const qemu = spawn(binary, ['-machine', 'none', '-nodefaults', '-display', 'none', '-S', '-qmp', `unix:${socketPath},server=on,wait=on`], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
const exited = new Promise((resolve) => qemu.once('exit', (code, signal) => resolve({ code, signal })));

function fail(message) {
  process.stderr.write(`record-qmp-schema: ${message}\n`);
  qemu.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(1);
}

async function connect() {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await new Promise((resolve, reject) => {
        const socket = net.connect(socketPath, () => resolve(socket));
        socket.once('error', reject);
      });
    } catch (error) {
      if (Date.now() > deadline) fail(`no QMP socket at ${socketPath} within 30 s: ${error.message}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

const socket = await connect();
// QEMU ends every message with \r\n and writes none inside one.
const messages = [];
const waiters = [];
let text = '';
socket.on('data', (chunk) => {
  text += chunk.toString('utf8');
  let end;
  while ((end = text.indexOf('\r\n')) >= 0) {
    const message = JSON.parse(text.slice(0, end));
    text = text.slice(end + 2);
    if ('event' in message) continue;
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else messages.push(message);
  }
});
const next = () => (messages.length > 0 ? Promise.resolve(messages.shift()) : new Promise((resolve) => waiters.push(resolve)));
async function execute(command) {
  socket.write(JSON.stringify({ execute: command }));
  const reply = await next();
  if (!('return' in reply)) fail(`${command}: ${JSON.stringify(reply)}`);
  return reply.return;
}

const greeting = await next();
await execute('qmp_capabilities');
const version = await execute('query-version');
const commands = await execute('query-commands');
const schema = await execute('query-qmp-schema');
const migrateCapabilities = await execute('query-migrate-capabilities');
const migrateParameters = await execute('query-migrate-parameters');
const machines = await execute('query-machines');
socket.write(JSON.stringify({ execute: 'quit' }));
await exited;
fs.rmSync(dir, { recursive: true, force: true });

const name = `qemu-${version.qemu.major}.${version.qemu.minor}.json`;
const recording = {
  recorded: {
    binary,
    version: version.qemu,
    package: version.package,
    greetingCapabilities: greeting.QMP.capabilities,
    how: 'scripts/record-qmp-schema.js: -machine none -nodefaults -display none -S; qmp_capabilities, query-version, query-commands, query-qmp-schema, query-migrate-capabilities, query-migrate-parameters, query-machines',
  },
  commands: commands.map((command) => command.name).sort(),
  migrateCapabilities: migrateCapabilities.map((entry) => entry.capability),
  migrateParameters,
  // By name, as `-machine help` sorts them; QEMU's own order is its hash table's.
  machines: [...machines].sort((a, b) => a.name.localeCompare(b.name)),
  schema,
};
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, name), `${JSON.stringify(recording)}\n`);
process.stdout.write(`${path.join(outDir, name)}: ${schema.length} schema entries, ${commands.length} commands, ${machines.length} machine types\n`);
