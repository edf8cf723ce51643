import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseCapture } from '../../../src/vfio/capture.js';
import { stateToJson } from '../../../src/vfio/json.js';
import { capabilityNames, Op, Status } from '../../../src/vfio/opcodes.js';
import { reduceCapture } from '../../../src/vfio/reduce.js';
import { compareStates } from '../../../src/vfio/verify.js';
import type { I40evfDevice } from '../../../src/sim/i40e/device.js';
import { detachAfterEach, makePf, plug, type Plugged } from './helpers.js';

const plugged = detachAfterEach();

function track(p: Plugged): Plugged {
  plugged.push(p);
  return p;
}

/** The admin log as nicmig reads it: capture bytes, parsed and reduced. */
function reducedLog(device: I40evfDevice) {
  const parsed = parseCapture(device.vf.capture().bytes);
  expect(parsed.error).toBeNull();
  return reduceCapture(parsed.records);
}

describe('the guest iavf driver brings a VF up', () => {
  it('with the iavf message sequence, and the capture reduces to what the PF holds', () => {
    const pf = makePf('hostA', 16);
    const { device } = track(plug(pf, { mac: '52:54:00:00:00:01' }));
    device.guest?.bringUp();

    const opcodes = parseCapture(device.vf.capture().bytes).records.filter((r) => r.direction === 0).map((r) => r.descriptor.cookieHigh);
    expect(opcodes).toEqual([
      Op.VERSION,
      Op.GET_VF_RESOURCES,
      Op.ADD_ETH_ADDR,
      Op.CONFIG_IRQ_MAP,
      Op.CONFIG_VSI_QUEUES,
      Op.ENABLE_QUEUES,
      Op.GET_RSS_HENA_CAPS,
      Op.SET_RSS_HENA,
      Op.CONFIG_RSS_KEY,
      Op.CONFIG_RSS_LUT,
    ]);
    expect(device.guest?.stats.refused).toBe(0);
    const reduced = reducedLog(device);
    expect(compareStates(reduced.state, device.vf.state)).toEqual([]);
    expect(stateToJson(reduced.state)).toEqual(stateToJson(device.vf.state));
    const json = stateToJson(device.vf.state);
    expect(json.vsiId).toBe(16);
    expect(json.macs).toEqual([{ addr: '52:54:00:00:00:01', type: 'primary' }]);
    expect(json.enabledQueues).toEqual({ rx: 3, tx: 3 });
    expect(device.status()).toBe('active');
  });

  it('keeps log and PF state equal through MAC, VLAN and promiscuous changes and a guest reset', () => {
    const pf = makePf('hostA', 16);
    const { device } = track(plug(pf, { trust: true }));
    const guest = device.guest!;
    guest.bringUp();
    expect(guest.addMacs(['33:33:00:00:00:01', '01:00:5e:00:00:fb'])).toBe(Status.SUCCESS);
    expect(guest.addVlans([100, 200, 300])).toBe(Status.SUCCESS);
    expect(guest.delVlans([200])).toBe(Status.SUCCESS);
    expect(guest.setPromisc(true, true)).toBe(Status.SUCCESS);
    expect(guest.setMac('02:aa:00:00:00:02')).toBe(Status.SUCCESS);
    expect(guest.addVlans([4096])).toBe(Status.ERR_PARAM); // refused by the PF: above 4095
    guest.setVlanStripping(true);
    guest.resetVf(); // iavf re-inits and re-adds what it had
    guest.getStats();
    const reduced = reducedLog(device);
    expect(compareStates(reduced.state, device.vf.state)).toEqual([]);
    const json = stateToJson(device.vf.state);
    expect(json.macs.map((m) => m.addr).sort()).toEqual(['01:00:5e:00:00:fb', '02:aa:00:00:00:02', '33:33:00:00:00:01']);
    expect(json.vlans).toEqual([100, 300]);
    expect(json.promisc).toEqual({ unicast: true, multicast: true });
    expect(device.vf.log.resets).toBe(1);
  });

  it('after a PF reset the VF reads as reset, yet the PF keeps its version: GET_VF_RESOURCES alone brings it back, as Linux iavf does', () => {
    const pf = makePf('hostA', 16);
    const { device } = track(plug(pf));
    device.guest!.bringUp();
    device.vf.pfReset();
    expect(device.status()).toBe('reset');
    expect(device.vf.state.vfVersion).toEqual({ major: 1, minor: 1 });
    const caps = Buffer.alloc(4);
    caps.writeUInt32LE(0x1);
    expect(device.vf.request(Op.GET_VF_RESOURCES, caps).status).toBe(Status.SUCCESS);
    expect(device.status()).toBe('active');
  });

  it('an untrusted VF hits the PF kernel limit that this host configures', () => {
    const pf = makePf('hostOld', 16, { maxMacFilters: 8, maxVlanFilters: 8 });
    const { device } = track(plug(pf));
    const guest = device.guest!;
    guest.bringUp();
    expect(guest.addVlans([1, 2, 3, 4, 5, 6, 7, 8])).toBe(Status.SUCCESS);
    expect(guest.addVlans([9])).toBe(Status.ERR_PARAM);
    const macs = Array.from({ length: 8 }, (_, i) => `33:33:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`);
    expect(guest.addMacs(macs)).toBe(Status.ERR_PARAM); // 1 primary + 8 > 8
    expect(guest.setPromisc(true, false)).toBe(Status.SUCCESS); // acknowledged, ignored: untrusted
    expect(device.vf.state.promisc.unicast).toBe(false);
    expect(compareStates(reducedLog(device).state, device.vf.state).filter((d) => !d.field.startsWith('promisc'))).toEqual([]);
  });

  it('property: any script of guest changes leaves the reduced log equal to the PF state', () => {
    const action = fc.oneof(
      fc.record({ kind: fc.constant('vlan-add' as const), ids: fc.array(fc.integer({ min: 1, max: 4100 }), { minLength: 1, maxLength: 4 }) }),
      fc.record({ kind: fc.constant('vlan-del' as const), ids: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 3 }) }),
      fc.record({ kind: fc.constant('mc-add' as const), n: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ kind: fc.constant('mac' as const), n: fc.integer({ min: 1, max: 200 }) }),
      fc.record({ kind: fc.constant('promisc' as const), uc: fc.boolean(), mc: fc.boolean() }),
      fc.record({ kind: fc.constant('strip' as const), on: fc.boolean() }),
      fc.constant({ kind: 'reset' as const }),
      fc.constant({ kind: 'pf-reset' as const }),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(action, { maxLength: 12 }), (trust, script) => {
        const pf = makePf('hostA', 16);
        const p = plug(pf, { trust });
        try {
          const guest = p.device.guest!;
          guest.bringUp();
          for (const a of script) {
            if (a.kind === 'vlan-add') guest.addVlans(a.ids);
            else if (a.kind === 'vlan-del') guest.delVlans(a.ids);
            else if (a.kind === 'mc-add') guest.addMacs(Array.from({ length: a.n }, (_, i) => `01:00:5e:00:01:${i.toString(16).padStart(2, '0')}`));
            else if (a.kind === 'mac') guest.setMac(`02:00:00:00:01:${a.n.toString(16).padStart(2, '0')}`);
            else if (a.kind === 'promisc') guest.setPromisc(a.uc, a.mc);
            else if (a.kind === 'strip') guest.setVlanStripping(a.on);
            else if (a.kind === 'reset') guest.resetVf();
            else {
              p.device.vf.pfReset();
              guest.poll(); // the driver sees RESET_IMPENDING and re-inits
            }
          }
          const reduced = reducedLog(p.device);
          // an untrusted VF's promiscuous request is acknowledged and ignored: the log cannot tell (docs/vf-state.md)
          const differences = compareStates(reduced.state, p.device.vf.state).filter((d) => trust || !d.field.startsWith('promisc'));
          expect(differences).toEqual([]);
          expect(reduced.counters.malformed).toBe(0);
        } finally {
          p.device.detach();
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('the simulated PF grants what i40e grants on its device family', () => {
  it.each([
    ['xl710', ['ADV_LINK_SPEED', 'L2', 'REQ_QUEUES', 'RSS_PF', 'RX_POLLING', 'VLAN']],
    ['x722', ['ADV_LINK_SPEED', 'L2', 'REQ_QUEUES', 'RSS_PCTYPE_V2', 'RSS_PF', 'RX_POLLING', 'VLAN', 'WB_ON_ITR']],
  ] as const)('%s', (device, granted) => {
    const { device: vf } = track(plug(makePf('hostA', 16, { device }), { mac: '52:54:00:00:00:01' }));
    vf.guest?.bringUp();
    expect(capabilityNames(vf.vf.state.resources?.capFlags ?? 0).sort()).toEqual([...granted]);
    expect(vf.guest?.stats.refused).toBe(0);
  });

  it('a port VLAN takes VLAN away', () => {
    const { device } = track(plug(makePf('hostA', 16), { mac: '52:54:00:00:00:01', vlan: 5 }));
    device.guest?.bringUp();
    expect(capabilityNames(device.vf.state.resources?.capFlags ?? 0)).not.toContain('VLAN');
  });
});
