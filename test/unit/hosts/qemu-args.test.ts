import { describe, expect, it } from '@jest/globals';
import { qemuArguments } from '../../../src/hosts/qemu-args.js';
import { VmSpecSchema } from '../../../src/inventory/vm-spec.js';

const launch = { host: 'hostB', qmpPath: '/run/nicmig/vm1.qmp', pidFile: '/run/nicmig/vm1.pid', accel: 'tcg' as const, paused: true, incoming: true };

describe('the QEMU command line of a VM spec', () => {
  const spec = VmSpecSchema.parse({
    name: 'vm1',
    memoryMiB: 256,
    qemuArgs: ['-netdev', 'tap,id=n0,ifname=tap-{vm}-{host},script=no,downscript=no', '-serial', 'file:/var/log/{host}/{vm}.serial'],
  });

  it('expands {host} and {vm} in qemuArgs per host', () => {
    const args = qemuArguments(spec, launch);
    expect(args).toContain('tap,id=n0,ifname=tap-vm1-hostB,script=no,downscript=no');
    expect(args).toContain('file:/var/log/hostB/vm1.serial');
  });

  it('starts a destination with the resolved machine type, paused and deferred, supervised (no -daemonize)', () => {
    const args = qemuArguments(spec, { ...launch, machineType: 'pc-q35-7.2', daemonize: false });
    expect(args[args.indexOf('-machine') + 1]).toBe('pc-q35-7.2,memory-backend=mem');
    expect(args).toEqual(expect.arrayContaining(['-S', '-incoming', 'defer']));
    expect(args).not.toContain('-daemonize');
    expect(qemuArguments(spec, launch)).toContain('-daemonize');
  });
});

describe('the command line of a virtio-net NIC, by its backend', () => {
  const nic = (netdev: unknown) =>
    VmSpecSchema.parse({ name: 'vm1', memoryMiB: 64, devices: [{ type: 'virtio-net', id: 'net0', mac: '52:54:00:12:34:56', netdev }] });
  const netdevOf = (args: string[]) => args[args.indexOf('-netdev') + 1];
  const deviceOf = (args: string[]) => args.find((arg) => arg.startsWith('virtio-net-pci'));

  it('user and none, as before', () => {
    expect(netdevOf(qemuArguments(nic('user'), launch))).toBe('user,id=net0-backend');
    expect(deviceOf(qemuArguments(nic('user'), launch))).toBe('virtio-net-pci,id=net0,netdev=net0-backend,mac=52:54:00:12:34:56');
    expect(qemuArguments(nic('none'), launch)).not.toContain('-netdev');
    expect(deviceOf(qemuArguments(nic('none'), launch))).toBe('virtio-net-pci,id=net0,mac=52:54:00:12:34:56');
  });

  it('a tap, opened by its name on this host, never configured by QEMU', () => {
    expect(netdevOf(qemuArguments(nic({ type: 'tap', bridge: 'br0' }), launch))).toBe('tap,id=net0-backend,ifname=vm1-net0,script=no,downscript=no');
    expect(netdevOf(qemuArguments(nic({ type: 'tap', ifname: 't{vm}-{host}', bridge: 'br0' }), launch))).toBe('tap,id=net0-backend,ifname=tvm1-hostB,script=no,downscript=no');
    expect(deviceOf(qemuArguments(nic({ type: 'tap', bridge: 'br0' }), launch))).toBe('virtio-net-pci,id=net0,netdev=net0-backend,mac=52:54:00:12:34:56');
  });

  it("a bridge through the host's helper, a comma in its path doubled; QEMU's own helper when none is known", () => {
    expect(netdevOf(qemuArguments(nic({ type: 'bridge', br: 'br0' }), { ...launch, bridgeHelper: '/usr/lib/qemu/qemu-bridge-helper' }))).toBe(
      'bridge,id=net0-backend,br=br0,helper=/usr/lib/qemu/qemu-bridge-helper',
    );
    expect(netdevOf(qemuArguments(nic({ type: 'bridge', br: 'br0' }), { ...launch, bridgeHelper: '/opt/a,b/helper' }))).toBe('bridge,id=net0-backend,br=br0,helper=/opt/a,,b/helper');
    expect(netdevOf(qemuArguments(nic({ type: 'bridge', br: 'br0' }), launch))).toBe('bridge,id=net0-backend,br=br0');
  });
});
