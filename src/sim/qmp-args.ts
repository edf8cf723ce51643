/**
 * QAPI-style argument checking with QEMU 7.2's own error wording (qobject-input-visitor.c,
 * qapi/qmp-dispatch.c), so a client sees the same GenericError text from the simulator as
 * from QEMU. Pure.
 */

export type IntegerWidth = 'uint8' | 'uint32' | 'uint64' | 'size';

export type ArgType =
  | 'str'
  | 'bool'
  | 'int'
  | 'uint8'
  | 'uint32'
  | 'uint64'
  | 'size'
  | 'any'
  | { enum: readonly string[] }
  | { object: ArgSpec }
  | { list: ArgType };

export interface ArgField {
  type: ArgType;
  optional?: boolean;
}

export type ArgSpec = Record<string, ArgField>;

/** A QMP error reply: `{"error": {"class", "desc"}}`. Thrown by command handlers. */
export class QmpFailure extends Error {
  constructor(
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(desc);
    this.name = 'QmpFailure';
  }
}

export function genericError(desc: string): QmpFailure {
  return new QmpFailure('GenericError', desc);
}

const UINT_LIMIT: Record<string, number> = { uint8: 0xff, uint32: 0xffffffff };

/** Checks `args` against `spec`; returns the arguments (unchanged) or throws QmpFailure. */
export function checkArguments(spec: ArgSpec, args: Record<string, unknown>): Record<string, unknown> {
  checkObject(spec, args, '');
  return args;
}

function fullName(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}

function checkObject(spec: ArgSpec, value: Record<string, unknown>, path: string): void {
  // QEMU visits the declared members in order, then complains about leftovers.
  for (const [name, field] of Object.entries(spec)) {
    if (!(name in value)) {
      if (!field.optional) throw genericError(`Parameter '${fullName(path, name)}' is missing`);
      continue;
    }
    checkValue(field.type, value[name], name, fullName(path, name));
  }
  for (const name of Object.keys(value)) {
    if (!(name in spec)) throw genericError(`Parameter '${fullName(path, name)}' is unexpected`);
  }
}

function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

function checkValue(type: ArgType, value: unknown, name: string, full: string): void {
  if (typeof type === 'string') {
    switch (type) {
      case 'any':
        return;
      case 'str':
        if (typeof value !== 'string') throw genericError(`Invalid parameter type for '${full}', expected: string`);
        return;
      case 'bool':
        if (typeof value !== 'boolean') throw genericError(`Invalid parameter type for '${full}', expected: boolean`);
        return;
      case 'int':
        if (!isInteger(value)) throw genericError(`Invalid parameter type for '${full}', expected: integer`);
        return;
      case 'uint64':
      case 'size':
        // Negative integers are accepted (and wrap) for backward compatibility, as in QEMU.
        if (!isInteger(value)) throw genericError(`Parameter '${full}' expects uint64`);
        return;
      case 'uint8':
      case 'uint32': {
        if (!isInteger(value)) throw genericError(`Parameter '${full}' expects uint64`);
        const limit = UINT_LIMIT[type] as number;
        if (value < 0 || value > limit) throw genericError(`Parameter '${name}' expects ${type}_t`);
        return;
      }
    }
  }
  if ('enum' in type) {
    if (typeof value !== 'string') throw genericError(`Invalid parameter type for '${full}', expected: string`);
    if (!type.enum.includes(value)) throw genericError(`Parameter '${name}' does not accept value '${value}'`);
    return;
  }
  if ('object' in type) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw genericError(`Invalid parameter type for '${full}', expected: object`);
    }
    checkObject(type.object, value as Record<string, unknown>, full);
    return;
  }
  if (!Array.isArray(value)) throw genericError(`Invalid parameter type for '${full}', expected: array`);
  value.forEach((element, index) => checkValue(type.list, element, `${name}[${index}]`, `${full}[${index}]`));
}

/** A negative number given for a uint64 wraps like QEMU's; for range checks only. */
export function asUint64(value: number): number {
  return value < 0 ? Number.MAX_SAFE_INTEGER : value;
}
