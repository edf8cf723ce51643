import { z } from 'zod';

/**
 * What a QEMU offers, read from its own `query-qmp-schema` (qapi/introspect.json), so that
 * nicmig chooses features by what is there, not by version number. Pure.
 */

export const SchemaInfoSchema = z.looseObject({
  name: z.string(),
  'meta-type': z.string(),
  'arg-type': z.string().optional(),
  /** Object and enum members have names; alternates' and variants' members may not. */
  members: z.array(z.looseObject({ name: z.string().optional(), type: z.string().optional() })).optional(),
  'element-type': z.string().optional(),
  values: z.array(z.string()).optional(),
  'ret-type': z.string().optional(),
});
export type SchemaInfo = z.infer<typeof SchemaInfoSchema>;
export const SchemaInfoListSchema = z.array(SchemaInfoSchema);

export class QmpSchemaFeatures {
  private readonly byName: Map<string, SchemaInfo>;

  constructor(entries: readonly SchemaInfo[]) {
    this.byName = new Map(entries.map((entry) => [entry.name, entry]));
  }

  hasCommand(command: string): boolean {
    return this.byName.get(command)?.['meta-type'] === 'command';
  }

  /** Whether `command` takes an argument named `argument` (e.g. migrate-incoming exit-on-error, 9.1+). */
  commandHasArgument(command: string, argument: string): boolean {
    const entry = this.byName.get(command);
    if (entry?.['meta-type'] !== 'command' || !entry['arg-type']) return false;
    const args = this.byName.get(entry['arg-type']);
    return args?.members?.some((member) => member.name === argument) ?? false;
  }

  /**
   * The migration capabilities this QEMU knows (migrate-set-capabilities' capabilities[].capability
   * enum); the schema names types by number, so they are found through the command.
   */
  migrationCapabilities(): string[] {
    const list = this.memberType(this.byName.get('migrate-set-capabilities')?.['arg-type'], 'capabilities');
    const element = list ? this.byName.get(list)?.['element-type'] : undefined;
    const capability = this.memberType(element, 'capability');
    return capability ? this.enumValues(capability) : [];
  }

  private memberType(objectType: string | undefined, member: string): string | undefined {
    if (!objectType) return undefined;
    return this.byName.get(objectType)?.members?.find((m) => m.name === member)?.type;
  }

  private enumValues(type: string): string[] {
    const entry = this.byName.get(type);
    if (entry?.['meta-type'] !== 'enum') return [];
    return entry.values ?? (entry.members ?? []).flatMap((m) => (m.name ? [m.name] : []));
  }
}
