import { Command, Errors, Flags, type Interfaces } from '@oclif/core';
import { asNicmigError, ExitCode, InternalError, NicmigError, UsageError } from './errors.js';
import { renderError } from './ui/render-error.js';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>;

/**
 * Every nicmig command extends this. It owns the global flags and the one way errors end a
 * command: a message on stderr (or an `{"status":"error","error":{...}}` document on stdout
 * under --json) and the documented exit code of the error's class.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    verbose: Flags.boolean({
      char: 'v',
      description: 'Log protocol traffic and decisions to stderr.',
      default: false,
      helpGroup: 'GLOBAL',
    }),
    config: Flags.string({
      description: 'Inventory file (hosts, VMs). Default: $XDG_CONFIG_HOME/nicmig/config.yaml.',
      env: 'NICMIG_CONFIG',
      helpGroup: 'GLOBAL',
    }),
  };

  protected flags!: BaseFlags<T>;
  protected args!: BaseArgs<T>;

  public override async init(): Promise<void> {
    await super.init();
    installLastResort(() => this.jsonEnabled(), () => Boolean(this.flags?.verbose));
    try {
      const { args, flags } = await this.parse({
        flags: this.ctor.flags,
        baseFlags: (this.ctor as typeof BaseCommand).baseFlags,
        enableJsonFlag: this.ctor.enableJsonFlag,
        args: this.ctor.args,
        strict: this.ctor.strict,
      });
      this.flags = flags as BaseFlags<T>;
      this.args = args as BaseArgs<T>;
    } catch (error) {
      throw toUsageError(error);
    }
  }

  /** Logs to stderr when --verbose is on; never to stdout, which belongs to results. */
  protected debugLog(message: string): void {
    if (this.flags?.verbose) process.stderr.write(`${message}\n`);
  }

  /** Writes a result line to stdout. */
  protected out(text: string): void {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  protected override async catch(error: Error & { exitCode?: number }): Promise<unknown> {
    // oclif's own exit (this.exit) and help requests pass through untouched.
    if (error instanceof Errors.ExitError) throw error;
    const nicmigError: NicmigError =
      error instanceof NicmigError ? error : asNicmigError(isOclifParseError(error) ? toUsageError(error) : error);
    // Set the exit code ourselves: oclif 4 would end a --json run with 1 whatever the error.
    process.exitCode = nicmigError.exitCode;
    if (this.jsonEnabled()) {
      this.logJson({ status: 'error', error: nicmigError.toJSON() });
    } else {
      process.stderr.write(renderError(nicmigError, { verbose: Boolean(this.flags?.verbose) }));
    }
    return undefined;
  }

  protected override toSuccessJson(result: unknown): unknown {
    return result;
  }

  /** JSON on stdout, one document, no colour codes (machines parse it); always a document. */
  override logJson(json: unknown): void {
    let text: string;
    try {
      text = JSON.stringify(json, null, 2);
    } catch (error) {
      const failure = new InternalError(`the result could not be written as JSON: ${(error as Error).message}`, { cause: error });
      process.exitCode = failure.exitCode;
      text = JSON.stringify({ status: 'error', error: failure.toJSON() }, null, 2);
    }
    process.stdout.write(`${text}\n`);
  }
}

let lastResortInstalled = false;

/**
 * What ends the process when something fails outside a command's own flow (an exception in an
 * event handler, a rejection nobody awaited): the same error output as any other failure, a
 * JSON document under --json, and the error's exit code; never a bare stack.
 */
function installLastResort(json: () => boolean, verbose: () => boolean): void {
  if (lastResortInstalled) return;
  lastResortInstalled = true;
  const end = (error: unknown): void => {
    const failure = asNicmigError(error);
    try {
      if (json()) process.stdout.write(`${JSON.stringify({ status: 'error', error: failure.toJSON() }, null, 2)}\n`);
      else process.stderr.write(renderError(failure, { verbose: verbose() }));
    } finally {
      process.exit(failure.exitCode);
    }
  };
  process.on('uncaughtException', end);
  process.on('unhandledRejection', end);
}

function isOclifParseError(error: unknown): boolean {
  return error instanceof Errors.CLIError && (error as { oclif?: { exit?: number } }).oclif?.exit === 2;
}

function toUsageError(error: unknown): unknown {
  if (error instanceof NicmigError) return error;
  if (error instanceof Errors.CLIError || (error instanceof Error && /flag|argument|Expected/i.test(error.message))) {
    // oclif's parse errors span lines ("Missing 1 required arg:", then one line per argument
    // as "name   description"); keep them on one line, without its pointer to --help.
    const [first = 'invalid usage', ...rest] = (error as Error).message
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.length > 0 && !/^See more help with/.test(line));
    const message = [first, rest.map((line) => line.replace(/^(\S+)\s{2,}(.*)$/, '$1 ($2)')).join('; ')].filter(Boolean).join(' ');
    return new UsageError('BAD_USAGE', message, { cause: error, hint: 'see --help' });
  }
  return error;
}

export { ExitCode };
