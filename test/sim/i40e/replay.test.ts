import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCapture } from '../../../src/vfio/capture.js';
import { Op, Status } from '../../../src/vfio/opcodes.js';
import { planReplay } from '../../../src/vfio/plan.js';
import { reduceCapture } from '../../../src/vfio/reduce.js';
import { compareStates } from '../../../src/vfio/verify.js';
import { KERNEL_LIMITS } from '../../../src/sim/i40e/pf.js';
import { detachAfterEach, GUEST_MAC, makePf, plug, probe } from './helpers.js';

const MAC = GUEST_MAC;
const plugged = detachAfterEach();

/**
 * The switchover without QEMU: source guest up with traffic, quiesce, the RAM and the device
 * section to the destination, reduce + plan against the destination VF's facts.
 */
function migrate(options: { vlans: number[]; destTrust: boolean; planTrust?: boolean }) {
  const pfA = makePf('hostA', 16);
  const pfB = makePf('hostB', 64, KERNEL_LIMITS.older);
  const source = plug(pfA, { mac: MAC, trust: true }, {}, 'vm1');
  plugged.push(source);
  const guest = source.device.guest!;
  guest.bringUp();
  guest.addMacs(['33:33:00:00:00:01']);
  guest.addVlans(options.vlans);
  guest.setPromisc(false, true);
  for (let s = 0; s < 45; s++) {
    pfA.fromWire(probe(s));
    if (s % 10 === 9) guest.poll();
  }
  guest.poll();
  const quiesced = source.device.vf.quiesce();
  const section = source.device.saveState();

  const dest = plug(pfB, { mac: MAC, trust: options.destTrust }, {}, 'vm1-incoming');
  plugged.push(dest);
  dest.vm.ram.bytes.set(source.vm.ram.bytes); // the migration stream's job
  dest.device.loadState(section);

  const reduced = reduceCapture(parseCapture(source.device.vf.capture().bytes).records).state;
  const facts = dest.device.vf.facts();
  const plan = planReplay(reduced, { ...facts, trusted: options.planTrust ?? facts.trusted });
  return { pfA, pfB, source, dest, quiesced, reduced, plan };
}

describe('replay onto another host’s VF', () => {
  it('rebuilds the state on a VF with another VSI and other limits; the verify finds nothing; the guest continues', () => {
    const { pfB, source, dest, quiesced, reduced, plan } = migrate({ vlans: [10, 20, 30], destTrust: true });
    expect(dest.device.status()).toBe('awaiting-replay');
    expect(dest.device.vf.vsiId).toBe(64);
    expect(reduced.resources?.vsiId).toBe(16);

    const { results, completed } = dest.device.replay(plan.map((m) => ({ opcode: m.opcode, payload: m.payload })));
    expect(completed).toBe(true);
    expect(results.every((r) => r.status === Status.SUCCESS)).toBe(true);
    expect(compareStates(source.device.vf.state, dest.device.vf.state)).toEqual([]);
    expect(dest.device.vf.state.resources?.vsiId).toBe(64);
    // the replay's replies did not reach the guest, and its events neither
    expect(dest.device.guest?.stats.bringUps).toBe(0);

    expect(dest.device.restoreRings(quiesced.positions)).toEqual(quiesced.positions);
    dest.device.onRunStateChange('running', true); // cont
    expect(dest.device.vf.quiesced).toBe(false);
    const guest = dest.device.guest!;
    expect(guest.vsiId).toBe(16); // the guest still believes in the source's VSI
    for (let s = 45; s < 60; s++) pfB.fromWire(probe(s));
    expect(guest.poll()).toBe(15);
    expect(guest.stats.rxProbes).toBe(15);
    expect(dest.device.vf.counters.txPackets).toBe(15);
    // and its later requests, with vsi 16, reach the PF as vsi 64
    expect(guest.addVlans([40])).toBe(Status.SUCCESS);
    expect(dest.device.vf.state.vlans.has(40)).toBe(true);
  });

  it('reports what the destination PF refused, and the verify names the differences', () => {
    const vlans = Array.from({ length: 10 }, (_, i) => 100 + i);
    // facts the orchestrator believed (trusted) differ from the PF's (untrusted, older kernel: 8 VLANs)
    const { source, dest, plan } = migrate({ vlans, destTrust: false, planTrust: true });
    const { results, completed } = dest.device.replay(plan.map((m) => ({ opcode: m.opcode, payload: m.payload })));
    expect(completed).toBe(false);
    const last = results.at(-1)!;
    expect(last.opcode).toBe(Op.ADD_VLAN);
    expect(last.status).toBe(Status.ERR_PARAM);
    expect(dest.device.status()).toBe('awaiting-replay');
    const differences = compareStates(source.device.vf.state, dest.device.vf.state);
    expect(differences.map((d) => d.field)).toEqual(expect.arrayContaining(['vlans.100', 'enabledQueues.rx']));
  });

  it('carries registers and ring positions in the device section, never the PF configuration', () => {
    const { dest, source, quiesced } = migrate({ vlans: [], destTrust: true });
    const section = JSON.parse(Buffer.from(source.device.saveState()).toString('utf8')) as Record<string, unknown>;
    expect(Object.keys(section).sort()).toEqual(['format', 'guestVsiId', 'id', 'registers', 'rings']);
    expect(dest.device.vf.state.active).toBe(false);
    expect(dest.device.vf.state.macs.size).toBe(0);
    expect(dest.device.streamRings).toEqual(quiesced.positions);
    expect(() => dest.device.loadState(Buffer.from('{"format":"other"}'))).toThrow(/unknown device section format/);
  });
});

describe('the captures of current drivers replay onto a simulated destination VF', () => {
  // The destination as prepare leaves it: another host's PF (default limits, untrusted VF),
  // the source's MAC set by the host; the guest driver on it stopped.
  it.each([
    ['linux-6.1-iavf.cap', 'fa:16:3e:5d:2a:71'],
    ['linux-6.12-iavf.cap', 'fa:16:3e:5d:2a:71'],
    ['dpdk-24.11-iavf.cap', 'fa:16:3e:0c:91:4e'],
  ])('%s: every planned message accepted through the vfio-i40evf replay, the read-back equals the source state', (name, mac) => {
    const { records, error } = parseCapture(readFileSync(join(process.cwd(), 'fixtures/captures', name)));
    expect(error).toBeNull();
    const source = reduceCapture(records, { sourceTrusted: false }).state; // their headers: an untrusted VF
    const dest = plug(makePf('hostB', 64), { mac, trust: false }, {}, 'vm1-incoming');
    plugged.push(dest);
    const plan = planReplay(source, dest.device.vf.facts());
    const { results, completed } = dest.device.replay(
      plan.map((m) => ({ opcode: m.opcode, payload: m.payload })),
      source.resources?.vsiId,
    );
    expect(results.filter((r) => r.status !== Status.SUCCESS).map((r) => `${r.name} ${r.statusName}`)).toEqual([]);
    expect(completed).toBe(true);
    expect(compareStates(source, dest.device.vf.state)).toEqual([]);
    expect(dest.device.vf.state.resources?.vsiId).toBe(64);
    expect(dest.device.status()).toBe('active');
  });
});
