import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCapture } from '../../../src/vfio/capture.js';
import { defaultDestinationFacts } from '../../../src/vfio/facts.js';
import { stateToJson } from '../../../src/vfio/json.js';
import { Op } from '../../../src/vfio/opcodes.js';
import { planReplay } from '../../../src/vfio/plan.js';
import { reduceCapture } from '../../../src/vfio/reduce.js';
import { buildFixtureCaptures } from '../../../src/vfio/sample-captures.js';

const dir = join(process.cwd(), 'fixtures/captures');
const fixture = (name: string): Buffer => readFileSync(join(dir, name));

describe('committed capture fixtures', () => {
  it.each(Object.entries(buildFixtureCaptures()))('%s equals what the builder produces now (node scripts/build-captures.js)', (name, bytes) => {
    expect(fixture(name).equals(bytes)).toBe(true);
  });
});

describe('iavf-runtime.cap reduced', () => {
  const reduction = reduceCapture(parseCapture(fixture('iavf-runtime.cap')).records);
  const json = stateToJson(reduction.state, reduction.counters);

  it('ends with the filters set after the reset, not those before it', () => {
    expect(json.macs).toEqual([
      { addr: '02:00:00:00:00:01', type: 'primary' },
      { addr: '33:33:00:00:00:01', type: 'extra' },
      { addr: '33:33:ff:a1:b2:c3', type: 'extra' },
    ]);
    expect(json.vlans).toEqual([100, 200]);
    expect(json.promisc).toEqual({ unicast: false, multicast: false });
    expect(json.vlanStripping).toBe(false);
  });

  it('keeps queue 3 configured but disabled', () => {
    expect(json.queuePairs.map((q) => q.queueId)).toEqual([0, 1, 2, 3]);
    expect(json.queuePairs[0]?.tx).toMatchObject({ ringLen: 512, dmaRingAddr: '0x0000000123400000' });
    expect(json.queuePairs[0]?.rx).toMatchObject({ ringLen: 512, databufferSize: 3072, maxPktSize: 1526, dmaRingAddr: '0x0000000123408000' });
    expect(json.enabledQueues).toEqual({ rx: 0b0111, tx: 0b0111 });
  });

  it('counts the refused request, the reset and the events', () => {
    // rejected: the ADD_VLAN 4096, and CONFIG_RSS_HFUNC, which i40e does not implement
    expect(json.counters).toMatchObject({ rejected: 2, resets: 1, events: 4, unanswered: 0, unmatchedReplies: 0, malformed: 0 });
    expect(json.rss).toMatchObject({ hena: '0x0000000000007ff8', hfunc: null });
    expect(json.rss.key).toHaveLength(104);
  });

  it('plans fewer messages than the log since the reset, ENABLE_QUEUES last and rewritten to the new VSI', () => {
    const plan = planReplay(reduction.state, defaultDestinationFacts({ vsiId: 42 }));
    expect(plan.map((m) => m.name)).toEqual([
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
    expect(plan.at(-1)?.payload.readUInt16LE(0)).toBe(42);
    expect(plan.find((m) => m.opcode === Op.ADD_ETH_ADDR)?.payload.readUInt16LE(0)).toBe(42);
    expect(plan.length).toBeLessThan(reduction.counters.appliedSinceReset);
  });
});

describe('request-queues.cap reduced', () => {
  const { state, counters } = reduceCapture(parseCapture(fixture('request-queues.cap')).records);

  it('keeps the granted 8 queue pairs across the resets and ignores the refused request', () => {
    expect(state.resources?.numQueuePairs).toBe(8);
    expect(state.requestedQueuePairs).toBe(8);
    expect(counters.resets).toBe(2);
    expect([...state.vlans]).toEqual([42]);
  });

  it('plans REQUEST_QUEUES and a second handshake for a destination whose default is 4', () => {
    const plan = planReplay(state, defaultDestinationFacts({ vsiId: 5, numQueuePairs: 16, defaultQueuePairs: 4, maxVectors: 9 }));
    expect(plan.slice(0, 5).map((m) => m.name)).toEqual(['VERSION', 'GET_VF_RESOURCES', 'REQUEST_QUEUES', 'VERSION', 'GET_VF_RESOURCES']);
    expect(plan[2]?.payload.readUInt16LE(0)).toBe(8);
  });
});

describe('truncated.cap', () => {
  it('reports record 20 at byte 1664 and keeps the 20 records before it', () => {
    const { records, error } = parseCapture(fixture('truncated.cap'), { file: 'truncated.cap' });
    expect(records).toHaveLength(20);
    expect(error?.code).toBe('CAPTURE_TRUNCATED');
    expect(error?.details).toMatchObject({ file: 'truncated.cap', recordIndex: 20, offset: 1664 });
  });
});
