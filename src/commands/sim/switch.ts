import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { UsageError } from '../../errors.js';
import { SwitchProcess, type SwitchReport } from '../../lab/switch-process.js';
import { waitForStopSignal } from '../../lab/signals.js';

export default class SimSwitchCommand extends BaseCommand<typeof SimSwitchCommand> {
  static override summary = 'Run the simulated Ethernet switch of a lab until SIGTERM or Ctrl-C.';

  static override description = `A learning switch on a unix socket: simulated hosts plug their PFs in with \`nicmig sim host --switch PATH\`. With --traffic, a traffic generator on its own port sends probes to that MAC at --rate per second; the VM's guest driver echoes them. Counting starts at the first echo; the report (sent, received, lost, duplicated, reordered, longest gap) goes to stderr every second and at exit, to --report FILE (JSON) every second and at once when a MAC moves, and with --json to stdout at exit. On SIGTERM or SIGINT the socket is removed.`;

  static override examples = [
    '<%= config.bin %> sim switch --socket /tmp/lab/switch.sock',
    '<%= config.bin %> sim switch --socket /tmp/lab/switch.sock --traffic 02:00:00:00:00:01 --rate 1000 --json',
  ];

  static override flags = {
    socket: Flags.string({ description: 'Unix socket to listen on.', required: true }),
    traffic: Flags.string({ description: 'Send probes to this MAC and count the echoes.' }),
    rate: Flags.integer({ description: 'Probes per second with --traffic.', default: 1000, min: 1, max: 20_000 }),
    report: Flags.string({ description: 'Rewrite this JSON file with the report every second and when a MAC moves.' }),
  };

  public async run(): Promise<SwitchReport> {
    const log = (message: string): void => {
      process.stderr.write(`[${new Date().toISOString()}] ${message}\n`);
    };
    if (this.flags.traffic !== undefined && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(this.flags.traffic)) {
      throw new UsageError('BAD_USAGE', `--traffic ${this.flags.traffic}: expected a MAC address like 02:00:00:00:00:01`);
    }
    const switchProcess = await SwitchProcess.start({
      socket: this.flags.socket,
      ...(this.flags.traffic ? { trafficTarget: this.flags.traffic.toLowerCase(), trafficRate: this.flags.rate } : {}),
      ...(this.flags.report ? { reportFile: this.flags.report } : {}),
      log,
    });
    log('switch ready');
    const signal = await waitForStopSignal();
    log(`switch: ${signal}, stopping`);
    const report = await switchProcess.stop();
    log('switch stopped');
    return report;
  }
}
