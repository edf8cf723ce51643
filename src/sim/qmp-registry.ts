import { checkArguments, QmpFailure, type ArgSpec } from './qmp-args.js';

export type QmpHandler = (args: Record<string, unknown>) => unknown;

export interface QmpCommandDefinition {
  name: string;
  /** Declared arguments; undefined means the command takes none (any argument is unexpected). */
  args?: ArgSpec;
  handler: QmpHandler;
}

/**
 * The commands one simulated QEMU answers. Stock commands are registered by the VM; devices
 * add extension commands through `registerExtension`, which puts the vendor prefix in front.
 */
export class QmpCommandRegistry {
  private readonly commands = new Map<string, QmpCommandDefinition>();
  private readonly extensions = new Set<string>();
  private readonly hung = new Set<string>();

  constructor(readonly extensionPrefix: string) {}

  register(definition: QmpCommandDefinition): () => void {
    if (this.commands.has(definition.name)) throw new Error(`QMP command ${definition.name} registered twice`);
    this.commands.set(definition.name, definition);
    return () => {
      if (this.commands.get(definition.name) === definition) this.commands.delete(definition.name);
    };
  }

  /** Registers `name` under the extension prefix, e.g. `i40evf-list` -> `__org.nicmig_i40evf-list`. */
  registerExtension(definition: QmpCommandDefinition): () => void {
    const name = `${this.extensionPrefix}${definition.name}`;
    const unregister = this.register({ ...definition, name });
    this.extensions.add(name);
    return () => {
      unregister();
      if (!this.commands.has(name)) this.extensions.delete(name);
    };
  }

  has(name: string): boolean {
    return this.commands.has(name);
  }

  names(): string[] {
    return [...this.commands.keys()];
  }

  /** The registered definition of `name`, if any. */
  definition(name: string): QmpCommandDefinition | undefined {
    return this.commands.get(name);
  }

  /** The registered extension commands (with their prefix). */
  extensionNames(): string[] {
    return [...this.extensions];
  }

  /**
   * A fault for tests (docs/fault-matrix.md): the next call of `name` (with its prefix, for an
   * extension) is taken and never acted on nor answered, as by a QEMU stuck inside it. The
   * connection that sent it is stuck behind it (replies go out in order); later calls, and
   * other connections, are served.
   */
  hangNext(name: string): void {
    if (!this.commands.has(name)) throw new Error(`cannot hang ${name}: no such command`);
    this.hung.add(name);
  }

  /** Runs a command as QEMU's dispatcher does: lookup, argument check, handler. */
  async dispatch(name: string, args: Record<string, unknown>): Promise<unknown> {
    const command = this.commands.get(name);
    if (!command) throw new QmpFailure('CommandNotFound', `The command ${name} has not been found`);
    checkArguments(command.args ?? {}, args);
    if (this.hung.delete(name)) return new Promise<never>(() => undefined);
    const result = await command.handler(args);
    return result === undefined ? {} : result;
  }
}
