import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { labStatus, type LabStatusResult } from '../../lab/lab.js';
import { defaultLabDir } from '../../lab/lab-state.js';
import { formatTrafficReport } from '../../lab/switch-process.js';

export default class LabStatus extends BaseCommand<typeof LabStatus> {
  static override summary = 'Show the background lab: its processes, VMs and traffic.';

  static override description = `Reads DIR/lab.json, checks each process, and lists the VMs of each host and (with lab up --traffic-rate) the switch's probe counts and MAC moves. status is up, degraded (a process died: run lab down) or starting. Without a lab in DIR: LAB_NOT_UP, exit 2.`;

  static override examples = ['<%= config.bin %> lab status', '<%= config.bin %> lab status --json'];

  static override flags = {
    dir: Flags.string({ description: 'Lab directory. Default: $XDG_RUNTIME_DIR/nicmig-lab, else /tmp/nicmig-lab-$UID.', env: 'NICMIG_LAB_DIR' }),
  };

  public async run(): Promise<LabStatusResult> {
    const result = await labStatus(this.flags.dir ?? defaultLabDir());
    if (!this.jsonEnabled()) {
      const lines = [
        `Lab in ${result.dir}: ${result.status} (since ${result.startedAt}); inventory ${result.config}`,
        ...result.processes.map((p) => `  ${p.name.padEnd(6)}  pid ${String(p.pid).padEnd(7)}  ${p.alive ? 'running' : 'GONE'}`),
        ...result.vms.map((vm) => `  ${vm.name} on ${vm.host}: ${vm.runState}`),
      ];
      if (result.traffic) lines.push(result.traffic.counting ? `  traffic to ${result.traffic.target}: ${formatTrafficReport(result.traffic)}` : `  traffic to ${result.traffic.target}: waiting for the first echo`);
      for (const move of result.moves) lines.push(`  ${move.at}  ${move.mac} moved ${move.from} -> ${move.to}`);
      this.out(lines.join('\n'));
    }
    return result;
  }
}
