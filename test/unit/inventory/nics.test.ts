import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '../../../src/errors.js';
import { parseInventory } from '../../../src/inventory/inventory.js';
import { IFNAME_MAX, tapInterfaceName, tapPlan, VmSpecSchema } from '../../../src/inventory/vm-spec.js';

const FILE = '/etc/nicmig/config.yaml';
const MAC = '52:54:00:12:34:56';

function inventory(vm: string[], hosts = ['  hostA: {runDir: /run/a, netns: nsa}', '  hostB: {runDir: /run/b, netns: nsb}']) {
  return parseInventory(['hosts:', ...hosts, 'vms:', ...vm, ''].join('\n'), FILE, {});
}

function failure(vm: string[], hosts?: string[]): ConfigError {
  try {
    inventory(vm, hosts);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('the inventory was accepted');
}

describe('virtio-net netdev: the schema', () => {
  const nic = (netdev: unknown) => VmSpecSchema.parse({ name: 'vm1', memoryMiB: 64, devices: [{ type: 'virtio-net', id: 'net0', mac: MAC, ...(netdev === undefined ? {} : { netdev }) }] }).devices[0];

  it('keeps the string forms user and none, as their object forms; user by default', () => {
    expect(nic('user')).toMatchObject({ netdev: { type: 'user' } });
    expect(nic('none')).toMatchObject({ netdev: { type: 'none' } });
    expect(nic(undefined)).toMatchObject({ netdev: { type: 'user' } });
  });

  it('takes a tap on a bridge (ifname optional) and a bridge by the helper', () => {
    expect(nic({ type: 'tap', bridge: 'br0' })).toMatchObject({ netdev: { type: 'tap', bridge: 'br0' } });
    expect(nic({ type: 'tap', ifname: 'tap-{vm}-{host}', bridge: 'br0' })).toMatchObject({ netdev: { ifname: 'tap-{vm}-{host}' } });
    expect(nic({ type: 'bridge', br: 'br0' })).toMatchObject({ netdev: { type: 'bridge', br: 'br0' } });
  });

  it('parses its own output again (the simulator gets specs over a socket)', () => {
    const spec = VmSpecSchema.parse({ name: 'vm1', memoryMiB: 64, devices: [{ type: 'virtio-net', id: 'net0', mac: MAC, netdev: { type: 'tap', bridge: 'br0' } }] });
    expect(VmSpecSchema.parse(JSON.parse(JSON.stringify(spec)))).toEqual(spec);
  });

  it('names the key of each mistake, in the inventory', () => {
    const error = failure([
      '  - name: vm1',
      '    memoryMiB: 64',
      '    devices:',
      `      - {type: virtio-net, id: net0, mac: "${MAC}", netdev: {type: tap, brige: br0}}`,
      `      - {type: virtio-net, id: net1, mac: "${MAC}", netdev: {type: tap}}`,
      `      - {type: virtio-net, id: net2, mac: "${MAC}", netdev: tapp}`,
      `      - {type: virtio-net, id: net3, mac: "${MAC}", netdev: {type: bridge, br: "br 0"}}`,
      `      - {type: virtio-net, id: net4, mac: "${MAC}", netdev: {type: tap, bridge: br0, ifname: "a,b"}}`,
      `      - {type: virtio-net, id: net5, mac: "${MAC}", netdev: {type: bridge, br: a-bridge-named-long}}`,
    ]);
    expect(error.message).toContain("unknown key 'brige' in vms[0].devices[0].netdev; did you mean 'bridge'?");
    expect(error.message).toContain('vms[0].devices[1].netdev.bridge:');
    expect(error.message).toMatch(/vms\[0\]\.devices\[2\]\.netdev\.type: .*'user' \| 'none' \| 'tap' \| 'bridge'/);
    expect(error.message).toContain('vms[0].devices[3].netdev.br: expected an interface name');
    expect(error.message).toContain('vms[0].devices[4].netdev.ifname: expected an interface name');
    expect(error.message).toContain('vms[0].devices[5].netdev.br: expected an interface name of letters, digits, _ . - (at most 15)');
  });

  it('announce: QEMU-like defaults, QEMU\'s limits', () => {
    expect(VmSpecSchema.parse({ name: 'vm1', memoryMiB: 64 }).announce).toEqual({ send: 'auto', rounds: 5, initialMs: 50, maxMs: 550, stepMs: 100 });
    const error = failure(['  - {name: vm1, memoryMiB: 64, announce: {rounds: 0, stepMs: 0, sned: always}}']);
    expect(error.message).toContain('vms[0].announce.rounds:');
    expect(error.message).toContain('vms[0].announce.stepMs:');
    expect(error.message).toContain("unknown key 'sned' in vms[0].announce; did you mean 'send'?");
  });
});

describe('tap interface names', () => {
  const tap = (ifname?: string) => ({ id: 'net0', netdev: { type: 'tap' as const, bridge: 'br0', ...(ifname === undefined ? {} : { ifname }) } });

  it('expands {host} and {vm} in ifname', () => {
    expect(tapInterfaceName('vm1', tap('t-{vm}-{host}'), 'hB')).toBe('t-vm1-hB');
  });

  it('defaults to <vm>-<id>, and to a hashed short form within 15 characters, the same every time', () => {
    expect(tapInterfaceName('vm1', tap(), 'hostA')).toBe('vm1-net0');
    const long = tapInterfaceName('database-primary', tap(), 'hostA');
    expect(long).toMatch(/^database-[0-9a-f]{6}$/);
    expect(long.length).toBeLessThanOrEqual(IFNAME_MAX);
    expect(tapInterfaceName('database-primary', tap(), 'hostB')).toBe(long);
    expect(tapInterfaceName('database-primary', { ...tap(), id: 'net1' }, 'hostA')).not.toBe(long);
  });

  it('plans one tap per tap NIC, with its bridge and MAC', () => {
    const spec = VmSpecSchema.parse({
      name: 'vm1',
      memoryMiB: 64,
      devices: [
        { type: 'virtio-net', id: 'net0', mac: MAC, netdev: { type: 'tap', bridge: 'br0' } },
        { type: 'virtio-net', id: 'net1', mac: '52:54:00:00:00:02', netdev: 'user' },
        { type: 'virtio-net', id: 'net2', mac: '52:54:00:00:00:03', netdev: { type: 'tap', ifname: '{host}-x', bridge: 'br1' } },
      ],
    });
    expect(tapPlan(spec, 'hostB')).toEqual([
      { device: 'net0', ifname: 'vm1-net0', bridge: 'br0', mac: MAC },
      { device: 'net2', ifname: 'hostB-x', bridge: 'br1', mac: '52:54:00:00:00:03' },
    ]);
  });

  it('refuses an ifname that expands past 15 characters on a host, naming the host', () => {
    const error = failure([`  - {name: vm1, memoryMiB: 64, devices: [{type: virtio-net, id: net0, mac: "${MAC}", netdev: {type: tap, ifname: "tap-{vm}-{host}", bridge: br0}}]}`], [
      '  hostA: {runDir: /run/a, netns: nsa}',
      '  hypervisor-b: {runDir: /run/b, netns: nsb}',
    ]);
    expect(error.message).toContain("vms[0].devices[0].netdev.ifname: on hypervisor-b the tap's name 'tap-vm1-hypervisor-b' is 20 characters; Linux allows 15");
    expect(error.message).not.toContain('on hostA');
  });

  it('refuses one interface for two taps in one namespace: two hosts without netns share this machine\'s', () => {
    const vm = [`  - {name: vm1, memoryMiB: 64, devices: [{type: virtio-net, id: net0, mac: "${MAC}", netdev: {type: tap, bridge: br0}}]}`];
    const shared = ['  hostA: {runDir: /run/a}', '  hostB: {runDir: /run/b}'];
    const error = failure(vm, shared);
    expect(error.message).toContain("vms[0].devices[0].netdev.ifname: the tap 'vm1-net0' of vm1 on hostB is already the tap of vm1 on hostA (both in the network namespace of this machine); put {host} or {vm} in ifname");
    // Namespaces of their own, or {host} in the name: accepted.
    expect(inventory(vm).vms.get('vm1')).toBeDefined();
    expect(inventory([vm[0]?.replace('netdev: {type: tap,', 'netdev: {type: tap, ifname: "t-{host}",') as string], shared).vms.get('vm1')).toBeDefined();
    // Two VMs whose names meet: vm1 -> t0, vm2 -> t0 on the same host.
    const twoVms = failure([
      `  - {name: vm1, memoryMiB: 64, devices: [{type: virtio-net, id: net0, mac: "${MAC}", netdev: {type: tap, ifname: t0, bridge: br0}}]}`,
      `  - {name: vm2, memoryMiB: 64, devices: [{type: virtio-net, id: net0, mac: "${MAC}", netdev: {type: tap, ifname: t0, bridge: br0}}]}`,
    ]);
    expect(twoVms.message).toContain("vms[1].devices[0].netdev.ifname: the tap 't0' of vm2 on hostA is already the tap of vm1 on hostA (both in network namespace nsa)");
  });

  it('leaves simulated hosts out: they make no taps', () => {
    const vm = [`  - {name: vm1, memoryMiB: 64, devices: [{type: virtio-net, id: net0, mac: "${MAC}", netdev: {type: tap, bridge: br0}}]}`];
    expect(inventory(vm, ['  hostA: {kind: sim, runDir: /run/a}', '  hostB: {kind: sim, runDir: /run/b}']).vms.get('vm1')).toBeDefined();
  });
});
