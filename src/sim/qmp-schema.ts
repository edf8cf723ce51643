import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ArgSpec, ArgType, IntegerWidth } from './qmp-args.js';

/**
 * The simulator's `query-qmp-schema`: the entries a real QEMU gives for the commands the
 * simulator implements, the events it emits and every type they reference, taken from a
 * recording of that QEMU's own `query-qmp-schema` (fixtures/qmp/schema/qemu-MAJOR.MINOR.json,
 * written by scripts/record-qmp-schema.js). A simulated host of another QEMU version reads
 * that version's recording; adding one is running the script against that binary.
 *
 * Extension commands (the patched QEMU's `__org.nicmig_*`) are in no stock recording: their
 * entries are built from their declared arguments, named as the command plus `-arg`.
 */

export interface SchemaEntry {
  name: string;
  'meta-type': string;
  [key: string]: unknown;
}

/** One machine type as `query-machines` reports it. */
export interface RecordedMachine {
  name: string;
  alias?: string;
  'is-default'?: boolean;
  deprecated: boolean;
  [key: string]: unknown;
}

export interface SchemaRecording {
  recorded: { version: { major: number; minor: number; micro: number }; package: string; how: string };
  commands: string[];
  /** `query-migrate-capabilities`' names, in its order. */
  migrateCapabilities?: string[];
  /** `query-migrate-parameters` of a QEMU just started. */
  migrateParameters?: Record<string, unknown>;
  /** `query-machines`, by name. */
  machines?: RecordedMachine[];
  schema: SchemaEntry[];
}

/** Events the simulator emits; their schema entries are listed with the commands'. */
export const SIMULATED_EVENTS = ['STOP', 'RESUME', 'SHUTDOWN', 'MIGRATION', 'MIGRATION_PASS'] as const;

const recordings = new Map<string, SchemaRecording>();

export function schemaRecordingPath(major: number, minor: number): string {
  return fileURLToPath(new URL(`../../fixtures/qmp/schema/qemu-${major}.${minor}.json`, import.meta.url));
}

/** The recorded schema of QEMU major.minor (read once). Throws when there is none. */
export function loadSchemaRecording(major: number, minor: number): SchemaRecording {
  const key = `${major}.${minor}`;
  let recording = recordings.get(key);
  if (!recording) {
    const file = schemaRecordingPath(major, minor);
    if (!fs.existsSync(file)) throw new Error(`no recorded query-qmp-schema of QEMU ${key} (${file}); record one with scripts/record-qmp-schema.js`);
    recording = JSON.parse(fs.readFileSync(file, 'utf8')) as SchemaRecording;
    recordings.set(key, recording);
  }
  return recording;
}

/** Every type name an entry refers to. */
function references(entry: SchemaEntry): string[] {
  const names: string[] = [];
  for (const key of ['arg-type', 'ret-type', 'element-type'] as const) {
    if (typeof entry[key] === 'string') names.push(entry[key]);
  }
  for (const list of [entry.members, entry.variants] as unknown[]) {
    if (!Array.isArray(list)) continue;
    for (const member of list as { type?: unknown }[]) if (typeof member.type === 'string') names.push(member.type);
  }
  return names;
}

/**
 * The entries for `commands` and `events` with the closure of the types they reference, in
 * the recording's order, followed by `extra` entries (extension commands and their types).
 */
export function selectSchema(recording: SchemaRecording, commands: readonly string[], events: readonly string[], extra: SchemaEntry[] = []): SchemaEntry[] {
  const byName = new Map(recording.schema.map((entry) => [entry.name, entry]));
  const extraNames = new Set(extra.map((entry) => entry.name));
  const wanted = new Set<string>();
  const visit = (name: string): void => {
    if (wanted.has(name)) return;
    const entry = byName.get(name);
    if (!entry) return;
    wanted.add(name);
    for (const reference of references(entry)) visit(reference);
  };
  for (const name of [...commands, ...events]) {
    if (!extraNames.has(name)) visit(name);
  }
  for (const entry of extra) for (const reference of references(entry)) visit(reference);
  return [...recording.schema.filter((entry) => wanted.has(entry.name)), ...extra];
}

/** Whether the recording lets `command` run out of band (`allow-oob`). */
export function allowsOob(recording: SchemaRecording, command: string): boolean {
  return recording.schema.some((entry) => entry.name === command && entry['meta-type'] === 'command' && entry['allow-oob'] === true);
}

/**
 * Schema entries for an extension command from its declared arguments, in QEMU's
 * introspection terms: integers of every width are `int`, lists `[T]`, enums and objects
 * their own entries. Its return is declared `any`: the simulator does not model it further.
 */
export function extensionSchemaEntries(command: string, args: ArgSpec | undefined): SchemaEntry[] {
  const entries: SchemaEntry[] = [];
  const typeName = (type: ArgType, name: string): string => {
    if (typeof type === 'string') {
      if (type === 'str' || type === 'bool' || type === 'any') return type;
      return 'int';
    }
    if ('enum' in type) {
      entries.push({ name, 'meta-type': 'enum', values: [...type.enum] });
      return name;
    }
    if ('object' in type) return objectType(type.object, name);
    const element = typeName(type.list, `${name}-element`);
    const list = `[${element}]`;
    if (!entries.some((entry) => entry.name === list)) entries.push({ name: list, 'meta-type': 'array', 'element-type': element });
    return list;
  };
  const objectType = (spec: ArgSpec, name: string): string => {
    const members = Object.entries(spec).map(([member, field]) => ({
      name: member,
      type: typeName(field.type, `${name}-${member}`),
      ...(field.optional ? { default: null } : {}),
    }));
    entries.unshift({ name, 'meta-type': 'object', members });
    return name;
  };
  const argType = objectType(args ?? {}, `${command}-arg`);
  return [{ name: command, 'meta-type': 'command', 'arg-type': argType, 'ret-type': 'any' }, ...entries];
}

/**
 * The arguments of a recorded command as the simulator checks them (qmp-args.ts): names,
 * order, optional members, enums, lists and objects from the schema. Introspection says `int`
 * for every integer; `integerWidths` gives QAPI's width of a member by name where QEMU's error
 * wording depends on it. An alternate (StrOrNull) is taken as its string; a union's variants
 * are not modelled. Pure; throws when the recording has no such command.
 */
export function commandArgSpec(recording: SchemaRecording, command: string, integerWidths: Readonly<Record<string, IntegerWidth>> = {}): ArgSpec {
  const byName = new Map(recording.schema.map((entry) => [entry.name, entry]));
  const { major, minor } = recording.recorded.version;
  const entry = (name: unknown, what: string): SchemaEntry => {
    const found = typeof name === 'string' ? byName.get(name) : undefined;
    if (!found) throw new Error(`the recorded schema of QEMU ${major}.${minor} has no ${what}`);
    return found;
  };
  const argType = (typeName: string, member: string): ArgType => {
    if (typeName === 'int') return integerWidths[member] ?? 'int';
    if (typeName === 'str' || typeName === 'bool' || typeName === 'any') return typeName;
    const type = entry(typeName, `type ${typeName} (of ${member})`);
    switch (type['meta-type']) {
      case 'enum':
        return { enum: type.values as string[] };
      case 'array':
        return { list: argType(type['element-type'] as string, member) };
      case 'object':
        return { object: objectSpec(type) };
      case 'alternate':
        return 'str';
      default:
        return 'any';
    }
  };
  const objectSpec = (type: SchemaEntry): ArgSpec =>
    Object.fromEntries(
      ((type.members ?? []) as { name: string; type: string; default?: unknown }[]).map((member) => [
        member.name,
        { type: argType(member.type, member.name), ...('default' in member ? { optional: true } : {}) },
      ]),
    );
  return objectSpec(entry(entry(command, `command ${command}`)['arg-type'], `argument type of ${command}`));
}
