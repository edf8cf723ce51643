import fs from 'node:fs';
import path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { UsageError } from '../../errors.js';
import { hostsFromInventory } from '../../hosts/hosts.js';
import { loadInventory } from '../../inventory/inventory.js';
import { I40evfClient } from '../../vfio/i40evf-client.js';

export default class VfCapture extends BaseCommand<typeof VfCapture> {
  static override summary = "Save a running VM's VF admin log (since the VF's last reset) as a capture file.";

  static override description = `Finds where VM runs (as nicmig status does), reads the admin-queue log its vfio-i40evf device captured since the VF's last reset, and writes it as a capture file (I40EAQ01, docs/capture-format.md), ready for nicmig vf decode, vf state and vf plan. Changes nothing on the VM.`;

  static override examples = [
    '<%= config.bin %> vf capture vm1 -o vm1-vf0.cap && <%= config.bin %> vf state vm1-vf0.cap',
    '<%= config.bin %> vf capture vm1 --device vf1 -o vm1-vf1.cap',
  ];

  static override args = {
    vm: Args.string({ description: 'VM name, as in the inventory', required: true }),
  };

  static override flags = {
    device: Flags.string({ description: 'vfio-i40evf device id (default: the VM has only one)' }),
    output: Flags.string({ char: 'o', description: 'Capture file to write.', required: true }),
  };

  public async run(): Promise<{ vm: string; host: string; device: string; records: number; file: string }> {
    const inventory = loadInventory(this.flags.config);
    if (!inventory.vms.has(this.args.vm)) throw new UsageError('UNKNOWN_VM', `no VM named '${this.args.vm}' in ${inventory.file}`);
    const output = path.resolve(this.flags.output);
    if (!fs.existsSync(path.dirname(output))) throw new UsageError('BAD_OUTPUT_PATH', `--output ${this.flags.output}: the directory does not exist`);
    for (const host of hostsFromInventory(inventory).values()) {
      const monitor = await host.connectVm(this.args.vm).catch(() => undefined);
      if (!monitor) continue;
      try {
        const status = await monitor.queryStatus();
        if (status.status === 'inmigrate' || status.status === 'postmigrate') continue;
        const client = new I40evfClient(monitor);
        const devices = await client.list();
        const device = this.flags.device ? devices.find((d) => d.id === this.flags.device) : devices.length === 1 ? devices[0] : undefined;
        if (!device) {
          throw new UsageError('UNKNOWN_DEVICE', devices.length === 0 ? `VM '${this.args.vm}' has no vfio-i40evf device` : `name the device with --device (${devices.map((d) => d.id).join(', ')})`);
        }
        const log = await client.adminLog(device.id);
        fs.writeFileSync(output, Buffer.from(log.capture, 'base64'));
        const records = log['next-sequence'] - (log['first-sequence'] ?? log['next-sequence']);
        if (!this.jsonEnabled()) this.out(`wrote ${records} records of ${this.args.vm}/${device.id} on ${host.name} to ${output}`);
        return { vm: this.args.vm, host: host.name, device: device.id, records, file: output };
      } finally {
        monitor.disconnect();
      }
    }
    throw new UsageError('VM_NOT_RUNNING', `VM '${this.args.vm}' runs on none of the hosts`, { hint: 'nicmig status' });
  }
}
