import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { UsageError } from '../errors.js';
import { QmpClient, type QmpEvent } from '../qmp/client.js';
import { QmpDisconnectedError } from '../qmp/errors.js';
import { parseEndpoint } from '../qmp/transport.js';

export default class Qmp extends BaseCommand<typeof Qmp> {
  static override summary = 'Run one QMP command on a QEMU monitor, or watch its events.';

  static override description = `Raw access to a QMP monitor, for when something looks wrong (like virsh qemu-monitor-command). Prints the command's "return" value as JSON on stdout and exits 0. A QMP error prints its class and description on stderr and exits 24. With --events, prints events as NDJSON (one JSON object per line) until --for elapses, the connection closes, or Ctrl-C; a command given with --events runs after the listener is registered, its reply printed as a {"return": ...} line.`;

  static override examples = [
    '<%= config.bin %> qmp unix:/run/nicmig/vm1.qmp query-status',
    `<%= config.bin %> qmp tcp:192.0.2.10:4444 migrate-set-parameters '{"downtime-limit": 500}'`,
    '<%= config.bin %> qmp unix:/run/nicmig/vm1.qmp query-migrate --json | jq .ram',
    '<%= config.bin %> qmp unix:/run/nicmig/vm1.qmp --events --for 30',
    '<%= config.bin %> qmp unix:/run/nicmig/vm1.qmp stop --events --for 1',
  ];

  static override args = {
    endpoint: Args.string({ description: 'QMP endpoint: unix:/path/to/socket or tcp:HOST:PORT', required: true }),
    command: Args.string({ description: 'QMP command name, e.g. query-status' }),
    arguments: Args.string({ description: 'command arguments as a JSON object' }),
  };

  static override flags = {
    events: Flags.boolean({ description: 'Print events as NDJSON on stdout.', default: false }),
    for: Flags.integer({ description: 'With --events: stop after this many seconds.', min: 0, dependsOn: ['events'] }),
    timeout: Flags.integer({ description: 'Seconds to wait for the connection and for the reply.', default: 30, min: 1 }),
  };

  public async run(): Promise<unknown> {
    const endpoint = parseEndpoint(this.args.endpoint);
    const command = this.args.command;
    if (!command && !this.flags.events) {
      throw new UsageError('MISSING_COMMAND', 'name a QMP command to run, or pass --events to watch events', {
        hint: 'e.g. nicmig qmp unix:/run/nicmig/vm1.qmp query-status',
      });
    }
    const commandArgs = this.args.arguments === undefined ? undefined : parseArgumentsJson(this.args.arguments);
    const timeoutMs = this.flags.timeout * 1000;
    const client = await QmpClient.connect(endpoint, {
      commandTimeoutMs: timeoutMs,
      greetingTimeoutMs: timeoutMs,
      onTraffic: this.flags.verbose
        ? (entry) => process.stderr.write(`${entry.dir === 'sent' ? '->' : '<-'} ${traceText(entry.message)}\n`)
        : undefined,
    });
    try {
      if (this.flags.events) {
        await this.watchEvents(client, command, commandArgs, timeoutMs);
        return undefined;
      }
      const result = await client.execute(command as string, commandArgs);
      if (!this.jsonEnabled()) this.out(JSON.stringify(result, null, 2));
      return result;
    } finally {
      client.destroy();
    }
  }

  private async watchEvents(
    client: QmpClient,
    command: string | undefined,
    commandArgs: Record<string, unknown> | undefined,
    timeoutMs: number,
  ): Promise<void> {
    let sawShutdown = false;
    const print = (line: unknown): void => {
      process.stdout.write(`${JSON.stringify(line)}\n`);
    };
    const stopWatching = client.onEvent((event: QmpEvent) => {
      if (event.event === 'SHUTDOWN') sawShutdown = true;
      print(event);
    });
    let interrupted = false;
    const onSignal = (): void => {
      interrupted = true;
      client.destroy();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      if (command) print({ return: await client.execute(command, commandArgs, { timeoutMs }) });
      const ended = client.closed;
      const seconds = this.flags.for;
      if (seconds === undefined) {
        const error = await ended;
        if (!interrupted && !sawShutdown && error instanceof QmpDisconnectedError) throw error;
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const elapsed = new Promise<'elapsed'>((resolve) => {
        timer = setTimeout(() => resolve('elapsed'), seconds * 1000);
      });
      const outcome = await Promise.race([elapsed, ended]);
      clearTimeout(timer);
      if (outcome !== 'elapsed' && !interrupted && !sawShutdown) throw outcome;
    } finally {
      stopWatching();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

function parseArgumentsJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError('BAD_ARGUMENTS_JSON', `command arguments are not valid JSON: ${(error as Error).message}`, {
      hint: `quote the object for the shell: '{"uri": "tcp:192.0.2.20:4444"}'`,
    });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError('BAD_ARGUMENTS_JSON', 'command arguments must be a JSON object', {
      hint: `e.g. '{"downtime-limit": 500}'`,
    });
  }
  return value as Record<string, unknown>;
}

/** A message as the traffic log shows it: its JSON, or a note of why it has none (never a throw). */
function traceText(message: unknown): string {
  try {
    return JSON.stringify(message) ?? String(message);
  } catch (error) {
    return `(not printable: ${(error as Error).message})`;
  }
}
