import fs from 'node:fs';
import path from 'node:path';
import type { BridgeAcl, BridgeHelperFacts } from '../migration/ports.js';
import { findExecutable } from './executable.js';

/**
 * QEMU's bridge helper (`-netdev bridge,br=X,helper=H`) for `netdev: {type: bridge}` NICs: where
 * it is, and the ACL it reads. nicmig never writes that ACL; it reads it as the helper will,
 * so that preflight can refuse a bridge the helper would deny. Parsing is pure.
 */

/** Where QEMU builds put the helper: beside an installed prefix, Debian's, Fedora's, a source build's. */
export function bridgeHelperCandidates(qemuBinary: string | undefined): string[] {
  const candidates: string[] = [];
  const binary = qemuBinary === undefined ? undefined : findExecutable(qemuBinary);
  if (binary) {
    const prefix = path.dirname(path.dirname(fs.realpathSync(binary)));
    candidates.push(path.join(prefix, 'libexec', 'qemu-bridge-helper'), path.join(prefix, 'lib', 'qemu', 'qemu-bridge-helper'));
  }
  candidates.push('/usr/lib/qemu/qemu-bridge-helper', '/usr/libexec/qemu-bridge-helper', '/usr/local/libexec/qemu-bridge-helper');
  return [...new Set(candidates)];
}

/** The ACL file a helper reads, as compiled into it (CONFIG_QEMU_CONFDIR/bridge.conf); QEMU's usual one when it cannot be read. */
export function aclFileOf(helper: string): string {
  try {
    const match = /\/[\x21-\x7e]*\/bridge\.conf(?=\0)/.exec(fs.readFileSync(helper).toString('latin1'));
    if (match) return match[0];
  } catch {
    // unreadable: the usual place
  }
  return '/etc/qemu/bridge.conf';
}

export type AclEntry = { kind: 'allow' | 'deny'; name: string } | { kind: 'include'; file: string };

/**
 * One ACL file's lines, as qemu-bridge-helper parses them (parse_acl_file): blank lines and
 * `#` comments skipped, `allow NAME|all`, `deny NAME|all`, `include FILE`. The first bad line
 * ends the parse: the entries before it stand (an included file's), the helper refuses to run
 * (the main file's).
 */
export function parseBridgeConf(text: string): { entries: AclEntry[]; error?: string } {
  const entries: AclEntry[] = [];
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.replace(/^\s+/, '');
    if (line.startsWith('#') || line.length === 0) continue;
    const split = /[ \t]/.exec(line);
    if (!split) return { entries, error: `line ${index + 1}: invalid config line '${raw.trim()}'` };
    const command = line.slice(0, split.index);
    const argument = line.slice(split.index + 1).trim();
    if (command !== 'include' && argument.length >= 16) return { entries, error: `line ${index + 1}: name '${argument}' too long` };
    if (command === 'allow' || command === 'deny') entries.push({ kind: command, name: argument });
    else if (command === 'include') entries.push({ kind: 'include', file: argument });
    else return { entries, error: `line ${index + 1}: unknown command '${command}'` };
  }
  return { entries };
}

/** Includes followed at most this deep (the helper recurses without a limit). */
const MAX_INCLUDE_DEPTH = 8;

/**
 * The helper's ACL: `file` and what it includes, each read with `read` (as the host's QEMU
 * sees it). Throws when the main file cannot be read or parsed: the helper then refuses every
 * bridge. An include that cannot be read is skipped, as the helper skips it.
 */
export async function readBridgeAcl(file: string, read: (file: string) => Promise<string>): Promise<BridgeAcl> {
  const acl: BridgeAcl = { file, allowAll: false, denyAll: false, allow: [], deny: [] };
  const visit = async (current: string, depth: number): Promise<void> => {
    let text: string;
    try {
      text = await read(current);
    } catch (error) {
      if (depth === 0) throw new Error(`cannot read ${current}: ${(error as Error).message}`);
      return;
    }
    const { entries, error } = parseBridgeConf(text);
    if (error && depth === 0) throw new Error(`${current} ${error}`);
    for (const entry of entries) {
      if (entry.kind === 'include') {
        if (depth + 1 < MAX_INCLUDE_DEPTH) await visit(entry.file, depth + 1);
      } else if (entry.name === 'all') {
        if (entry.kind === 'allow') acl.allowAll = true;
        else acl.denyAll = true;
      } else acl[entry.kind].push(entry.name);
    }
  };
  await visit(file, 0);
  return acl;
}

/**
 * The bridge helper of a host: the configured one (`bridgeHelper`), else the first candidate
 * found; whether it can run; its ACL as `read` sees it.
 */
export async function bridgeHelperFacts(configured: string | undefined, qemuBinary: string, read: (file: string) => Promise<string>): Promise<BridgeHelperFacts> {
  const candidates = configured === undefined ? bridgeHelperCandidates(qemuBinary) : [configured];
  const found = candidates.find((candidate) => findExecutable(candidate) !== undefined);
  if (!found) {
    const where = configured === undefined ? `looked in ${candidates.join(', ')}` : `'${configured}' does not exist or is not an executable file`;
    return { path: null, problems: [`no qemu-bridge-helper (${where})`], acl: null };
  }
  try {
    return { path: found, problems: [], acl: await readBridgeAcl(aclFileOf(found), read) };
  } catch (error) {
    return { path: found, problems: [`${found} cannot be used: ${(error as Error).message}, so it refuses every bridge`], acl: null };
  }
}
