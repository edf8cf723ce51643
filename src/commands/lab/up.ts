import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { labUp, type LabUpResult } from '../../lab/lab.js';
import { defaultLabDir, LAB_PF } from '../../lab/lab-state.js';

export default class LabUp extends BaseCommand<typeof LabUp> {
  static override summary = 'Start a lab of two simulated hosts in the background, for nicmig migrate to use.';

  static override description = `Starts, as background processes that outlive this command: a switch (nicmig sim switch) and two simulated hosts (nicmig sim host), each with an i40e PF plugged into the switch. hostA runs vm1, whose vfio-i40evf device vf0 (MAC 02:00:00:00:00:01) its guest driver has configured; hostB is empty and its PF kernel is older (fewer filters for untrusted VFs). Writes DIR/config.yaml (the inventory) and DIR/lab.json (pids, sockets); logs go to DIR/*.log. Waits until every process is ready; on any failure stops what it started. A lab that is already up in DIR is an error (LAB_ALREADY_UP, exit 2).`;

  static override examples = [
    '<%= config.bin %> lab up',
    '<%= config.bin %> lab up --dir /tmp/lab --memory 256 --dirty-rate 5000 --traffic-rate 1000',
  ];

  static override flags = {
    dir: Flags.string({ description: 'Lab directory. Default: $XDG_RUNTIME_DIR/nicmig-lab, else /tmp/nicmig-lab-$UID.', env: 'NICMIG_LAB_DIR' }),
    memory: Flags.integer({ description: 'Guest RAM of vm1, MiB.', default: 64, min: 16, max: 4096 }),
    'dirty-rate': Flags.integer({ description: 'Pages per second the guests dirty.', default: 2000, min: 0 }),
    'traffic-rate': Flags.integer({ description: 'Probes per second from the switch to vm1 (echoed by its guest); 0: none.', default: 0, min: 0, max: 20_000 }),
  };

  public async run(): Promise<LabUpResult> {
    const verbose = this.flags.verbose;
    const result = await labUp({
      dir: this.flags.dir ?? defaultLabDir(),
      memoryMiB: this.flags.memory,
      dirtyPagesPerSecond: this.flags['dirty-rate'],
      trafficRate: this.flags['traffic-rate'],
      ...(verbose ? { log: (message: string) => process.stderr.write(`${message}\n`) } : {}),
    });
    if (!this.jsonEnabled()) {
      const lines = [
        `Lab up in ${result.dir} (${(result.startedInMs / 1000).toFixed(1)} s):`,
        ...result.processes.map((p) => `  ${p.name.padEnd(6)}  pid ${String(p.pid).padEnd(7)}  ${p.role === 'host' ? `${p.dir} (PF ${LAB_PF}, ${p.limits} kernel limits)` : p.socket}`),
        `  ${result.vm.name} runs on ${result.vm.host}, VF ${result.vm.mac}`,
        '',
        'Next:',
        ...result.next.map((line) => `  ${line}`),
      ];
      this.out(lines.join('\n'));
    }
    return result;
  }
}
