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
