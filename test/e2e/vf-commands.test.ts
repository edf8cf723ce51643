import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';

jest.setTimeout(60_000);

const fixtures = join(process.cwd(), 'fixtures/captures');
const runtime = join(fixtures, 'iavf-runtime.cap');
const truncated = join(fixtures, 'truncated.cap');

describe('nicmig vf decode', () => {
  it('prints one line per record with direction, opcode and the PF status, and exits 0', async () => {
    const result = await runCli(['vf', 'decode', runtime]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(77);
    expect(lines[0]).toMatch(/^\s+0\s+\+0\.000000s\s+VF->PF\s+VERSION\s+version=\{"major":1,"minor":1\}$/);
    expect(lines[32]).toMatch(/PF->VF\s+ADD_VLAN ERR_PARAM$/);
    expect(lines.filter((l) => l.includes('RESET_VF'))).toHaveLength(1);
  });

  it('--json gives records with decoded fields and 64-bit values as hex strings', async () => {
    const result = await runCli(['vf', 'decode', runtime, '--json']);
    expect(result.code).toBe(0);
    const doc = JSON.parse(result.stdout) as { records: Array<Record<string, unknown>> };
    expect(doc.records).toHaveLength(77);
    expect(doc.records[31]).toMatchObject({ index: 31, direction: 'vf-to-pf', name: 'ADD_VLAN', status: null, fields: { vsiId: 17, vlanIds: [4096] } });
    expect(doc.records[32]).toMatchObject({ direction: 'pf-to-vf', name: 'ADD_VLAN', status: -5, statusName: 'ERR_PARAM' });
    expect(doc.records[14]).toMatchObject({ name: 'SET_RSS_HENA', fields: { hena: '0x0000000000007ff8' } });
  });

  it('on a truncated capture prints the records before the damage, then fails with exit 4 naming record and offset', async () => {
    const result = await runCli(['vf', 'decode', truncated]);
    expect(result.code).toBe(4);
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(20);
    expect(result.stderr).toContain('truncated.cap, record 20, byte offset 1664');
    expect(result.stderr).toContain('[CAPTURE_TRUNCATED]');

    const json = await runCli(['vf', 'decode', truncated, '--json']);
    expect(json.code).toBe(4);
    const doc = JSON.parse(json.stdout) as { status: string; records: unknown[]; error: { code: string; details: Record<string, unknown> } };
    expect(doc.status).toBe('error');
    expect(doc.records).toHaveLength(20);
    expect(doc.error).toMatchObject({ code: 'CAPTURE_TRUNCATED', details: { recordIndex: 20, offset: 1664 } });
  });
});

describe('nicmig vf state', () => {
  it('--json gives the documented state of the runtime capture', async () => {
    const result = await runCli(['vf', 'state', runtime, '--json']);
    expect(result.code).toBe(0);
    const state = JSON.parse(result.stdout);
    expect(state).toMatchObject({
      version: { major: 1, minor: 1 },
      vsiId: 17,
      macs: [
        { addr: '02:00:00:00:00:01', type: 'primary' },
        { addr: '33:33:00:00:00:01', type: 'extra' },
        { addr: '33:33:ff:a1:b2:c3', type: 'extra' },
      ],
      vlans: [100, 200],
      promisc: { unicast: false, multicast: false },
      enabledQueues: { rx: 7, tx: 7 },
      rss: { hena: '0x0000000000007ff8' },
      counters: { rejected: 2, resets: 1 }, // ADD_VLAN 4096 and CONFIG_RSS_HFUNC (i40e does not implement it)
    });
    expect(state.queuePairs).toHaveLength(4);
    expect(state.queuePairs[1].tx).toEqual({ queueId: 1, ringLen: 512, headwbEnabled: 0, dmaRingAddr: '0x0000000123410000', dmaHeadwbAddr: '0x0000000000000000' });
    expect(state.irqMap).toHaveLength(5);
    expect(state.rss.lut).toHaveLength(128);
  });

  it('--explain lists the requests that changed nothing, with the reason', async () => {
    const text = await runCli(['vf', 'state', runtime, '--explain']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/not applied {2}2 requests\n {2}record 31 ADD_VLAN: ERR_PARAM: .*\n {2}record 73 CONFIG_RSS_HFUNC: ERR_NOT_SUPPORTED: /);
    const json = await runCli(['vf', 'state', runtime, '--explain', '--json']);
    const doc = JSON.parse(json.stdout) as { rejections: Array<{ recordIndex: number; name: string; status: number }> };
    expect(doc.rejections.map((r) => [r.recordIndex, r.name, r.status])).toEqual([
      [31, 'ADD_VLAN', -5],
      [73, 'CONFIG_RSS_HFUNC', -64],
    ]);
  });

  it('refuses a truncated capture with exit 4 unless --partial', async () => {
    const refused = await runCli(['vf', 'state', truncated, '--json']);
    expect(refused.code).toBe(4);
    expect(JSON.parse(refused.stdout).error).toMatchObject({ code: 'CAPTURE_TRUNCATED', details: { recordIndex: 20 } });
    const partial = await runCli(['vf', 'state', truncated, '--partial', '--json']);
    expect(partial.code).toBe(0);
    expect(JSON.parse(partial.stdout).counters.messages).toBe(20);
    expect(partial.stderr).toMatch(/warning: .*record 20/);
  });

  it('a missing file exits 4 with CAPTURE_NOT_FOUND naming the file', async () => {
    const result = await runCli(['vf', 'state', join(fixtures, 'no-such.cap')]);
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('no-such.cap: no such capture file [CAPTURE_NOT_FOUND]');
  });
});

describe('nicmig vf plan', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nicmig-vf-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('--json lists the messages with the destination vsi id, shorter than the whole-log replay', async () => {
    const result = await runCli(['vf', 'plan', runtime, '--vsi-id', '42', '--json']);
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout) as { messages: Array<{ opcode: number; name: string; length: number; payload: string }>; stateSize: number; historyLength: number };
    expect(plan.messages.map((m) => m.name)).toEqual([
      'VERSION',
      'GET_VF_RESOURCES',
      'CONFIG_VSI_QUEUES',
      'CONFIG_IRQ_MAP',
      'ADD_ETH_ADDR',
      'ADD_VLAN',
      'CONFIG_RSS_KEY',
      'CONFIG_RSS_LUT',
      'SET_RSS_HENA',
      'DISABLE_VLAN_STRIPPING',
      'ENABLE_QUEUES',
    ]);
    for (const m of plan.messages) expect(m.payload.length).toBe(2 * m.length);
    const addVlan = plan.messages.find((m) => m.name === 'ADD_VLAN');
    expect(addVlan?.payload).toBe('2a000200' + '6400' + 'c800' + '0000');
    expect(plan.historyLength).toBeGreaterThan(plan.messages.length);
    expect(plan.stateSize).toBe(19); // CONFIG_RSS_HFUNC is refused by i40e: no hash function in the state
  });

  it('refuses a destination that cannot hold the state with exit 10 and every reason', async () => {
    const result = await runCli(['vf', 'plan', runtime, '--max-macs', '2', '--port-vlan', '5', '--json']);
    expect(result.code).toBe(10);
    const error = JSON.parse(result.stdout).error;
    expect(error.code).toBe('VF_INCOMPATIBLE_DESTINATION');
    expect(error.details.reasons).toEqual([
      // i40e grants VLAN only to a VF without a port VLAN
      'the destination PF (xl710) would not grant capabilities VLAN that the guest was given for the same request',
      'the VF holds 3 MAC filters; an untrusted VF on the destination may hold 2 (set trust on, or raise the limit)',
      "the destination VF has port VLAN 5, which refuses the guest's 2 VLAN filters",
    ]);
  });

  it('plans a current Linux guest (iavf 6.12 capabilities) for a default XL710 destination', async () => {
    const result = await runCli(['vf', 'plan', join(fixtures, 'iavf-linux-6.12.cap'), '--json']);
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout) as { messages: Array<{ name: string }> };
    expect(plan.messages.map((m) => m.name).at(-1)).toBe('ENABLE_QUEUES');
  });

  it('a file that is not a capture fails with CAPTURE_BAD_MAGIC', async () => {
    const file = join(dir, 'not-a-capture.cap');
    writeFileSync(file, readFileSync(runtime).subarray(4));
    const result = await runCli(['vf', 'plan', file]);
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('[CAPTURE_BAD_MAGIC]');
  });
});

describe('nicmig vf on the captures of current drivers (derived from their sources)', () => {
  // The Linux captures end with `ip link set eth0 promisc on` on an untrusted source VF (their
  // headers say so): read that way, the request applied nothing and replays as it was.
  it.each([
    ['linux-6.1-iavf.cap', ['--source-untrusted'], 11],
    ['linux-6.12-iavf.cap', ['--source-untrusted'], 11],
    ['dpdk-24.11-iavf.cap', [], 10],
  ])('%s: decodes, reduces with nothing refused, and plans for a default destination', async (name, flags, planLength) => {
    const file = join(fixtures, name);
    const decoded = await runCli(['vf', 'decode', file, '--json']);
    expect(decoded.code).toBe(0);
    const records = (JSON.parse(decoded.stdout) as { records: Array<{ decodeError: unknown }> }).records;
    expect(records.length).toBeGreaterThan(50);
    expect(records.filter((r) => r.decodeError !== null)).toEqual([]);
    const state = await runCli(['vf', 'state', file, '--explain', ...flags, '--json']);
    expect(state.code).toBe(0);
    expect(JSON.parse(state.stdout)).toMatchObject({ active: true, rejections: [], counters: { rejected: 0, unanswered: 0, malformed: 0 } });
    const plan = await runCli(['vf', 'plan', file, ...flags, '--json']);
    expect(plan.code).toBe(0);
    const messages = (JSON.parse(plan.stdout) as { messages: Array<{ name: string }> }).messages.map((m) => m.name);
    expect(messages).toHaveLength(planLength);
    expect([messages[0], messages.at(-1)]).toEqual(['VERSION', 'ENABLE_QUEUES']);
  });

  it('a Linux capture read as from a trusted VF is refused for an untrusted destination: the promiscuous mode it applied', async () => {
    const result = await runCli(['vf', 'plan', join(fixtures, 'linux-6.12-iavf.cap'), '--json']);
    expect(result.code).toBe(10);
    expect(JSON.parse(result.stdout).error.details.reasons).toEqual([
      'the source PF applied unicast and multicast promiscuous mode (a trusted VF); an untrusted destination VF would answer the request and apply nothing',
    ]);
  });
});
