import { describe, expect, it } from '@jest/globals';
import { bridgesCommand, parseBridges, parseLinkShow, tapAddCommand, tapAttachCommand, tapDeleteCommand, tapMac } from '../../../src/hosts/taps.js';

describe('tap commands', () => {
  const tap = { ifname: 'vm1-net0', bridge: 'br0' };

  it("in the host's network namespace when it has one, else on this machine", () => {
    expect(tapAddCommand(tap, 'nsa')).toEqual(['ip', '-n', 'nsa', 'tuntap', 'add', 'dev', 'vm1-net0', 'mode', 'tap']);
    expect(tapAttachCommand(tap, 'nsa')).toEqual(['ip', '-n', 'nsa', 'link', 'set', 'dev', 'vm1-net0', 'master', 'br0', 'up']);
    expect(tapDeleteCommand('vm1-net0', 'nsa')).toEqual(['ip', '-n', 'nsa', 'link', 'del', 'dev', 'vm1-net0']);
    expect(tapAddCommand(tap)).toEqual(['ip', 'tuntap', 'add', 'dev', 'vm1-net0', 'mode', 'tap']);
    expect(bridgesCommand()).toEqual(['ip', '-j', 'link', 'show', 'type', 'bridge']);
  });

  it("gives the tap the guest's MAC with the first byte 0xfe, so that the bridge never takes the tap's MAC as its own", () => {
    expect(tapMac('52:54:00:C0:FF:EE')).toBe('fe:54:00:c0:ff:ee');
    expect(tapAttachCommand({ ...tap, mac: '52:54:00:c0:ff:ee' }, 'nsa')).toEqual(['ip', '-n', 'nsa', 'link', 'set', 'dev', 'vm1-net0', 'address', 'fe:54:00:c0:ff:ee', 'master', 'br0', 'up']);
  });

  it("reads ip's JSON: a tap with its bridge, a plain link, the bridges", () => {
    const tapJson = JSON.stringify([{ ifname: 'vm1-net0', flags: ['NO-CARRIER', 'BROADCAST', 'UP'], master: 'br0', linkinfo: { info_kind: 'tun', info_data: { type: 'tap', pi: false } } }]);
    expect(parseLinkShow(tapJson)).toEqual({ ifname: 'vm1-net0', kind: 'tun', tunType: 'tap', master: 'br0', up: true });
    expect(parseLinkShow(JSON.stringify([{ ifname: 'eth0', flags: ['BROADCAST'] }]))).toEqual({ ifname: 'eth0', kind: undefined, tunType: undefined, master: undefined, up: false });
    expect(parseLinkShow('[]')).toBeUndefined();
    expect(parseBridges(JSON.stringify([{ ifname: 'br0' }, { ifname: 'virbr0' }]))).toEqual(['br0', 'virbr0']);
  });
});
