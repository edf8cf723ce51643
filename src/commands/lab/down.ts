import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { labDown, type LabDownResult } from '../../lab/lab.js';
import { defaultLabDir } from '../../lab/lab-state.js';

export default class LabDown extends BaseCommand<typeof LabDown> {
  static override summary = 'Stop the background lab: every process, and its sockets.';

  static override description = `Sends SIGTERM to the lab's processes (SIGKILL to any still there after --grace seconds), waits until they are gone and removes the sockets and DIR/lab.json. Works when some processes already died. Logs, config.yaml and the journals stay in DIR. Without a lab in DIR: LAB_NOT_UP, exit 2.`;

  static override examples = ['<%= config.bin %> lab down', '<%= config.bin %> lab down --dir /tmp/lab --json'];

  static override flags = {
    dir: Flags.string({ description: 'Lab directory. Default: $XDG_RUNTIME_DIR/nicmig-lab, else /tmp/nicmig-lab-$UID.', env: 'NICMIG_LAB_DIR' }),
    grace: Flags.integer({ description: 'Seconds between SIGTERM and SIGKILL.', default: 5, min: 0, max: 300 }),
  };

  public async run(): Promise<LabDownResult> {
    const result = await labDown(this.flags.dir ?? defaultLabDir(), { graceMs: this.flags.grace * 1000 });
    if (!this.jsonEnabled()) {
      this.out([`Lab in ${result.dir} is down:`, ...result.processes.map((p) => `  ${p.name.padEnd(6)}  pid ${String(p.pid).padEnd(7)}  ${p.ended}`)].join('\n'));
    }
    return result;
  }
}
