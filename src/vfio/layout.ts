/**
 * The engine behind the virtchnl codec: a struct's byte layout is written once, as data
 * (field, offset, type; nested structs; a counted array after a header), and both the
 * reader and the writer walk that one table. messages.ts holds the tables.
 *
 * Wire names are the C member names of include/linux/avf/virtchnl.h, so an error names
 * the field as the header does (`qpair[1].rxq.ring_len`) and a conformance test can check
 * each offset and size against the kernel's own structs.
 */
import { VirtchnlError } from './errors.js';
import { Status } from './opcodes.js';
import { FieldReader, writeMac } from './wire.js';

/** Little-endian scalars; `mac` is 6 bytes shown as aa:bb:cc:dd:ee:ff. */
export type Scalar = 'u8' | 'u16' | 'u32' | 's32' | 'u64' | 'mac';

export const scalarSize: Readonly<Record<Scalar, number>> = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8, mac: 6 };

/** One member of a struct: where it lies and what it holds. */
export interface Field<T> {
  /** the property of the decoded object */
  key: keyof T & string;
  /** the C member name */
  wire: string;
  /** byte offset in the struct */
  at: number;
  type: Scalar | AnyStruct;
  /** the member as the kernel header names it, where that differs from `wire` */
  kernel?: string;
}

/** A C struct: its name, its size (pads included) and its members; pads read as nothing. */
export interface Struct<T> {
  name: string;
  size: number;
  fields: readonly Field<T>[];
}

/** A struct of any decoded type: what the engine walks. */
export interface AnyStruct {
  name: string;
  size: number;
  fields: readonly { key: string; wire: string; at: number; type: Scalar | AnyStruct; kernel?: string }[];
}

/** Typed constructor, so that each `key` is checked against T. */
export function struct<T>(name: string, size: number, fields: readonly Field<T>[]): Struct<T> {
  return { name, size, fields };
}

/**
 * A message body.
 * - `empty`: no payload.
 * - `fixed`: one struct; its members are the message's properties, or those of `nest`.
 * - `optional`: nothing (the property is null) or one scalar (GET_VF_RESOURCES' bitmap).
 * - `list`: a header struct, a u16 element count at `count.at` inside it, then the
 *   elements from `header.size`, plus one unused trailing element (the legacy `[1]`
 *   array). An element is a struct, a u16 (an array of numbers) or a u8 (a Buffer).
 */
export type Body =
  | { kind: 'empty' }
  | { kind: 'fixed'; struct: AnyStruct; nest?: string }
  | { kind: 'optional'; key: string; wire: string; type: Scalar }
  | {
      kind: 'list';
      /** the C struct of the whole message (header members only; the array is `items`) */
      header: AnyStruct;
      count: { wire: string; at: number };
      items: { key: string; wire: string; element: AnyStruct | 'u16' | 'u8' };
      /** fewest elements a well-formed message has */
      minCount: number;
      nest?: string;
    };

export function elementSize(element: AnyStruct | Scalar): number {
  return typeof element === 'string' ? scalarSize[element] : element.size;
}

/** Expected length of a list message with n elements: header + (n + 1 legacy) elements. */
export function legacyListLength(header: number, element: number, count: number): number {
  return header + element * (count + 1);
}

// ---------------------------------------------------------------- writing

function writeScalar(b: Buffer, at: number, type: Scalar, value: unknown): void {
  switch (type) {
    case 'u8':
      b.writeUInt8(value as number, at);
      return;
    case 'u16':
      b.writeUInt16LE(value as number, at);
      return;
    case 'u32':
      b.writeUInt32LE((value as number) >>> 0, at);
      return;
    case 's32':
      b.writeInt32LE(value as number, at);
      return;
    case 'u64':
      b.writeBigUInt64LE(value as bigint, at);
      return;
    case 'mac':
      writeMac(b, at, value as string);
      return;
  }
}

function writeValue(b: Buffer, at: number, type: Scalar | AnyStruct, value: unknown): void {
  if (typeof type === 'string') writeScalar(b, at, type, value);
  else writeStruct(b, at, type, value);
}

export function writeStruct(b: Buffer, at: number, s: AnyStruct, value: unknown): void {
  const record = value as Record<string, unknown>;
  for (const f of s.fields) writeValue(b, at + f.at, f.type, record[f.key]);
}

/** The payload bytes of `message` under `body`. */
export function encodeBody(body: Body, message: Record<string, unknown>): Buffer {
  switch (body.kind) {
    case 'empty':
      return Buffer.alloc(0);
    case 'fixed': {
      const b = Buffer.alloc(body.struct.size);
      writeStruct(b, 0, body.struct, body.nest === undefined ? message : message[body.nest]);
      return b;
    }
    case 'optional': {
      const value = message[body.key];
      if (value === null || value === undefined) return Buffer.alloc(0);
      const b = Buffer.alloc(scalarSize[body.type]);
      writeScalar(b, 0, body.type, value);
      return b;
    }
    case 'list': {
      const source = (body.nest === undefined ? message : message[body.nest]) as Record<string, unknown>;
      const items = source[body.items.key] as ArrayLike<unknown>;
      const { element } = body.items;
      const size = elementSize(element);
      const b = Buffer.alloc(legacyListLength(body.header.size, size, items.length));
      writeStruct(b, 0, body.header, source);
      b.writeUInt16LE(items.length, body.count.at);
      for (let i = 0; i < items.length; i++) writeValue(b, body.header.size + i * size, element, items[i]);
      return b;
    }
  }
}

// ---------------------------------------------------------------- reading

function readScalar(r: FieldReader, at: number, type: Scalar, field: string): unknown {
  switch (type) {
    case 'u8':
      return r.u8(at, field);
    case 'u16':
      return r.u16(at, field);
    case 'u32':
      return r.u32(at, field);
    case 's32':
      return r.s32(at, field);
    case 'u64':
      return r.u64(at, field);
    case 'mac':
      return r.mac(at, field);
  }
}

function readValue(r: FieldReader, at: number, type: Scalar | AnyStruct, field: string): unknown {
  return typeof type === 'string' ? readScalar(r, at, type, field) : readStruct(r, at, type, `${field}.`);
}

/** Reads a struct at `at`; `prefix` goes before each member's name in errors. */
export function readStruct(r: FieldReader, at: number, s: AnyStruct, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of s.fields) out[f.key] = readValue(r, at + f.at, f.type, `${prefix}${f.wire}`);
  return out;
}

function lengthError(opcode: number, message: string, offset: number, field = 'length'): VirtchnlError {
  return new VirtchnlError('VF_BAD_LENGTH', message, { opcode, field, offset, status: Status.ERR_OPCODE_MISMATCH });
}

function expectLength(opcode: number, payload: Buffer, expected: number, what: string): void {
  if (payload.length !== expected) {
    throw lengthError(opcode, `${what} must be exactly ${expected} bytes, got ${payload.length}`, Math.min(payload.length, expected));
  }
}

/**
 * Decodes `payload` under `body`: the exact length and the element count are checked
 * (VF_BAD_LENGTH, ERR_OPCODE_MISMATCH), pads and the legacy trailing element ignored.
 */
export function decodeBody(body: Body, opcode: number, payload: Buffer): Record<string, unknown> {
  const r = new FieldReader(payload, opcode);
  switch (body.kind) {
    case 'empty':
      expectLength(opcode, payload, 0, 'the payload');
      return { opcode };
    case 'fixed': {
      expectLength(opcode, payload, body.struct.size, body.struct.name);
      const value = readStruct(r, 0, body.struct);
      return body.nest === undefined ? { opcode, ...value } : { opcode, [body.nest]: value };
    }
    case 'optional':
      if (payload.length === 0) return { opcode, [body.key]: null };
      expectLength(opcode, payload, scalarSize[body.type], body.wire);
      return { opcode, [body.key]: readScalar(r, 0, body.type, body.wire) };
    case 'list': {
      const { header, count: countSpec, items: spec } = body;
      const count = r.u16(countSpec.at, countSpec.wire);
      if (count < body.minCount) throw lengthError(opcode, `${countSpec.wire} must be at least ${body.minCount}`, countSpec.at, countSpec.wire);
      const size = elementSize(spec.element);
      const expected = legacyListLength(header.size, size, count);
      if (payload.length !== expected) {
        throw lengthError(
          opcode,
          `${countSpec.wire} = ${count} means ${expected} bytes (${header.size} + ${size} x (${count} + 1 legacy element)), got ${payload.length}`,
          Math.min(payload.length, expected),
        );
      }
      const value = readStruct(r, 0, header);
      if (spec.element === 'u8') {
        value[spec.key] = r.slice(header.size, count, spec.wire);
      } else {
        const list: unknown[] = [];
        for (let i = 0; i < count; i++) list.push(readValue(r, header.size + i * size, spec.element, `${spec.wire}[${i}]`));
        value[spec.key] = list;
      }
      return body.nest === undefined ? { opcode, ...value } : { opcode, [body.nest]: value };
    }
  }
}

/** Problems with a struct table itself (a member past the end, two members overlapping). */
export function layoutProblems(s: AnyStruct): string[] {
  const problems: string[] = [];
  const spans = s.fields.map((f) => ({ f, end: f.at + (typeof f.type === 'string' ? scalarSize[f.type] : f.type.size) })).sort((a, b) => a.f.at - b.f.at);
  for (const { f, end } of spans) if (f.at < 0 || end > s.size) problems.push(`${s.name}.${f.wire} (${f.at}..${end}) lies outside ${s.size} bytes`);
  for (let i = 1; i < spans.length; i++) {
    const before = spans[i - 1];
    const here = spans[i];
    if (before && here && here.f.at < before.end) problems.push(`${s.name}.${here.f.wire} overlaps ${before.f.wire}`);
  }
  for (const f of s.fields) if (typeof f.type !== 'string') problems.push(...layoutProblems(f.type));
  return problems;
}
