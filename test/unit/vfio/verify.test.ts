import { describe, expect, it } from '@jest/globals';
import { parseCapture } from '../../../src/vfio/capture.js';
import { defaultDestinationFacts } from '../../../src/vfio/facts.js';
import { checkCompatibility } from '../../../src/vfio/plan.js';
import { reduceCapture } from '../../../src/vfio/reduce.js';
import { buildRuntimeCapture } from '../../../src/vfio/sample-captures.js';
import { cloneVfState, type VfState } from '../../../src/vfio/state.js';
import { compareStates } from '../../../src/vfio/verify.js';

const source = (): VfState => reduceCapture(parseCapture(buildRuntimeCapture()).records).state;

describe('compareStates', () => {
  it('finds no difference between a state and its copy with another VSI id', () => {
    const a = source();
    const b = cloneVfState(a);
    if (b.resources) b.resources.vsiId = 99;
    expect(compareStates(a, b)).toEqual([]);
  });

  it('names a missing MAC filter, an extra VLAN and a changed ring in plain words', () => {
    const a = source();
    const b = cloneVfState(a);
    b.macs.delete('33:33:00:00:00:01');
    b.vlans.add(7);
    const pair = b.queuePairs.get(2);
    if (pair) pair.rx = { ...pair.rx, ringLen: 1024 };
    b.promisc = { unicast: true, multicast: false };
    b.enabledQueues = { rx: 0b1111, tx: 0b0111 };
    const messages = compareStates(a, b).map((d) => d.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        'MAC filter 33:33:00:00:00:01 (extra) is missing on the destination',
        'VLAN filter 7 is on the destination but not on the source',
        'RX queue 2: ringLen is 1024 on the destination, 512 on the source',
        'unicast promiscuous mode is on on the destination, off on the source',
        'enabled RX queues are 0, 1, 2, 3 on the destination, 0, 1, 2 on the source',
      ]),
    );
    expect(compareStates(a, b)).toHaveLength(5);
    expect(compareStates(a, b).find((d) => d.field === 'macs.33:33:00:00:00:01')).toMatchObject({ source: 'extra', destination: null });
  });
});

describe('checkCompatibility', () => {
  it('accepts the runtime state on a current untrusted i40e VF', () => {
    expect(checkCompatibility(source(), defaultDestinationFacts())).toEqual([]);
  });

  it('lists every reason a destination cannot take the state', () => {
    const state = source();
    state.promisc = { unicast: false, multicast: true };
    const reasons = checkCompatibility(state, defaultDestinationFacts({ maxMacFilters: 2, maxVlanFilters: 1, portVlan: 10, numQueuePairs: 2, apiVersion: { major: 1, minor: 0 } }));
    expect(reasons).toEqual([
      'the guest driver negotiated virtchnl 1.1; the destination PF speaks only 1.0',
      'the VF has 4 queue pairs; the destination VF can have at most 2',
      // i40e grants VLAN only to a VF without a port VLAN (i40e_vc_get_vf_resources_msg)
      'the destination PF (xl710) would not grant capabilities VLAN that the guest was given for the same request',
      'the VF holds 3 MAC filters; an untrusted VF on the destination may hold 2 (set trust on, or raise the limit)',
      'the VF holds 2 VLAN filters; an untrusted VF on the destination may hold 1 (set trust on)',
      "the destination VF has port VLAN 10, which refuses the guest's 2 VLAN filters",
      'the source PF applied multicast promiscuous mode (a trusted VF); an untrusted destination VF would answer the request and apply nothing',
    ]);
  });

  it('a trusted destination lifts the filter and promiscuous limits', () => {
    const state = source();
    state.promisc = { unicast: true, multicast: true };
    expect(checkCompatibility(state, defaultDestinationFacts({ trusted: true, maxMacFilters: 1, maxVlanFilters: 1 }))).toEqual([]);
  });

  it('refuses a host-set MAC on an untrusted destination that differs from the guest primary', () => {
    expect(checkCompatibility(source(), defaultDestinationFacts({ hostMac: '52:54:00:00:00:99' }))).toEqual([
      'the destination host set the VF\'s MAC to 52:54:00:00:00:99; an untrusted VF cannot use unicast MAC 02:00:00:00:00:01',
    ]);
  });
});
