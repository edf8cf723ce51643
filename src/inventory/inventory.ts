import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { DEFAULT_EXTENSION_PREFIX, EXTENSION_PREFIX_HINT, EXTENSION_PREFIX_PATTERN } from './extension-prefix.js';
import { DEFAULT_SIM_QEMU_VERSION, SIM_QEMU_VERSIONS, simQemuVersionText, type SimQemuVersion } from './sim-qemu-version.js';
import { closestKey, objectKeysAt } from './strict.js';
import { interfaceNameProblem, tapInterfaceName, VmSpecSchema, type VmSpec } from './vm-spec.js';

/**
 * The inventory: which hosts exist, how to reach them, and the VMs nicmig may move. One YAML
 * file; every error names the file and the path of the bad field.
 */

/** An inventory is a page of YAML; anything larger is not one (and is not read into memory). */
export const MAX_INVENTORY_BYTES = 1024 * 1024;

/** A host name or an IP address; an IPv6 address may come bracketed, and is kept without. */
const migrationAddress = z
  .string()
  .min(1)
  .transform((text) => (/^\[[^\]]*\]$/.test(text) ? text.slice(1, -1) : text))
  .refine((text) => net.isIP(text) !== 0 || /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(text), {
    message: 'expected an IPv4 or IPv6 address or a host name (e.g. 192.0.2.10, 2001:db8::10, hostb.example)',
  });

const HostSchema = z.strictObject({
  /** `qemu`: QEMU processes on this machine; `sim`: a simulated host (`nicmig sim host`). */
  kind: z.enum(['qemu', 'sim']).default('qemu'),
  /** Address the destination's migration listener binds to, reachable from the other hosts. */
  migrationAddress: migrationAddress.default('127.0.0.1'),
  /** Where the host's QMP sockets live: <runDir>/<vm>.qmp. */
  runDir: z.string().min(1),
  qemuBinary: z.string().min(1).default('qemu-system-x86_64'),
  /** kvm falls back to tcg when /dev/kvm is not usable. */
  accel: z.enum(['kvm', 'tcg']).default('kvm'),
  /**
   * Start this host's QEMU processes inside this network namespace (`ip netns exec`): hosts
   * emulated on one machine, each with its own addresses. QMP sockets stay on the filesystem.
   */
  netns: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a network namespace name').optional(),
  /**
   * QEMU's bridge helper for `netdev: {type: bridge}` NICs; default: the first found of the
   * usual places (docs/configuration.md). nicmig passes it to QEMU as `helper=`.
   */
  bridgeHelper: z.string().min(1).optional(),
  /**
   * `kind: sim` only: the QEMU version the simulated host presents (`nicmig sim host
   * --qemu-version`); default 7.2. A QEMU host is the version of its qemuBinary.
   */
  qemuVersion: z
    .preprocess(
      simQemuVersionText,
      z.string().refine((text) => (SIM_QEMU_VERSIONS as readonly string[]).includes(text), {
        error: (issue) => `unknown simulated QEMU version '${String(issue.input)}'; known: ${SIM_QEMU_VERSIONS.join(', ')}`,
      }),
    )
    .optional(),
});
export type HostConfig = Omit<z.infer<typeof HostSchema>, 'qemuVersion'> & {
  name: string;
  /** The QEMU version a `kind: sim` host presents (7.2 unless the inventory says); absent for `kind: qemu`. */
  qemuVersion?: SimQemuVersion;
};

export const InventorySchema = z.strictObject({
  stateDir: z.string().min(1).optional(),
  qmpExtensionPrefix: z.string().regex(EXTENSION_PREFIX_PATTERN, EXTENSION_PREFIX_HINT).default(DEFAULT_EXTENSION_PREFIX),
  hosts: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'expected a host name of letters, digits, _ . -'), HostSchema),
  vms: z.array(VmSpecSchema).default([]),
});

export interface Inventory {
  file: string;
  stateDir: string;
  qmpExtensionPrefix: string;
  hosts: Map<string, HostConfig>;
  vms: Map<string, VmSpec>;
}

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.length > 0 ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(base, 'nicmig', 'config.yaml');
}

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME && env.XDG_STATE_HOME.length > 0 ? env.XDG_STATE_HOME : path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'nicmig');
}

/** Reads and validates the inventory; relative paths in it are relative to the file. */
export function loadInventory(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Inventory {
  const configPath = path.resolve(file ?? defaultConfigPath(env));
  let text: string;
  try {
    // Only a regular file of sane size: `--config /dev/zero` must not read forever.
    const stat = fs.statSync(configPath);
    if (!stat.isFile()) {
      throw new ConfigError('CONFIG_UNREADABLE', `cannot read inventory ${configPath}: not a regular file`, { details: { file: configPath } });
    }
    if (stat.size > MAX_INVENTORY_BYTES) {
      throw new ConfigError('CONFIG_TOO_LARGE', `inventory ${configPath} is ${stat.size} bytes; the limit is ${MAX_INVENTORY_BYTES}`, {
        details: { file: configPath, size: stat.size, limit: MAX_INVENTORY_BYTES },
      });
    }
    text = fs.readFileSync(configPath, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ConfigError(missing ? 'CONFIG_NOT_FOUND' : 'CONFIG_UNREADABLE', `cannot read inventory ${configPath}: ${(error as Error).message}`, {
      cause: error,
      details: { file: configPath },
      hint: missing ? 'pass --config FILE, set NICMIG_CONFIG, or create it (docs/configuration.md); `nicmig lab up` writes one for a simulated lab' : undefined,
    });
  }
  return parseInventory(text, configPath, env);
}

/** How deep `[`/`{` nest in an inventory; deeper is refused before YAML parsing. */
export const MAX_FLOW_NESTING = 64;

/** The deepest nesting of flow brackets (quotes and comments not told apart: a bound, not a parser), and the line where it is first reached. Pure. */
export function flowNesting(text: string): { depth: number; line: number } {
  let depth = 0;
  let line = 1;
  const deepest = { depth: 0, line: 1 };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) line++;
    else if (c === 91 || c === 123) {
      depth++;
      if (depth > deepest.depth) Object.assign(deepest, { depth, line });
    } else if ((c === 93 || c === 125) && depth > 0) depth--;
  }
  return deepest;
}

export function parseInventory(text: string, configPath: string, env: NodeJS.ProcessEnv = process.env): Inventory {
  if (Buffer.byteLength(text, 'utf8') > MAX_INVENTORY_BYTES) {
    throw new ConfigError('CONFIG_TOO_LARGE', `inventory ${configPath} is over ${MAX_INVENTORY_BYTES} bytes`, { details: { file: configPath, limit: MAX_INVENTORY_BYTES } });
  }
  // A config is a few levels deep; thousands of nested flow brackets only make the YAML parser
  // slow (seconds), so they are refused before it runs.
  const nesting = flowNesting(text);
  if (nesting.depth > MAX_FLOW_NESTING) {
    throw new ConfigError('CONFIG_INVALID', `${configPath}:${nesting.line}: not valid as an inventory: brackets nested more than ${MAX_FLOW_NESTING} deep`, {
      details: { file: configPath, line: nesting.line, limit: MAX_FLOW_NESTING },
    });
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text, { prettyErrors: true, logLevel: 'error' });
  } catch (error) {
    const position = (error as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    throw new ConfigError('CONFIG_INVALID', `${configPath}${position ? `:${position.line}:${position.col}` : ''}: not valid YAML: ${(error as Error).message.split('\n')[0]}`, {
      cause: error,
      details: { file: configPath, line: position?.line, column: position?.col },
    });
  }
  const document = raw ?? {};
  const parsed = InventorySchema.safeParse(document);
  if (!parsed.success) {
    const unknownKeys: { key: string; path: string; suggestion?: string }[] = [];
    const issues = parsed.error.issues.flatMap((issue) => {
      if (issue.code !== 'unrecognized_keys') return [`${formatPath(issue.path)}: ${issue.message}`];
      const known = objectKeysAt(InventorySchema, document, issue.path) ?? [];
      return issue.keys.map((key) => {
        const suggestion = closestKey(key, known);
        unknownKeys.push({ key, path: formatPath(issue.path), ...(suggestion ? { suggestion } : {}) });
        return `${unknownKeyMessage(key, issue.path, suggestion)}${suggestion ? '' : known.length > 0 ? ` (known keys: ${known.join(', ')})` : ''}`;
      });
    });
    const first = unknownKeys[0];
    throw new ConfigError('CONFIG_INVALID', `${configPath}: invalid inventory:\n  - ${issues.join('\n  - ')}`, {
      details: { file: configPath, issues, ...(unknownKeys.length > 0 ? { unknownKeys } : {}) },
      hint: first?.suggestion ? `did you mean '${first.suggestion}'? (docs/configuration.md lists every key)` : unknownKeys.length > 0 ? 'docs/configuration.md lists every key' : undefined,
    });
  }
  const base = path.dirname(configPath);
  const hosts = new Map<string, HostConfig>();
  const issues: string[] = [];
  for (const [name, host] of Object.entries(parsed.data.hosts)) {
    const { qemuVersion, ...rest } = host;
    if (host.kind === 'qemu' && qemuVersion !== undefined) {
      issues.push(`hosts.${name}.qemuVersion: only a kind: sim host takes qemuVersion; a kind: qemu host is the version of its qemuBinary`);
    }
    const simulated = host.kind === 'sim' ? { qemuVersion: (qemuVersion ?? DEFAULT_SIM_QEMU_VERSION) as SimQemuVersion } : {};
    hosts.set(name, { ...rest, ...simulated, name, runDir: path.resolve(base, host.runDir) });
  }
  const vms = new Map<string, VmSpec>();
  parsed.data.vms.forEach((vm, index) => {
    if (vms.has(vm.name)) issues.push(`vms[${index}].name: duplicate VM name '${vm.name}'`);
    const backend = vm.memoryBackend.type === 'file' ? { type: 'file' as const, path: path.resolve(base, vm.memoryBackend.path) } : vm.memoryBackend;
    vms.set(vm.name, { ...vm, memoryBackend: backend });
  });
  issues.push(...tapNameIssues(parsed.data.vms, hosts));
  if (issues.length > 0) {
    throw new ConfigError('CONFIG_INVALID', `${configPath}: invalid inventory:\n  - ${issues.join('\n  - ')}`, { details: { file: configPath, issues } });
  }
  return {
    file: configPath,
    stateDir: path.resolve(base, parsed.data.stateDir ?? defaultStateDir(env)),
    qmpExtensionPrefix: parsed.data.qmpExtensionPrefix,
    hosts,
    vms,
  };
}

/**
 * Tap names as they expand on each QEMU host: within Linux's limit, and never one interface for
 * two taps. Hosts of `kind: qemu` in the same network namespace of this machine (the same
 * `netns`, or none) share their interfaces: a VM's tap there must differ per host (`{host}`).
 */
export function tapNameIssues(vms: readonly VmSpec[], hosts: ReadonlyMap<string, HostConfig>): string[] {
  const issues: string[] = [];
  const owners = new Map<string, string>();
  const qemuHosts = [...hosts.values()].filter((host) => host.kind === 'qemu');
  vms.forEach((vm, vmIndex) => {
    vm.devices.forEach((device, deviceIndex) => {
      if (device.type !== 'virtio-net' || device.netdev.type !== 'tap') return;
      const where = `vms[${vmIndex}].devices[${deviceIndex}].netdev.ifname`;
      for (const host of qemuHosts) {
        const name = tapInterfaceName(vm.name, device, host.name);
        const problem = interfaceNameProblem(name);
        if (problem) {
          issues.push(`${where}: on ${host.name} the tap's name ${problem}${device.netdev.ifname === undefined ? ' (the default; set ifname)' : ''}`);
          continue;
        }
        const namespace = host.netns === undefined ? 'the network namespace of this machine' : `network namespace ${host.netns}`;
        const key = `${host.netns ?? ''}\u0000${name}`;
        const owner = `${vm.name} on ${host.name}`;
        const previous = owners.get(key);
        if (previous === undefined) owners.set(key, owner);
        else issues.push(`${where}: the tap '${name}' of ${owner} is already the tap of ${previous} (both in ${namespace}); put {host} or {vm} in ifname`);
      }
    });
  });
  return issues;
}

function unknownKeyMessage(key: string, where: readonly PropertyKey[], suggestion: string | undefined): string {
  return `unknown key '${key}' ${where.length === 0 ? 'at the top level' : `in ${formatPath(where)}`}${suggestion ? `; did you mean '${suggestion}'?` : ''}`;
}

function formatPath(parts: readonly PropertyKey[]): string {
  if (parts.length === 0) return '(top level)';
  return parts.map((part, index) => (typeof part === 'number' ? `[${part}]` : index === 0 ? String(part) : `.${String(part)}`)).join('');
}
