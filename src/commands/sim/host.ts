import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { SimHost } from '../../sim/host.js';

export default class SimHostCommand extends BaseCommand<typeof SimHostCommand> {
  static override summary = 'Run a simulated patched-QEMU host until SIGTERM or Ctrl-C.';

  static override description = `Starts simulated QEMU 7.2 VMs, each with a QMP socket DIR/VM.qmp, and a control socket
DIR/host.sock (JSON lines: start-vm, stop-vm, list-vms) through which another process (the
orchestrator) starts destination VMs. DIR/host.json lists the VMs and their sockets. Logs go
to stderr. On SIGTERM or SIGINT every VM stops and the sockets are removed.`;

  static override examples = [
    '<%= config.bin %> sim host --name hostA --dir /tmp/hostA --vm vm1 --memory 256 --dirty-rate 2000',
    '<%= config.bin %> qmp unix:/tmp/hostA/vm1.qmp query-status',
  ];

  static override flags = {
    name: Flags.string({ description: 'Host name (in logs and host.json).', required: true }),
    dir: Flags.string({ description: 'Directory for the sockets and host.json.', required: true }),
    vm: Flags.string({ description: 'Start a running VM of this name (repeatable).', multiple: true, default: [] }),
    memory: Flags.integer({ description: 'Guest RAM of the VMs started with --vm, MiB.', default: 64, min: 16 }),
    'dirty-rate': Flags.integer({ description: 'Pages per second each running guest dirties.', default: 0, min: 0 }),
  };

  public async run(): Promise<void> {
    const { name, dir, vm: vmNames, memory } = this.flags;
    const log = (message: string): void => {
      process.stderr.write(`[${new Date().toISOString()}] ${message}\n`);
    };
    const host = new SimHost({ name, dir, dirtyPagesPerSecond: this.flags['dirty-rate'], log });
    await host.start();
    try {
      for (const vmName of vmNames) await host.startVm({ name: vmName, memoryMiB: memory });
    } catch (error) {
      await host.stop();
      throw error;
    }
    log(`host ${name} ready: ${host.manifestPath}`);
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        log(`host ${name}: ${signal}, stopping`);
        resolve();
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    await host.stop();
    log(`host ${name} stopped`);
  }
}
