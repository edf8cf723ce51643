import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { QmpClient } from '../../../src/qmp/client.js';
import {
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpProtocolError,
  QmpTimeoutError,
} from '../../../src/qmp/errors.js';
import { StatusInfoSchema } from '../../../src/qmp/schemas.js';
import { FakeQmpStream, GREETING } from '../../helpers/fake-qmp-stream.js';

async function connected(options: Parameters<typeof QmpClient.attach>[1] = {}, handler?: (m: Record<string, unknown>) => unknown) {
  const stream = new FakeQmpStream();
  stream.autoNegotiate(handler);
  const attaching = QmpClient.attach(stream, { peerName: 'fake', ...options });
  stream.send(GREETING);
  const client = await attaching;
  return { stream, client };
}

describe('QmpClient handshake', () => {
  it('reads the greeting and negotiates capabilities before anything else', async () => {
    const { stream, client } = await connected();
    expect(client.greeting.QMP.version.qemu).toEqual({ major: 7, minor: 2, micro: 22 });
    expect(stream.written).toHaveLength(1);
    expect(stream.written[0]?.execute).toBe('qmp_capabilities');
  });

  it('refuses a peer that does not greet like QMP', async () => {
    const stream = new FakeQmpStream();
    const attaching = QmpClient.attach(stream, { peerName: 'fake' });
    stream.send({ hello: 'world' });
    await expect(attaching).rejects.toMatchObject({ code: 'QMP_BAD_GREETING' });
    expect(stream.closed).toBe(true);
  });

  it('skips an event that QEMU sends before its greeting (seen from QEMU 7.2 at start-up)', async () => {
    const stream = new FakeQmpStream();
    stream.autoNegotiate();
    const attaching = QmpClient.attach(stream, { peerName: 'fake' });
    stream.send({ event: 'RESUME', timestamp: { seconds: 1, microseconds: 0 } });
    stream.send(GREETING);
    const client = await attaching;
    expect(client.greeting.QMP.version.qemu.major).toBe(7);
    expect(client.stats.dropped).toBe(1);
  });

  it('fails with a connect error when no greeting arrives in time', async () => {
    const stream = new FakeQmpStream();
    const attaching = QmpClient.attach(stream, { peerName: 'fake', greetingTimeoutMs: 50 });
    await expect(attaching).rejects.toBeInstanceOf(QmpConnectError);
    expect(stream.closed).toBe(true);
  });

  it('reports a refused negotiation as a protocol error', async () => {
    const stream = new FakeQmpStream();
    stream.onWrite = (m) => queueMicrotask(() => stream.send({ error: { class: 'GenericError', desc: 'no' }, id: m.id }));
    const attaching = QmpClient.attach(stream, { peerName: 'fake' });
    stream.send(GREETING);
    await expect(attaching).rejects.toMatchObject({ code: 'QMP_NEGOTIATION_FAILED' });
  });

  it('fails with a connect error, caused by the disconnect, when the peer hangs up before greeting', async () => {
    const stream = new FakeQmpStream();
    const attaching = QmpClient.attach(stream, { peerName: 'fake' });
    stream.end();
    const error = await attaching.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QmpConnectError);
    expect((error as Error).cause).toBeInstanceOf(QmpDisconnectedError);
  });
});

describe('QmpClient commands', () => {
  it('routes replies by id even when they arrive out of order', async () => {
    const { stream, client } = await connected();
    const a = client.execute('query-a');
    const b = client.execute('query-b');
    await stream.waitForWrites(3);
    const [, sentA, sentB] = stream.written;
    stream.send({ return: 'B', id: sentB?.id });
    stream.send({ return: 'A', id: sentA?.id });
    await expect(a).resolves.toBe('A');
    await expect(b).resolves.toBe('B');
  });

  it('passes arguments through and omits them when absent', async () => {
    const { stream, client } = await connected({}, () => ({ return: {} }));
    await client.execute('migrate', { uri: 'tcp:127.0.0.1:4444' });
    await client.execute('stop');
    expect(stream.written[1]).toMatchObject({ execute: 'migrate', arguments: { uri: 'tcp:127.0.0.1:4444' } });
    expect(stream.written[2]).not.toHaveProperty('arguments');
  });

  it('drops replies with unknown ids and keeps working', async () => {
    const { stream, client } = await connected();
    const pending = client.execute('query-status');
    await stream.waitForWrites(2);
    stream.send({ return: 'stray', id: 'someone-else' });
    stream.send({ return: 'stray', id: 42 });
    stream.send({ return: { running: true, status: 'running' }, id: stream.written[1]?.id });
    await expect(pending).resolves.toEqual({ running: true, status: 'running' });
    expect(client.stats.dropped).toBe(2);
  });

  it('fails the commands in flight at once on an error reply without an id (QEMU could not parse one)', async () => {
    // A deadline far away: the commands must fail on the reply, not on their deadline.
    const { stream, client } = await connected({ commandTimeoutMs: 600_000, maxInFlight: 2 });
    const first = client.execute('query-status').catch((e: unknown) => e);
    const second = client.execute('query-name').catch((e: unknown) => e);
    const queued = client.execute('query-version');
    await stream.waitForWrites(3);
    stream.send({ error: { class: 'GenericError', desc: 'JSON parse error, expecting value' } });
    for (const [failed, name] of [
      [await first, 'query-status'],
      [await second, 'query-name'],
    ] as const) {
      expect(failed).toBeInstanceOf(QmpCommandError);
      expect(failed).toMatchObject({ command: name, errorClass: 'GenericError', desc: 'JSON parse error, expecting value' });
    }
    // The queued command goes out once the others are settled, and is answered normally.
    await stream.waitForWrites(4);
    expect(stream.written[3]?.execute).toBe('query-version');
    stream.send({ return: { qemu: {} }, id: stream.written[3]?.id });
    await expect(queued).resolves.toEqual({ qemu: {} });
    // QEMU's late reply to a command failed above is dropped as an unknown id.
    stream.send({ return: {}, id: stream.written[1]?.id });
    expect(client.stats.dropped).toBe(1);
    expect(client.isOpen).toBe(true);
  });

  it('drops an error reply without an id when nothing is in flight', async () => {
    const { stream, client } = await connected();
    stream.send({ error: { class: 'GenericError', desc: 'JSON parse error, expecting value' } });
    expect(client.stats.dropped).toBe(1);
    expect(client.isOpen).toBe(true);
  });

  it('turns an error reply into a QmpCommandError with the class and description', async () => {
    const { client } = await connected({}, () => ({ error: { class: 'CommandNotFound', desc: "The command nope has not been found" } }));
    const error = await client.execute('nope', { a: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QmpCommandError);
    expect(error).toMatchObject({ code: 'QMP_COMMAND_FAILED', errorClass: 'CommandNotFound', command: 'nope', arguments: { a: 1 } });
  });

  it('keeps at most maxInFlight commands on the wire and sends the rest in call order', async () => {
    const { stream, client } = await connected({ maxInFlight: 2 });
    const calls = [1, 2, 3, 4, 5].map((n) => client.execute(`cmd-${n}`));
    await stream.waitForWrites(3);
    await new Promise((resolve) => setImmediate(resolve));
    expect(stream.written.map((m) => m.execute)).toEqual(['qmp_capabilities', 'cmd-1', 'cmd-2']);
    for (let answered = 0; answered < 5; answered++) {
      const message = stream.written[answered + 1];
      stream.send({ return: message?.execute, id: message?.id });
      await calls[answered];
      if (answered < 3) await stream.waitForWrites(answered + 4);
    }
    await expect(Promise.all(calls)).resolves.toEqual(['cmd-1', 'cmd-2', 'cmd-3', 'cmd-4', 'cmd-5']);
    expect(stream.written.map((m) => m.execute)).toEqual(['qmp_capabilities', 'cmd-1', 'cmd-2', 'cmd-3', 'cmd-4', 'cmd-5']);
  });

  it('times a command out, drops its late reply, and frees its slot', async () => {
    const { stream, client } = await connected({ maxInFlight: 1 });
    const slow = client.execute('slow', undefined, { timeoutMs: 30 });
    const next = client.execute('next');
    await expect(slow).rejects.toBeInstanceOf(QmpTimeoutError);
    await stream.waitForWrites(3);
    stream.send({ return: 'late', id: stream.written[1]?.id });
    stream.send({ return: 'ok', id: stream.written[2]?.id });
    await expect(next).resolves.toBe('ok');
    expect(client.stats.dropped).toBe(1);
  });

  it('takes a new default deadline for the commands called after setCommandTimeout, naming the command and the peer', async () => {
    const { client } = await connected({ peerName: 'vm1 on hostB' });
    expect(client.commandTimeoutMs).toBe(30_000);
    client.setCommandTimeout(40);
    const started = performance.now();
    await expect(client.execute('migrate-incoming')).rejects.toThrow('migrate-incoming: no reply from vm1 on hostB within 40 ms');
    expect(performance.now() - started).toBeLessThan(5000);
    expect(() => client.setCommandTimeout(0)).toThrow(RangeError);
  });

  it('is unresponsive from a command that timed out until QEMU answers anything again (a late reply counts)', async () => {
    const { stream, client } = await connected();
    expect(client.unresponsive).toBe(false);
    await expect(client.execute('stuck', undefined, { timeoutMs: 20 })).rejects.toBeInstanceOf(QmpTimeoutError);
    expect(client.unresponsive).toBe(true);
    // An event is no answer: QEMU can send events while a command is stuck.
    stream.send({ event: 'STOP', timestamp: { seconds: 1, microseconds: 0 } });
    await new Promise((resolve) => setImmediate(resolve));
    expect(client.unresponsive).toBe(true);
    stream.send({ return: {}, id: stream.written[1]?.id });
    await new Promise((resolve) => setImmediate(resolve));
    expect(client.unresponsive).toBe(false);
  });

  it('validates a reply against its schema, accepting unknown extra fields', async () => {
    const { client } = await connected({}, () => ({ return: { running: false, status: 'paused', 'added-in-9.0': true } }));
    const status = await client.execute('query-status', undefined, { schema: StatusInfoSchema });
    expect(status.status).toBe('paused');
    expect((status as Record<string, unknown>)['added-in-9.0']).toBe(true);
  });

  it('rejects a reply that does not match its schema and stays usable', async () => {
    let bad = true;
    const { client } = await connected({}, () => (bad ? ((bad = false), { return: { running: 'yes' } }) : { return: { running: true, status: 'running' } }));
    const error = await client.execute('query-status', undefined, { schema: StatusInfoSchema }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QmpProtocolError);
    expect(error).toMatchObject({ code: 'QMP_BAD_REPLY' });
    expect((error as QmpProtocolError).message).toMatch(/running/);
    await expect(client.execute('query-status', undefined, { schema: StatusInfoSchema })).resolves.toMatchObject({ running: true });
  });

  it('rejects a reply with neither return nor error', async () => {
    const { client } = await connected({}, () => ({ weird: 1 }));
    await expect(client.execute('x')).rejects.toMatchObject({ code: 'QMP_BAD_REPLY' });
  });
});

describe('QmpClient when the connection breaks', () => {
  it('fails every pending and queued command at once with one disconnect error', async () => {
    const { stream, client } = await connected({ maxInFlight: 3 });
    const calls = Array.from({ length: 10 }, (_, n) => client.execute(`cmd-${n}`).catch((e: unknown) => e));
    await stream.waitForWrites(4);
    const settled = Promise.all(calls);
    // at once: before any timer or I/O callback could run (a deadline would need one)
    const nextTurn = new Promise((resolve) => setImmediate(() => resolve('still pending at the next turn of the event loop')));
    stream.end(new Error('ECONNRESET'));
    const errors = await Promise.race([settled, nextTurn]);
    if (!Array.isArray(errors)) throw new Error(String(errors));
    expect(new Set(errors).size).toBe(1);
    expect(errors[0]).toBeInstanceOf(QmpDisconnectedError);
    expect((errors[0] as Error).message).toMatch(/ECONNRESET/);
    await expect(client.execute('after')).rejects.toBeInstanceOf(QmpDisconnectedError);
    await expect(client.closed).resolves.toBe(errors[0]);
  });

  it('ends event listeners too', async () => {
    const { stream, client } = await connected();
    const waiting = client.waitFor('STOP', undefined, 60_000);
    stream.end();
    await expect(waiting).rejects.toBeInstanceOf(QmpDisconnectedError);
  });

  it('treats malformed JSON as a fatal protocol error', async () => {
    const { stream, client } = await connected();
    const pending = client.execute('query-status');
    await stream.waitForWrites(2);
    stream.sendRaw('{"return": {\r\n');
    await expect(pending).rejects.toMatchObject({ code: 'QMP_MALFORMED_MESSAGE' });
    expect(stream.closed).toBe(true);
    expect(client.isOpen).toBe(false);
  });

  it('treats a message over the size limit as a protocol error without buffering it all', async () => {
    const { stream, client } = await connected({ maxMessageBytes: 1024 });
    const pending = client.execute('query-status');
    await stream.waitForWrites(2);
    stream.sendRaw(`{"return": "${'x'.repeat(600)}`);
    stream.sendRaw('x'.repeat(600));
    await expect(pending).rejects.toMatchObject({ code: 'QMP_MESSAGE_TOO_LARGE' });
    expect(stream.closed).toBe(true);
  });

  it('rejects a command after close() without writing it', async () => {
    const { stream, client } = await connected();
    await client.close();
    await expect(client.execute('query-status')).rejects.toBeInstanceOf(QmpDisconnectedError);
    expect(stream.written).toHaveLength(1);
  });
});

describe('QmpClient events', () => {
  it('keeps an event that arrives before the command reply, for a listener registered first', async () => {
    const { stream, client } = await connected({}, (m) => {
      if (m.execute === 'stop') stream.send({ event: 'STOP', timestamp: { seconds: 1, microseconds: 2 } });
      return { return: {} };
    });
    const stopped = client.waitFor('STOP');
    await client.execute('stop');
    await expect(stopped).resolves.toMatchObject({ event: 'STOP', timestamp: { seconds: 1, microseconds: 2 } });
  });

  it('waitFor skips events that do not satisfy the predicate', async () => {
    const { stream, client } = await connected();
    const completed = client.waitFor('MIGRATION', (e) => e.data?.status === 'completed', 5000);
    stream.send({ event: 'MIGRATION', data: { status: 'setup' } });
    stream.send({ event: 'MIGRATION_PASS', data: { pass: 1 } });
    stream.send({ event: 'MIGRATION', data: { status: 'completed' } });
    await expect(completed).resolves.toMatchObject({ data: { status: 'completed' } });
  });

  it('waitFor times out with a QmpTimeoutError naming the event', async () => {
    const { client } = await connected();
    await expect(client.waitFor(['RESUME'], undefined, 20)).rejects.toThrow(/RESUME/);
  });

  it('a listener delivers events in order and filters by name', async () => {
    const { stream, client } = await connected();
    const listener = client.listen({ names: ['MIGRATION', 'MIGRATION_PASS'] });
    stream.send({ event: 'MIGRATION', data: { status: 'setup' } });
    stream.send({ event: 'STOP' });
    stream.send({ event: 'MIGRATION_PASS', data: { pass: 1 } });
    expect((await listener.next(100)).data).toEqual({ status: 'setup' });
    expect((await listener.next(100)).data).toEqual({ pass: 1 });
    listener.close();
    await expect(listener.next(10)).rejects.toThrow();
  });

  it('accepts extra reply fields and schemas built by callers', async () => {
    const { client } = await connected({}, () => ({ return: [{ name: 'a', extra: 1 }] }));
    const schema = z.array(z.looseObject({ name: z.string() }));
    await expect(client.execute('query-commands', undefined, { schema })).resolves.toEqual([{ name: 'a', extra: 1 }]);
  });
});
