/**
 * The kernel's virtchnl_vc_validate_vf_msg(), compiled from Debian's header (fetched by
 * scripts/fetch-kernel-header.sh into tmp/kernel-headers/) with the system gcc, run as a
 * child process: messages in, the kernel's return codes out. Also prints the offsets and
 * sizes of the kernel's structs that nicmig's codec tables claim.
 *
 * Where gcc or the header is missing, `kernelValidatorUnavailable()` says why: the
 * conformance tests then fail under CI=true and skip with a console message otherwise.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { elementSize, scalarSize, type AnyStruct, type Body } from '../../../../src/vfio/layout.js';
import { KERNEL_HEADER_CACHE, KERNEL_REFERENCE } from '../../../../src/vfio/kernel-reference.js';

const root = process.cwd();
const includeDir = join(root, KERNEL_HEADER_CACHE, 'include');
const header = join(includeDir, 'linux/avf/virtchnl.h');
const source = join(root, 'test/unit/vfio/kernel/virtchnl-check.c');
const shim = join(root, 'test/unit/vfio/kernel/shim');

/** Why the kernel validator cannot be built here, or null when it can. */
export function kernelValidatorUnavailable(): string | null {
  const gcc = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
  if (gcc.error || gcc.status !== 0) return "no C compiler: install Debian's gcc (apt-get install gcc)";
  if (!existsSync(header)) return `no kernel header at ${header}: run scripts/fetch-kernel-header.sh (Debian ${KERNEL_REFERENCE.package})`;
  return null;
}

/** Where the header came from, as the fetch script recorded it. */
export function kernelHeaderSource(): string {
  const file = join(root, KERNEL_HEADER_CACHE, 'SOURCE');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : 'unknown';
}

export interface KernelCase {
  version: { major: number; minor: number };
  opcode: number;
  payload: Uint8Array;
}

/** A compiled validator; `close()` removes its temporary directory. */
export class KernelValidator {
  private constructor(
    private readonly dir: string,
    private readonly binary: string,
  ) {}

  /** Compiles the validator with layout checks for `structs` and `bodies`. */
  static build(structs: readonly AnyStruct[], bodies: readonly Body[]): KernelValidator {
    const dir = mkdtempSync(join(tmpdir(), `nicmig-kernel-${process.pid}-`));
    try {
      writeFileSync(join(dir, 'layout-checks.h'), layoutChecks(structs, bodies).source);
      const binary = join(dir, 'virtchnl-check');
      const cc = spawnSync('gcc', ['-std=gnu11', '-O0', '-Wall', '-Wno-unused-function', '-I', shim, '-I', includeDir, '-I', dir, '-o', binary, source], { encoding: 'utf8' });
      if (cc.status !== 0) throw new Error(`gcc failed to build the kernel validator:\n${cc.stderr}`);
      return new KernelValidator(dir, binary);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** The kernel's return code for each case, in order. */
  validate(cases: readonly KernelCase[]): number[] {
    const input = cases.map((c) => `${c.version.major} ${c.version.minor} ${c.opcode} ${c.payload.length === 0 ? '-' : Buffer.from(c.payload).toString('hex')}\n`).join('');
    const run = spawnSync(this.binary, [], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (run.status !== 0) throw new Error(`the kernel validator exited ${String(run.status)}: ${run.stderr}`);
    const codes = run.stdout.trim().split('\n').filter(Boolean).map(Number);
    if (codes.length !== cases.length) throw new Error(`the kernel validator answered ${codes.length} of ${cases.length} messages`);
    return codes;
  }

  /** "struct.member offset size" lines as the kernel lays the structs out. */
  layouts(): Map<string, string> {
    const run = spawnSync(this.binary, ['layouts'], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`the kernel validator exited ${String(run.status)}: ${run.stderr}`);
    return parseLayoutLines(run.stdout);
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function parseLayoutLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.trim().split('\n')) {
    const space = line.indexOf(' ');
    out.set(line.slice(0, space), line.slice(space + 1));
  }
  return out;
}

/**
 * Structs of the codec that virtchnl.h does not define: the GET_STATS reply is i40e's own
 * struct i40e_eth_stats (i40e_type.h: twelve u64 counters), "struct eth_stats" in the
 * header's comment.
 */
const NOT_IN_HEADER = new Set(['virtchnl_eth_stats']);

/** The C that prints the kernel's layout of every struct and member the codec uses, and what the codec expects. */
export function layoutChecks(structs: readonly AnyStruct[], bodies: readonly Body[]): { source: string; expected: Map<string, string> } {
  const lines: string[] = [];
  const expected = new Map<string, string>();
  const seen = new Set<string>();
  const visit = (s: AnyStruct): void => {
    if (seen.has(s.name) || NOT_IN_HEADER.has(s.name)) return;
    seen.add(s.name);
    lines.push(`SHOW_SIZE(${s.name});`);
    expected.set(s.name, String(s.size));
    for (const f of s.fields) {
      const member = f.kernel ?? f.wire;
      lines.push(`SHOW_MEMBER(${s.name}, ${member});`);
      expected.set(`${s.name}.${member}`, `${f.at} ${typeof f.type === 'string' ? scalarSize[f.type] : f.type.size}`);
      if (typeof f.type !== 'string') visit(f.type);
    }
  };
  for (const s of structs) visit(s);
  for (const body of bodies) {
    if (body.kind !== 'list') continue;
    const key = `${body.header.name}.${body.count.wire}`;
    if (!expected.has(key)) {
      lines.push(`SHOW_MEMBER(${body.header.name}, ${body.count.wire});`);
      expected.set(key, `${body.count.at} 2`);
    }
    lines.push(`SHOW_ELEMENT(${body.header.name}, ${body.items.wire});`);
    expected.set(`${body.header.name}.${body.items.wire}[]`, `${body.header.size} ${elementSize(body.items.element)}`);
  }
  return { source: `static void print_layouts(void)\n{\n${lines.map((l) => `\t${l}`).join('\n')}\n}\n`, expected };
}
