import { describe, expect, it } from '@jest/globals';
import { qemuArguments } from '../../../src/hosts/qemu-args.js';
import { CommandLineError, destinationCommandLine, splitCmdline, type DestinationCommandLineInput } from '../../../src/hosts/source-command-line.js';
import { VmSpecSchema, type VmSpec } from '../../../src/inventory/vm-spec.js';

const QMP_A = '/run/nicmig-a/vm1.qmp';
const QMP_B = '/run/nicmig-b/vm1.qmp';
const PID_B = '/run/nicmig-b/vm1.pid';
const NICMIG_ADDED = ['-qmp', `unix:${QMP_B},server=on,wait=off`, '-pidfile', PID_B, '-S', '-incoming', 'defer'];

function spec(fields: Record<string, unknown> = {}): VmSpec {
  return VmSpecSchema.parse({ name: 'vm1', memoryMiB: 1024, ...fields });
}

function rewrite(argv: string[], fields: Partial<DestinationCommandLineInput> = {}) {
  return destinationCommandLine({
    sourceArgv: ['/usr/bin/qemu-system-x86_64', ...argv],
    sourceHost: 'hostA',
    destinationHost: 'hostB',
    qmpPath: QMP_B,
    pidFile: PID_B,
    machineType: 'pc-q35-7.2',
    spec: spec(),
    ...fields,
  });
}

/** The refusal's arguments and reasons, or a failure when the rewrite did not refuse. */
function refusal(argv: string[], fields: Partial<DestinationCommandLineInput> = {}): CommandLineError {
  try {
    rewrite(argv, fields);
  } catch (error) {
    if (error instanceof CommandLineError) return error;
    throw error;
  }
  throw new Error(`expected a refusal of ${argv.join(' ')}`);
}

/** The value that follows each occurrence of `option`. */
function valuesOf(args: string[], option: string): string[] {
  return args.flatMap((arg, i) => (arg === option ? [args[i + 1] as string] : []));
}

/**
 * What libvirt 9 writes for a q35 guest on QEMU 7.2 (`virsh domxml-to-native` / the domain
 * log): JSON -object/-blockdev/-device/-netdev, its monitor on a chardev passed as an fd, and
 * nicmig's extra monitor from <qemu:commandline>. The NIC is a tap by name, as for
 * <interface type='ethernet'> with <target dev='tap-hostA' managed='no'/>.
 */
const LIBVIRT_ARGV = [
  '-name', 'guest=vm1,debug-threads=on',
  '-S',
  '-object', '{"qom-type":"secret","id":"masterKey0","format":"raw","file":"/var/lib/libvirt/qemu/domain-3-vm1/master-key.aes"}',
  '-machine', 'pc-q35-7.2,usb=off,vmport=off,dump-guest-core=off,memory-backend=pc.ram',
  '-accel', 'kvm',
  '-cpu', 'host,migratable=on',
  '-m', '1024',
  '-object', '{"qom-type":"memory-backend-ram","id":"pc.ram","size":1073741824}',
  '-overcommit', 'mem-lock=off',
  '-smp', '2,sockets=2,cores=1,threads=1',
  '-uuid', 'b3b2c7c4-8d1e-4b52-9a8f-3f6c1d2e4a10',
  '-no-user-config',
  '-nodefaults',
  '-chardev', 'socket,id=charmonitor,fd=31,server=on,wait=off',
  '-mon', 'chardev=charmonitor,id=monitor,mode=control',
  '-rtc', 'base=utc,driftfix=slew',
  '-global', 'kvm-pit.lost_tick_policy=delay',
  '-no-hpet',
  '-no-shutdown',
  '-global', 'ICH9-LPC.disable_s3=1',
  '-boot', 'strict=on',
  '-device', '{"driver":"pcie-root-port","port":16,"chassis":1,"id":"pci.1","bus":"pcie.0","multifunction":true,"addr":"0x2"}',
  '-device', '{"driver":"pcie-root-port","port":17,"chassis":2,"id":"pci.2","bus":"pcie.0","addr":"0x2.0x1"}',
  '-blockdev', '{"driver":"file","filename":"/var/lib/libvirt/images/vm1.img","node-name":"libvirt-1-storage","auto-read-only":true,"discard":"unmap"}',
  '-blockdev', '{"node-name":"libvirt-1-format","read-only":false,"driver":"raw","file":"libvirt-1-storage"}',
  '-device', '{"driver":"virtio-blk-pci","bus":"pci.2","addr":"0x0","drive":"libvirt-1-format","id":"virtio-disk0","bootindex":1}',
  '-netdev', '{"type":"tap","ifname":"tap-hostA","script":"","downscript":"","id":"hostnet0"}',
  '-device', '{"driver":"virtio-net-pci","netdev":"hostnet0","id":"net0","mac":"52:54:00:12:34:56","bus":"pci.1","addr":"0x0"}',
  '-chardev', 'pty,id=charserial0',
  '-device', '{"driver":"isa-serial","chardev":"charserial0","id":"serial0","index":0}',
  '-audiodev', '{"id":"audio1","driver":"none"}',
  '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
  '-msg', 'timestamp=on',
  '-qmp', `unix:${QMP_A},server=on,wait=off`,
];

describe('the destination command line from the source\'s own', () => {
  it('splits /proc/<pid>/cmdline on NUL bytes, keeping empty arguments', () => {
    expect(splitCmdline('qemu\0-name\0vm1\0-append\0\0')).toEqual(['qemu', '-name', 'vm1', '-append', '']);
    expect(splitCmdline('')).toEqual([]);
  });

  it('carries a libvirt command line: its monitors dropped, nicmig\'s monitor, pid file, -S -incoming defer added, the tap mapped through the inventory', () => {
    const { args, rewrites } = rewrite(LIBVIRT_ARGV, { spec: spec({ qemuArgs: ['-netdev', 'tap,id=hostnet0,ifname=tap-{host},script=no,downscript=no'] }) });
    // libvirt's own monitor (a chardev passed as fd=31) and nicmig's source monitor are gone; the fd is not refused with them.
    expect(args.join(' ')).not.toMatch(/charmonitor|-mon |nicmig-a/);
    expect(valuesOf(args, '-qmp')).toEqual([`unix:${QMP_B},server=on,wait=off`]);
    expect(args.filter((a) => a === '-S')).toHaveLength(1);
    expect(args.slice(-NICMIG_ADDED.length)).toEqual(NICMIG_ADDED);
    // Kept as written: the name, the JSON objects and devices, the pty serial.
    expect(valuesOf(args, '-name')).toEqual(['guest=vm1,debug-threads=on']);
    expect(valuesOf(args, '-object')).toEqual([LIBVIRT_ARGV[4], LIBVIRT_ARGV[14]]);
    expect(valuesOf(args, '-blockdev')).toEqual(valuesOf(LIBVIRT_ARGV, '-blockdev'));
    expect(valuesOf(args, '-chardev')).toEqual(['pty,id=charserial0']);
    expect(valuesOf(args, '-machine')).toEqual(['pc-q35-7.2,usb=off,vmport=off,dump-guest-core=off,memory-backend=pc.ram']);
    // The tap's name is host-specific: tap-{host} in the inventory.
    expect(JSON.parse(valuesOf(args, '-netdev')[0] as string)).toEqual({ type: 'tap', ifname: 'tap-hostB', script: '', downscript: '', id: 'hostnet0' });
    expect(rewrites).toEqual([
      '-S: dropped (the destination starts -S -incoming defer)',
      '-chardev socket,id=charmonitor,fd=31,server=on,wait=off: dropped (the chardev of a monitor of the source)',
      '-mon chardev=charmonitor,id=monitor,mode=control: dropped (the destination has nicmig\'s monitor only)',
      `-netdev ${LIBVIRT_ARGV[LIBVIRT_ARGV.indexOf('-netdev') + 1]}: ifname tap-hostA -> tap-hostB (inventory template tap-{host})`,
      `-qmp unix:${QMP_A},server=on,wait=off: dropped (the destination has nicmig's monitor only)`,
      `${NICMIG_ADDED.join(' ')}: added`,
    ]);
  });

  it('carries a VM nicmig started from its spec: the memory file per host, -daemonize and an earlier -incoming dropped, the machine alias resolved', () => {
    const vmSpec = spec({ machine: 'q35', memoryBackend: { type: 'file', path: '/srv/{host}/{vm}.ram' }, qemuArgs: ['-serial', 'file:/var/log/{host}/{vm}.serial'] });
    // What nicmig ran on hostA when vm1 arrived there by an earlier migration.
    const source = qemuArguments(vmSpec, { host: 'hostA', qmpPath: QMP_A, pidFile: '/run/nicmig-a/vm1.pid', accel: 'kvm', paused: true, incoming: true, daemonize: true });
    const { args, rewrites } = rewrite(source, { spec: vmSpec });
    expect(args).toEqual([
      '-name', 'vm1', '-nodefaults', '-no-user-config', '-display', 'none',
      '-machine', 'pc-q35-7.2,memory-backend=mem', '-m', '1024M',
      '-object', 'memory-backend-file,id=mem,size=1024M,mem-path=/srv/hostB/vm1.ram,share=on',
      '-smp', '1', '-accel', 'kvm', '-accel', 'tcg',
      '-serial', 'file:/var/log/hostB/vm1.serial',
      ...NICMIG_ADDED,
    ]);
    expect(rewrites).toEqual(
      expect.arrayContaining([
        '-machine q35,memory-backend=mem: type q35 -> pc-q35-7.2 (the source\'s resolved type)',
        '-object memory-backend-file,id=mem,size=1024M,mem-path=/srv/hostA/vm1.ram,share=on: mem-path /srv/hostA/vm1.ram -> /srv/hostB/vm1.ram (inventory template /srv/{host}/{vm}.ram)',
        '-serial file:/var/log/hostA/vm1.serial: -> file:/var/log/hostB/vm1.serial (inventory template file:/var/log/{host}/{vm}.serial)',
        '-pidfile /run/nicmig-a/vm1.pid: replaced by -pidfile /run/nicmig-b/vm1.pid',
        '-daemonize: dropped (nicmig supervises the destination; its stderr goes to the VM\'s log)',
        '-incoming defer: dropped (the destination starts -S -incoming defer)',
      ]),
    );
  });

  describe('the machine type', () => {
    it.each([
      [['-M', 'q35'], ['-M', 'pc-q35-7.2']],
      [['-machine', 'type=q35,accel=kvm'], ['-machine', 'type=pc-q35-7.2,accel=kvm']],
      [['--machine', 'pc,,x'], ['--machine', 'pc-q35-7.2']],
      [['-machine', '{"type":"q35","usb":false}'], ['-machine', '{"type":"pc-q35-7.2","usb":false}']],
    ])('%j: the written type replaced by the resolved one, the other properties kept', (written, expected) => {
      expect(rewrite(written).args.slice(0, 2)).toEqual(expected);
    });

    it('a command line naming no type gets the resolved one added', () => {
      const { args, rewrites } = rewrite(['-machine', 'accel=tcg', '-m', '64']);
      expect(args.slice(0, 6)).toEqual(['-machine', 'accel=tcg', '-m', '64', '-machine', 'pc-q35-7.2']);
      expect(rewrites).toContain("-machine pc-q35-7.2: added (the source's resolved type; its command line names none)");
    });

    it('is left as written when the source did not tell its resolved type', () => {
      expect(rewrite(['-M', 'q35'], { machineType: undefined }).args.slice(0, 2)).toEqual(['-M', 'q35']);
    });
  });

  describe('the VF', () => {
    const vfSpec = spec({ devices: [{ type: 'vfio-i40evf', id: 'vf0', pf: 'enp3s0f0', vf: 5 }] });

    it('vfio-i40evf: pf= and vf= become the inventory\'s VF of the destination, key=value or JSON', () => {
      expect(rewrite(['-device', 'vfio-i40evf,id=vf0,pf=enp1s0f1,vf=2'], { spec: vfSpec }).args.slice(0, 2)).toEqual(['-device', 'vfio-i40evf,id=vf0,pf=enp3s0f0,vf=5']);
      const json = rewrite(['-device', '{"driver":"vfio-i40evf","id":"vf0","pf":"enp1s0f1","vf":2,"bus":"pci.4"}'], { spec: vfSpec });
      expect(JSON.parse(json.args[1] as string)).toEqual({ driver: 'vfio-i40evf', id: 'vf0', pf: 'enp3s0f0', vf: 5, bus: 'pci.4' });
      expect(json.rewrites[0]).toMatch(/pf enp1s0f1 -> enp3s0f0 \(the inventory's VF on hostB\); vf 2 -> 5/);
    });

    it('vfio-i40evf: a pf named with {host} is expanded for the destination; vf auto is passed on', () => {
      const perHost = spec({ devices: [{ type: 'vfio-i40evf', id: 'vf0', pf: 'pf-{host}', vf: 'auto' }] });
      expect(rewrite(['-device', 'vfio-i40evf,id=vf0,pf=pf-hostA,vf=3'], { spec: perHost }).args[1]).toBe('vfio-i40evf,id=vf0,pf=pf-hostB,vf=auto');
    });

    it('vfio-pci: host= (or sysfsdev=) becomes the destination VF\'s PCI address where the destination knows it', () => {
      const vfHostAddresses = new Map([['vf0', '0000:03:02.5']]);
      expect(rewrite(['-device', 'vfio-pci,host=0000:81:02.1,id=vf0,bus=pci.5'], { spec: vfSpec, vfHostAddresses }).args[1]).toBe('vfio-pci,host=0000:03:02.5,id=vf0,bus=pci.5');
      const json = rewrite(['-device', '{"driver":"vfio-pci","sysfsdev":"/sys/bus/pci/devices/0000:81:02.1","id":"vf0"}'], { spec: vfSpec, vfHostAddresses });
      expect(JSON.parse(json.args[1] as string)).toEqual({ driver: 'vfio-pci', id: 'vf0', host: '0000:03:02.5' });
    });

    it('refuses a VF device the inventory does not list, and a vfio-pci whose destination VF is unknown', () => {
      expect(refusal(['-device', 'vfio-i40evf,id=vf9,pf=enp1s0f1,vf=2'], { spec: vfSpec }).details.refused).toEqual([
        { argument: '-device vfio-i40evf,id=vf9,pf=enp1s0f1,vf=2', reason: "a VF device 'vf9' that the inventory's entry for 'vm1' does not list, so nicmig cannot choose its VF on hostB" },
      ]);
      const error = refusal(['-device', '{"driver":"vfio-pci","host":"0000:81:02.1","id":"hostdev0"}'], { spec: vfSpec });
      expect(error.message).toMatch(/-device \{"driver":"vfio-pci","host":"0000:81:02\.1","id":"hostdev0"\}: passes the source host's PCI function 0000:81:02\.1; nicmig knows no VF on hostB for it/);
    });
  });

  describe('host-specific names through the inventory', () => {
    it('a whole qemuArgs entry, a value inside key=value or JSON, a chardev path after its unix: prefix, commas kept escaped', () => {
      const vmSpec = spec({
        memoryBackend: { type: 'file', path: '/srv/{host},x/{vm}.ram' },
        qemuArgs: ['-chardev', 'socket,id=ser0,path=/run/{host}/{vm}.serial,server=on,wait=off', '-serial', 'unix:/run/{host}/{vm}.console,server=on,wait=off'],
      });
      const { args } = rewrite(
        [
          '-object', 'memory-backend-file,id=mem,size=64M,mem-path=/srv/hostA,,x/vm1.ram',
          '-chardev', 'socket,id=ser0,path=/run/hostA/vm1.serial,server=on,wait=off',
          '-serial', 'unix:/run/hostA/vm1.console,server=on,wait=off',
          '-chardev', '{"backend":"socket","id":"ser1","path":"/run/hostA/vm1.serial"}',
          '-name', 'vm1',
        ],
        { spec: vmSpec },
      );
      expect(args.slice(0, 10)).toEqual([
        '-object', 'memory-backend-file,id=mem,size=64M,mem-path=/srv/hostB,,x/vm1.ram',
        '-chardev', 'socket,id=ser0,path=/run/hostB/vm1.serial,server=on,wait=off',
        '-serial', 'unix:/run/hostB/vm1.console,server=on,wait=off',
        '-chardev', '{"backend":"socket","id":"ser1","path":"/run/hostB/vm1.serial"}',
        '-name', 'vm1',
      ]);
    });

    it('a template in a device field ({host} in it) maps the source\'s value too; a {vm}-only template changes nothing', () => {
      const vmSpec = spec({ devices: [{ type: 'vfio-i40evf', id: 'vf0', pf: 'pf-{host}', vf: 1 }], qemuArgs: ['-D', '/var/log/{vm}.qemu'] });
      const { args } = rewrite(['-D', '/var/log/vm1.qemu', '-object', 'iothread,id=pf-hostA'], { spec: vmSpec });
      expect(args.slice(0, 4)).toEqual(['-D', '/var/log/vm1.qemu', '-object', 'iothread,id=pf-hostB']);
    });
  });

  describe('what the destination does itself', () => {
    it('drops every monitor of the source (-qmp, -qmp-pretty, -monitor, -mon and its chardev) but keeps a chardev a serial port also uses', () => {
      const { args } = rewrite([
        '-monitor', 'stdio',
        '-qmp-pretty', 'tcp:127.0.0.1:4444,server=on,wait=off',
        '-chardev', 'socket,id=hmp,path=/tmp/vm1.hmp,server=on,wait=off',
        '-mon', 'hmp,mode=readline',
        '-chardev', 'stdio,mux=on,id=char0',
        '-mon', 'chardev=char0,mode=readline',
        '-serial', 'chardev:char0',
        '-serial', 'mon:stdio',
        '--qmp', `unix:${QMP_A},server,nowait`,
      ]);
      expect(args).toEqual(['-chardev', 'stdio,mux=on,id=char0', '-serial', 'chardev:char0', '-serial', 'mon:stdio', '-machine', 'pc-q35-7.2', ...NICMIG_ADDED]);
    });

    it('-loadvm is dropped (the state comes from the stream), -pidfile replaced, --daemonize dropped', () => {
      const { args, rewrites } = rewrite(['-loadvm', 'before-upgrade', '-pidfile', '/run/vm1.pid', '--daemonize', '-M', 'q35']);
      expect(args).toEqual(['-M', 'pc-q35-7.2', ...NICMIG_ADDED]);
      expect(rewrites[0]).toBe('-loadvm before-upgrade: dropped (the state comes from the stream; loading the snapshot again would revert a shared disk)');
    });

    it('keeps a bare disk image argument and a -chardev pty (the destination opens a pty of its own)', () => {
      expect(rewrite(['/var/lib/images/vm1.img', '-chardev', 'pty,id=s0', '-M', 'q35']).args.slice(0, 5)).toEqual(['/var/lib/images/vm1.img', '-chardev', 'pty,id=s0', '-M', 'pc-q35-7.2']);
    });
  });

  describe('refusals: nothing starts, every argument named with why', () => {
    it.each([
      [['-netdev', 'tap,id=net0,fd=3'], /passes an open file descriptor \(fd=3\) that only the source QEMU process holds/],
      [['-netdev', '{"type":"tap","fd":"33","vhost":true,"vhostfd":"35","id":"hostnet0"}'], /passes an open file descriptor \(fd=33\)/],
      [['-netdev', 'tap,id=net0,fds=3:4,vhostfds=5:6'], /\(fds=3:4\)/],
      [['-chardev', 'socket,id=charchannel0,fd=27,server=on,wait=off'], /\(fd=27\)/],
      [['-add-fd', 'fd=3,set=2'], /passes an open file descriptor/],
      [['-blockdev', '{"driver":"file","filename":"/dev/fdset/2","node-name":"disk"}'], /opens \/dev\/fdset\/2, a file descriptor set passed to the source QEMU process only/],
      [['-snapshot'], /disk writes go to temporary files on the source host/],
      [['-drive', 'file=/img/vm1.qcow2,if=virtio,snapshot=on'], /snapshot=on: the disk's writes go to a temporary file on the source host/],
      [['-readconfig', '/etc/qemu/vm1.cfg'], /the configuration in that file is not on the command line/],
      [['--preconfig'], /given over QMP before it started/],
      [['-frobnicate', 'x'], /an option nicmig does not know/, '-frobnicate'],
      [['-name'], /the last argument, without the value it takes/],
    ])('%j', (argv, reason, argument = argv.join(' ')) => {
      const error = refusal(argv);
      expect(error).toMatchObject({ code: 'COMMAND_LINE_NOT_PORTABLE', exitCode: 10 });
      const refused = error.details.refused as { argument: string; reason: string }[];
      expect(refused).toHaveLength(1);
      expect(refused[0]?.argument).toBe(argument);
      expect(refused[0]?.reason).toMatch(reason);
      expect(error.message).toMatch(/^the command line of 'vm1' on hostA cannot be carried to hostB: /);
    });

    it('lists every refused argument at once, in order', () => {
      const error = refusal(['-netdev', 'tap,id=n0,fd=3', '-name', 'guest=vm1', '-snapshot', '-netdev', 'tap,id=n1,vhostfd=9']);
      expect((error.details.refused as { argument: string }[]).map((r) => r.argument)).toEqual(['-netdev tap,id=n0,fd=3', '-snapshot', '-netdev tap,id=n1,vhostfd=9']);
      expect(error.hint).toMatch(/nothing was started/);
    });
  });
});
