import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { QmpCommandError } from '../../src/qmp/errors.js';
import { formatQemuJson } from '../../src/qmp/json-writer.js';
import { RawQmpConnection } from '../conformance/raw-qmp.js';
import { rawScenarios } from '../conformance/raw-scenarios.js';
import { scenarios } from '../conformance/scenarios.js';
import { SIM_QEMU_VERSIONS, type SimQemuVersion } from '../../src/inventory/sim-qemu-version.js';
import { loadSchemaRecording } from '../../src/sim/qmp-schema.js';
import { QemuTarget, SimTarget, type ConformanceTarget } from '../conformance/targets.js';
import { describeEachQemu, type QemuBinary } from '../helpers/qemu.js';

jest.setTimeout(120_000);

/**
 * The same QMP scenarios against real QEMU and the simulator presenting the same version, for
 * each version (7.2 and 10.0; describeEachQemu: a missing one fails under CI=true): every line
 * of the simulator's trace (statuses, events in order, error classes and descriptions) must
 * equal QEMU's. The simulator side always runs, as each version (and must complete); the
 * comparison needs QEMU.
 */
const targets: ConformanceTarget[] = [];
afterEach(async () => {
  await Promise.all(targets.splice(0).map((target) => target.cleanup()));
});

function track<T extends ConformanceTarget>(target: T): T {
  targets.push(target);
  return target;
}

/** The simulator presenting the version of `qemu` (a version the simulator does not know fails here). */
function simulating(qemu: QemuBinary): SimTarget {
  if (!(SIM_QEMU_VERSIONS as readonly string[]).includes(qemu.version)) throw new Error(`the simulator has no QEMU ${qemu.version}`);
  return new SimTarget(qemu.version as SimQemuVersion);
}

for (const version of SIM_QEMU_VERSIONS) {
  describe(`conformance: the simulator runs every scenario (as QEMU ${version})`, () => {
    for (const scenario of scenarios) {
      it(scenario.name, async () => {
        const trace = await scenario.run(track(new SimTarget(version)));
        expect(trace.lines.length).toBeGreaterThan(0);
      });
    }
  });
}

describeEachQemu('conformance: simulator against real QEMU', (qemu) => {
  for (const scenario of scenarios) {
    it(`QEMU ${qemu.version}: ${scenario.name}`, async () => {
      const real = await scenario.run(track(new QemuTarget(qemu)));
      const simulated = await scenario.run(track(simulating(qemu)));
      expect(simulated.lines).toEqual(real.lines);
    });
  }
});

for (const version of SIM_QEMU_VERSIONS) {
  describe(`conformance, raw protocol: the simulator runs every scenario (as QEMU ${version})`, () => {
    for (const scenario of rawScenarios) {
      it(scenario.name, async () => {
        const lines = await scenario.run(track(new SimTarget(version)));
        expect(lines.length).toBeGreaterThan(1);
      });
    }
  });
}

describeEachQemu('conformance, raw protocol: simulator against real QEMU, byte for byte', (qemu) => {
  for (const scenario of rawScenarios) {
    it(`QEMU ${qemu.version}: ${scenario.name}`, async () => {
      const real = await scenario.run(track(new QemuTarget(qemu)));
      const simulated = await scenario.run(track(simulating(qemu)));
      expect(simulated).toEqual(real);
    });
  }
});

/** query-qmp-schema and query-commands over a raw connection, as QEMU's Python client asks. */
async function schemaOf(target: ConformanceTarget): Promise<{ entries: Map<string, string>; commands: string[] }> {
  const vm = await target.start({ name: 'vm1', paused: true });
  const connection = await RawQmpConnection.open(vm.qmpPath);
  try {
    await connection.next('the greeting');
    connection.write('{"execute": "qmp_capabilities"}');
    await connection.next('the reply to qmp_capabilities');
    connection.write('{"execute": "query-qmp-schema", "id": 1}{"execute": "query-commands", "id": 2}');
    const schemaLine = await connection.next('the reply to query-qmp-schema');
    const schema = (JSON.parse(schemaLine) as { return: { name: string }[] }).return;
    const commands = (JSON.parse(await connection.next('the reply to query-commands')) as { return: { name: string }[] }).return;
    // Each entry as QEMU's writer puts it, so that the texts compare.
    return { entries: new Map(schema.map((entry) => [entry.name, formatQemuJson(entry)])), commands: commands.map((c) => c.name).sort() };
  } finally {
    connection.close();
  }
}

describe.each(SIM_QEMU_VERSIONS.map((version) => [version]))('conformance, schema: the simulator tells the truth about itself (as QEMU %s)', (version) => {
  it('lists in query-qmp-schema exactly the commands it answers, with every type they reference', async () => {
    const { entries, commands } = await schemaOf(track(new SimTarget(version)));
    const schemaCommands = [...entries.values()].filter((text) => text.includes('"meta-type": "command"'));
    expect(schemaCommands.map((text) => (JSON.parse(text) as { name: string }).name).sort()).toEqual(commands);
    expect(commands).toEqual(expect.arrayContaining(['qmp_capabilities', 'query-qmp-schema', 'query-status', 'migrate']));
    for (const text of entries.values()) {
      const entry = JSON.parse(text) as Record<string, unknown>;
      const referenced = [entry['arg-type'], entry['ret-type'], entry['element-type']].filter((name) => typeof name === 'string');
      for (const name of referenced) expect(entries.has(name as string)).toBe(true);
    }
  });
});

describeEachQemu('conformance, schema: simulator against real QEMU', (qemu) => {
  it(`QEMU ${qemu.version}: gives QEMU's own schema entry, byte for byte, for everything it lists; the recording is this QEMU's`, async () => {
    const real = await schemaOf(track(new QemuTarget(qemu)));
    const simulated = await schemaOf(track(simulating(qemu)));
    // The recording the simulator answers from is the installed QEMU's, entry for entry.
    const [major, minor] = qemu.version.split('.').map(Number) as [number, number];
    const recording = loadSchemaRecording(major, minor);
    expect(real.entries.size).toBe(recording.schema.length);
    expect(real.commands).toEqual(recording.commands);
    for (const entry of recording.schema) expect(real.entries.get(entry.name)).toBe(formatQemuJson(entry));
    for (const [name, text] of simulated.entries) expect(text).toBe(real.entries.get(name));
    for (const name of simulated.commands) expect(real.commands).toContain(name);
  });
});

/** nicmig's client given text QEMU cannot parse: the id-less error fails what is in flight at once. */
async function unparsedThroughClient(target: ConformanceTarget): Promise<string[]> {
  const vm = await target.start({ name: 'vm1', paused: true });
  // Deadlines far away: the failures must come from QEMU's reply, not from a timer.
  const client = await vm.connect({ commandTimeoutMs: 600_000 });
  const started = performance.now();
  const raw = await client.executeRaw('{"execute": foo}').catch((error: unknown) => error);
  const lines = [`raw: ${(raw as QmpCommandError).errorClass}: ${(raw as QmpCommandError).desc}`];
  // A command in flight behind text QEMU cannot read: nobody can tell which reply is whose.
  const [status, broken] = await Promise.all([
    client.execute('query-status').catch((error: unknown) => error),
    client.executeRaw('{"execute": "query-status", "id": 1}}').catch((error: unknown) => error),
  ]);
  lines.push(`query-status in flight: ${status instanceof Error ? 'failed' : 'ok'}; raw with a stray brace: ${(broken as QmpCommandError).desc}`);
  lines.push(`still usable: ${JSON.stringify(await client.execute('query-name'))}`);
  lines.push(`settled without waiting for a deadline: ${performance.now() - started < 30_000}`);
  return lines;
}

describe.each(SIM_QEMU_VERSIONS.map((version) => [version]))("the client's raw path on the simulator (as QEMU %s)", (version) => {
  it('fails a command QEMU cannot parse at once, with its parse error', async () => {
    const lines = await unparsedThroughClient(track(new SimTarget(version)));
    expect(lines[0]).toBe("raw: GenericError: JSON parse error, invalid keyword 'foo'");
  });
});

describeEachQemu("the client's raw path against real QEMU", (qemu) => {
  it(`QEMU ${qemu.version}: fails a command QEMU cannot parse at once, with its parse error, as on the simulator`, async () => {
    const real = await unparsedThroughClient(track(new QemuTarget(qemu)));
    expect(real[0]).toBe("raw: GenericError: JSON parse error, invalid keyword 'foo'");
    expect(real.at(-1)).toBe('settled without waiting for a deadline: true');
    expect(await unparsedThroughClient(track(simulating(qemu)))).toEqual(real);
  });
});
