import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { scenarios } from '../conformance/scenarios.js';
import { SimTarget } from '../conformance/targets.js';
import { eventName } from '../conformance/trace.js';
import type { Transcript } from '../helpers/transcript.js';

jest.setTimeout(30_000);

/**
 * The simulator against the transcripts recorded from real QEMU 7.2 (fixtures/qmp): the
 * single-VM ones are replayed message by message on a raw socket, and every reply must match
 * (error class and description; return values where they are not machine-specific). For the
 * migration ones, each side's events (MIGRATION statuses, STOP, RESUME; no PASS counts) must
 * equal what the matching conformance scenario sees on the simulator.
 */
const FIXTURES = path.join(process.cwd(), 'fixtures', 'qmp');

function load(name: string): Transcript {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as Transcript;
}

/** A reply or event with what differs between machines and runs taken out. */
function normalise(message: Record<string, unknown>): unknown {
  if ('QMP' in message) return { QMP: { capabilities: (message.QMP as { capabilities: unknown }).capabilities } };
  if ('event' in message) return { event: message.event, data: message.data };
  if ('error' in message) return { error: message.error };
  const value = message.return;
  if (Array.isArray(value)) return { return: 'list' };
  if (value && typeof value === 'object' && 'qemu' in value) return { return: 'version' };
  return { return: value };
}

const targets: SimTarget[] = [];
afterEach(async () => {
  await Promise.all(targets.splice(0).map((t) => t.cleanup()));
});

/** Sends the transcript's messages in order on a raw socket; returns what came back, normalised. */
async function replay(socketPath: string, sent: Record<string, unknown>[], expectedCount: number): Promise<unknown[]> {
  const socket = net.connect(socketPath);
  const received: unknown[] = [];
  let buffered = '';
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${received.length} of ${expectedCount} messages: ${JSON.stringify(received)}`)), 10_000);
    socket.on('data', (chunk) => {
      buffered += chunk.toString();
      let index: number;
      while ((index = buffered.indexOf('\r\n')) >= 0) {
        received.push(normalise(JSON.parse(buffered.slice(0, index)) as Record<string, unknown>));
        buffered = buffered.slice(index + 2);
      }
      if (received.length >= expectedCount) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  for (const message of sent) socket.write(`${JSON.stringify(message)}\n`);
  await done;
  socket.destroy();
  return received;
}

describe('the simulator replays the single-VM transcripts of real QEMU 7.2', () => {
  for (const name of ['negotiation', 'before-negotiation', 'stop-cont', 'error-classes', 'migration-bad-arguments']) {
    it(name, async () => {
      const transcript = load(name);
      const target = new SimTarget();
      targets.push(target);
      await target.start({ name: transcript.entries[0]?.side ?? 'vm1' });
      const sent = transcript.entries.filter((e) => e.dir === 'sent').map((e) => e.message);
      const expected = transcript.entries.filter((e) => e.dir === 'received').map((e) => normalise(e.message));
      const socketPath = path.join(target.dir, `${transcript.entries[0]?.side ?? 'vm1'}.qmp`);
      expect(await replay(socketPath, sent, expected.length)).toEqual(expected);
    });
  }
});

function transcriptEvents(transcript: Transcript, side: string): string {
  return transcript.entries
    .filter((e) => e.side === side && e.dir === 'received' && 'event' in e.message && e.message.event !== 'MIGRATION_PASS')
    .map((e) => eventName(e.message as { event: string; data?: Record<string, unknown> }))
    .join(' ');
}

describe('the simulator emits the events of the migration transcripts', () => {
  const cases: [string, string, string[]][] = [
    ['migration-pause-before-switchover', 'migration with pause-before-switchover to completion', ['source', 'destination']],
    ['migration-cancel-active', 'migrate_cancel while active', ['source']],
    ['migration-destination-killed', 'destination killed mid-stream', ['source']],
    ['migration-rollback-cont', 'cont from postmigrate', ['source', 'destination']],
  ];
  for (const [fixture, scenarioName, sides] of cases) {
    it(fixture, async () => {
      const transcript = load(fixture);
      const scenario = scenarios.find((s) => s.name === scenarioName);
      if (!scenario) throw new Error(`no scenario ${scenarioName}`);
      const target = new SimTarget();
      targets.push(target);
      const trace = await scenario.run(target);
      for (const side of sides) {
        const line = trace.lines.find((l) => l.startsWith(`${side} events: `));
        // The transcripts stop recording at different points; compare the recorded prefix.
        const expected = transcriptEvents(transcript, side);
        expect(line?.slice(`${side} events: `.length).startsWith(expected)).toBe(true);
      }
    });
  }
});
