import { describe, expect, it, jest } from '@jest/globals';
import fc from 'fast-check';
import { QmpClient } from '../../../src/qmp/client.js';
import { QmpError, QmpProtocolError } from '../../../src/qmp/errors.js';
import { QmpLineDecoder } from '../../../src/qmp/framing.js';
import { QemuJsonStream } from '../../../src/qmp/json-stream.js';
import { QemuMonitor } from '../../../src/qmp/monitor.js';
import { FakeQmpStream, GREETING } from '../../helpers/fake-qmp-stream.js';
import { bounded, boundedAsync, expectTyped, FUZZ_TEST_TIMEOUT_MS, fuzzParameters, inputs } from './fuzz.js';

jest.setTimeout(FUZZ_TEST_TIMEOUT_MS);

/**
 * What QEMU sends a client: replies to the commands in flight (ids 2, 3, 4 after
 * qmp_capabilities' 1), errors, events, and the greeting.
 */
const SEED_LINES = [
  '{"return": {"status": "active", "setup-time": 3, "total-time": 1200, "expected-downtime": 300, "ram": {"transferred": 1048576, "remaining": 0, "total": 67108864, "duplicate": 10, "normal": 256, "normal-bytes": 1048576, "dirty-pages-rate": 12, "mbps": 800.5, "dirty-sync-count": 2, "page-size": 4096, "multifd-bytes": 0, "pages-per-second": 1000, "precopy-bytes": 1048576, "downtime-bytes": 0, "postcopy-bytes": 0, "dirty-sync-missed-zero-copy": 0}}, "id": 2}',
  '{"return": {"status": "running", "singlestep": false, "running": true}, "id": 3}',
  '{"error": {"class": "GenericError", "desc": "Parameter \'downtime_limit\' expects an integer in the range of 0 to (2000 * 1000) ms"}, "id": 4}',
  '{"timestamp": {"seconds": 1764547200, "microseconds": 123456}, "event": "MIGRATION", "data": {"status": "pre-switchover"}}',
  '{"timestamp": {"seconds": 1764547200, "microseconds": 1}, "event": "STOP"}',
  '{"error": {"class": "GenericError", "desc": "JSON parse error, invalid keyword \'foo\'"}}',
  JSON.stringify(GREETING),
];
const SEEDS = [Buffer.from(SEED_LINES.map((line) => `${line}\r\n`).join('')), ...SEED_LINES.map((line) => Buffer.from(`${line}\r\n`))];

/** Cuts bytes into chunks at the given points, as a socket might deliver them. */
function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const point of [...points, bytes.length]) {
    out.push(bytes.subarray(last, point));
    last = point;
  }
  return out;
}

const cutsArb = fc.array(fc.nat(), { maxLength: 4 });

describe('fuzz: the QMP reply parser', () => {
  it('framing: messages, or a QmpProtocolError, however the bytes are cut', () => {
    fc.assert(
      fc.property(inputs(SEEDS, 4096), cutsArb, (bytes, cuts) => {
        const decoder = new QmpLineDecoder(64 * 1024);
        bounded(() => {
          for (const chunk of chunks(bytes, cuts)) decoder.push(chunk);
        }, [QmpProtocolError]);
      }),
      fuzzParameters(500),
    );
  });

  it('the streaming reader (QEMU\'s): never throws, every item a value or an error, nothing buffered past its limits', () => {
    fc.assert(
      fc.property(inputs(SEEDS, 4096), cutsArb, (bytes, cuts) => {
        const stream = new QemuJsonStream({ limits: { maxTokenSize: 16 * 1024 } });
        const items = bounded(() => chunks(bytes, cuts).flatMap((chunk) => stream.push(chunk)));
        // Not even a typed error: the reader reports errors as items.
        expect(items).toBeDefined();
        for (const item of items ?? []) expect(['value', 'error']).toContain(item.kind);
        expect(stream.buffered).toBeLessThanOrEqual(bytes.length);
      }),
      fuzzParameters(500),
    );
  });

  it('client dispatch: every command settles with a result or a typed QmpError, and nothing escapes', async () => {
    await fc.assert(
      fc.asyncProperty(inputs(SEEDS, 2048), cutsArb, async (bytes, cuts) => {
        const stream = new FakeQmpStream();
        stream.autoNegotiate();
        // A traffic log as `nicmig qmp -v` keeps one: it walks every message it is given.
        const log: string[] = [];
        const attaching = QmpClient.attach(stream, { peerName: 'fuzz', commandTimeoutMs: 1000, onTraffic: (entry) => log.push(JSON.stringify(entry.message)) });
        stream.send(GREETING);
        const client = await boundedAsync('the handshake', attaching);
        const monitor = new QemuMonitor(client);
        const events: unknown[] = [];
        client.onEvent((event) => events.push(event));
        const pending = [monitor.queryMigrate(), monitor.queryStatus(), monitor.migrateSetParameters({ 'downtime-limit': 300 })];
        await stream.waitForWrites(4);
        try {
          for (const chunk of chunks(bytes, cuts)) stream.sendRaw(chunk);
        } catch (error) {
          throw new Error(`the client threw out of its data handler: ${(error as Error).stack}`);
        }
        stream.end();
        const settled = await boundedAsync('the commands in flight', Promise.allSettled(pending));
        for (const outcome of settled) if (outcome.status === 'rejected') expectTyped(outcome.reason, [QmpError]);
        expect(client.isOpen).toBe(false);
        expect(log.length).toBeGreaterThan(0);
      }),
      fuzzParameters(300),
    );
  });

  it('the greeting: a session, or a typed error, never a hang', async () => {
    await fc.assert(
      fc.asyncProperty(inputs(SEEDS, 1024), cutsArb, async (bytes, cuts) => {
        const stream = new FakeQmpStream();
        stream.autoNegotiate();
        const attaching = QmpClient.attach(stream, { peerName: 'fuzz', greetingTimeoutMs: 1000 }).then(
          (client) => client.destroy(),
          (error: unknown) => expectTyped(error, [QmpError]),
        );
        for (const chunk of chunks(bytes, cuts)) stream.sendRaw(chunk);
        stream.end();
        await boundedAsync('the greeting', attaching);
      }),
      fuzzParameters(300),
    );
  });
});
