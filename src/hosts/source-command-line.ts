import { ExitCode, NicmigError } from '../errors.js';
import type { VmSpec } from '../inventory/vm-spec.js';
import { expandPath } from '../inventory/vm-spec.js';

/**
 * The destination's QEMU command line, derived from the source's own
 * (docs/destination-command-line.md). Pure: the source's argv as read from
 * `/proc/<pid>/cmdline`, the VM's inventory entry and the destination's names in; the
 * destination's arguments and a line per change out, or one typed refusal that names every
 * argument that cannot be carried to another host, before anything starts.
 */

export type CommandLineErrorCode = 'COMMAND_LINE_NOT_PORTABLE' | 'COMMAND_LINE_UNREADABLE';

/** One argument of the source that cannot be carried, and why. */
export interface RefusedArgument {
  argument: string;
  reason: string;
}

/**
 * The source's command line cannot be read (no process behind the monitor can be found) or
 * cannot be carried to another host (`details.refused` names each argument and why). Exit 10:
 * nothing was started.
 */
export class CommandLineError extends NicmigError {
  constructor(code: CommandLineErrorCode, message: string, details: Record<string, unknown>, hint?: string) {
    super(code, message, ExitCode.PREFLIGHT_REFUSED, { details, ...(hint ? { hint } : {}) });
  }
}

export interface DestinationCommandLineInput {
  /** The source QEMU's argv, its binary first (as `/proc/<pid>/cmdline` has it). */
  sourceArgv: readonly string[];
  sourceHost: string;
  destinationHost: string;
  /** nicmig's monitor and pid file on the destination. */
  qmpPath: string;
  pidFile: string;
  /** The source's resolved machine type (`qom-get /machine type`), which replaces the written one. */
  machineType?: string | undefined;
  /** The VM's inventory entry: its `{host}`/`{vm}` templates and its VF devices. */
  spec: VmSpec;
  /** The destination VF's PCI address per VF device id, where the destination host knows it (for `vfio-pci host=`). */
  vfHostAddresses?: ReadonlyMap<string, string>;
}

export interface DestinationCommandLine {
  /** QEMU's arguments, without the binary: the destination host runs its own. */
  args: string[];
  /** What differs from the source's command line, one line each (for the journal and the log). */
  rewrites: string[];
}

/** `/proc/<pid>/cmdline`: arguments separated (and ended) by NUL bytes. */
export function splitCmdline(raw: string): string[] {
  const parts = raw.split('\0');
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

// --- QEMU's options ----------------------------------------------------------------------

/**
 * Options that take no value (qemu-options.hx, `DEF(name, 0, ...)`, of QEMU 7.2 to 10.0, and
 * older ones still met). Any other option QEMU knows takes one; an option in neither list is
 * refused, since nicmig cannot tell where its value ends.
 */
const FLAG_OPTIONS = new Set([
  'h', 'help', 'version', 'S', 's', 'snapshot', 'nographic', 'portrait', 'full-screen', 'no-frame', 'alt-grab', 'ctrl-grab',
  'no-quit', 'sdl', 'curses', 'win2k-hack', 'no-fd-bootchk', 'no-acpi', 'no-hpet', 'enable-kvm', 'no-kvm', 'xen-attach',
  'xen-domid-restrict', 'no-reboot', 'no-shutdown', 'singlestep', 'old-param', 'semihosting', 'daemonize', 'enable-fips',
  'enable-sync-profile', 'nodefaults', 'no-user-config', 'nodefconfig', 'mem-prealloc', 'only-migratable', 'preconfig',
  'usb', 'audio-help', 'async-teardown', 'jitdump', 'perfmap', 'virtfs_synth', 'tdf', 'localtime', 'rtc-td-hack',
  'no-kvm-irqchip', 'no-kvm-pit', 'no-kvm-pit-reinjection',
]);

/** Options with a value written in QEMU's `key=value,...` syntax (or JSON, `{...}`). */
const KEYVAL_OPTIONS = new Set([
  'M', 'machine', 'accel', 'cpu', 'smp', 'numa', 'm', 'boot', 'name', 'object', 'device', 'global', 'set', 'netdev', 'nic', 'net',
  'chardev', 'blockdev', 'drive', 'audiodev', 'audio', 'fsdev', 'virtfs', 'tpmdev', 'mon', 'rtc', 'overcommit', 'sandbox', 'msg',
  'icount', 'smbios', 'fw_cfg', 'spice', 'vnc', 'display', 'iscsi', 'add-fd', 'plugin', 'trace', 'compat', 'action', 'run-with',
  'semihosting-config', 'acpitable', 'watchdog', 'usbdevice',
  // chardev shorthands: `unix:/path,server=on,wait=off`
  'serial', 'parallel', 'monitor', 'qmp', 'qmp-pretty', 'debugcon', 'gdb',
]);

/** Options with a plain value (a path, a size, a string). */
const PLAIN_OPTIONS = new Set([
  'fda', 'fdb', 'hda', 'hdb', 'hdc', 'hdd', 'cdrom', 'mtdblock', 'sd', 'pflash', 'mem-path', 'k', 'uuid', 'bios', 'kernel', 'shim',
  'append', 'initrd', 'dtb', 'pidfile', 'd', 'D', 'dfilter', 'seed', 'L', 'option-rom', 'watchdog-action', 'echr', 'incoming',
  'chroot', 'runas', 'prom-env', 'readconfig', 'writeconfig', 'qtest', 'qtest-log', 'dump-vmstate', 'loadvm', 'xen-domid',
  'tb-size', 'g', 'rotate', 'vga', 'soundhw', 'clock', 'startdate', 'bt', 'hdachs',
]);

/** Keys that pass an open file descriptor of the source's process. */
const FD_KEYS = new Set(['fd', 'fds', 'vhostfd', 'vhostfds']);

/** The source's monitors: nicmig's is made again on the destination, the others are dropped. */
const MONITOR_OPTIONS = new Set(['qmp', 'qmp-pretty', 'monitor', 'mon']);

// --- values ------------------------------------------------------------------------------

interface KeyvalItem {
  /** undefined: a bare item, the implied first key (`tap` of `tap,id=n0`) or a boolean (`server`). */
  key: string | undefined;
  value: string;
}

type Value =
  | { kind: 'json'; data: Record<string, unknown> }
  | { kind: 'keyval'; items: KeyvalItem[] }
  | { kind: 'plain'; text: string };

/** QEMU's `key=value,...` syntax: `,,` is a comma inside a value. */
function parseKeyval(text: string): KeyvalItem[] {
  const pieces: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string;
    if (char === ',' && text[i + 1] === ',') {
      current += ',';
      i++;
    } else if (char === ',') {
      pieces.push(current);
      current = '';
    } else current += char;
  }
  pieces.push(current);
  return pieces.map((piece) => {
    const equals = piece.indexOf('=');
    return equals < 0 ? { key: undefined, value: piece } : { key: piece.slice(0, equals), value: piece.slice(equals + 1) };
  });
}

function writeKeyval(items: readonly KeyvalItem[]): string {
  const escape = (text: string) => text.replaceAll(',', ',,');
  return items.map((item) => (item.key === undefined ? escape(item.value) : `${item.key}=${escape(item.value)}`)).join(',');
}

function parseValue(option: string | undefined, text: string): Value {
  if (option !== undefined && KEYVAL_OPTIONS.has(option)) {
    if (text.startsWith('{')) {
      try {
        const data: unknown = JSON.parse(text);
        if (data !== null && typeof data === 'object' && !Array.isArray(data)) return { kind: 'json', data: data as Record<string, unknown> };
      } catch {
        // not JSON after all: QEMU would read it as key=value too
      }
    }
    return { kind: 'keyval', items: parseKeyval(text) };
  }
  return { kind: 'plain', text };
}

function writeValue(value: Value): string {
  switch (value.kind) {
    case 'json':
      return JSON.stringify(value.data);
    case 'keyval':
      return writeKeyval(value.items);
    case 'plain':
      return value.text;
  }
}

/** The value of `key` (the bare first item for the implied key), if any. */
function getProperty(value: Value, key: string, impliedKey?: string): string | undefined {
  if (value.kind === 'json') {
    const found = value.data[key];
    return found === undefined || found === null ? undefined : String(found);
  }
  if (value.kind === 'plain') return undefined;
  const keyed = value.items.find((item) => item.key === key);
  if (keyed) return keyed.value;
  const first = value.items[0];
  if (impliedKey === key && first && first.key === undefined) return first.value;
  return undefined;
}

/** Sets `key` (in place of the implied first item when that is where it is written). */
function setProperty(value: Value, key: string, text: string, impliedKey?: string): void {
  if (value.kind === 'json') {
    const old = value.data[key];
    value.data[key] = typeof old === 'number' && /^\d+$/.test(text) ? Number(text) : text;
    return;
  }
  if (value.kind === 'plain') return;
  const keyed = value.items.find((item) => item.key === key);
  const first = value.items[0];
  if (keyed) keyed.value = text;
  else if (impliedKey === key && first && first.key === undefined) first.value = text;
  else value.items.push({ key, value: text });
}

function deleteProperty(value: Value, key: string): void {
  if (value.kind === 'json') delete value.data[key];
  else if (value.kind === 'keyval') value.items = value.items.filter((item) => item.key !== key);
}

/** Every (key, string) leaf of a value: keyval items, JSON members at any depth. */
function* leaves(value: Value): Generator<{ key: string | undefined; text: string; set: (text: string) => void }> {
  if (value.kind === 'plain') {
    yield { key: undefined, text: value.text, set: (text) => (value.text = text) };
    return;
  }
  if (value.kind === 'keyval') {
    for (const item of value.items) yield { key: item.key, text: item.value, set: (text) => (item.value = text) };
    return;
  }
  function* walk(node: unknown, key: string | undefined, set: (v: unknown) => void): Generator<{ key: string | undefined; text: string; set: (text: string) => void }> {
    if (typeof node === 'string') yield { key, text: node, set };
    else if (typeof node === 'number' && key !== undefined && FD_KEYS.has(key)) yield { key, text: String(node), set };
    else if (Array.isArray(node)) for (let i = 0; i < node.length; i++) yield* walk(node[i], key, (v) => (node[i] = v));
    else if (node !== null && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      for (const name of Object.keys(record)) yield* walk(record[name], name, (v) => (record[name] = v));
    }
  }
  yield* walk(value.data, undefined, () => undefined);
}

// --- the source's arguments ---------------------------------------------------------------

interface SourceArgument {
  /** The option without its dashes (`netdev`); undefined for a bare argument (a disk image, as `-hda`). */
  option: string | undefined;
  /** As written: `-netdev`, `--netdev`. */
  written: string;
  /** Its value as written; undefined for a flag. */
  text: string | undefined;
  value: Value | undefined;
}

function describe(argument: SourceArgument): string {
  if (argument.option === undefined) return argument.text ?? '';
  return argument.text === undefined ? argument.written : `${argument.written} ${argument.text}`;
}

function parseArguments(args: readonly string[], refused: RefusedArgument[]): SourceArgument[] {
  const parsed: SourceArgument[] = [];
  for (let i = 0; i < args.length; i++) {
    const written = args[i] as string;
    if (!written.startsWith('-') || written === '-') {
      parsed.push({ option: undefined, written, text: written, value: parseValue(undefined, written) });
      continue;
    }
    const option = written.replace(/^--?/, '');
    if (FLAG_OPTIONS.has(option)) {
      parsed.push({ option, written, text: undefined, value: undefined });
      continue;
    }
    if (!KEYVAL_OPTIONS.has(option) && !PLAIN_OPTIONS.has(option)) {
      refused.push({ argument: written, reason: 'an option nicmig does not know: it cannot tell whether it takes a value, nor whether it can be carried to another host' });
      // Assume a value, so that one unknown option does not hide the rest.
    }
    const text = args[i + 1];
    if (text === undefined) {
      refused.push({ argument: written, reason: 'the last argument, without the value it takes' });
      break;
    }
    i++;
    parsed.push({ option, written, text, value: parseValue(option, text) });
  }
  return parsed;
}

// --- templates ---------------------------------------------------------------------------

/** The inventory's strings with `{host}` or `{vm}`: the memory file, device fields, `qemuArgs` and the values inside them. */
function templatesOf(spec: VmSpec): string[] {
  const found = new Set<string>();
  const add = (text: string) => {
    if (text.includes('{host}') || text.includes('{vm}')) found.add(text);
  };
  if (spec.memoryBackend.type === 'file') add(spec.memoryBackend.path);
  const walk = (node: unknown) => {
    if (typeof node === 'string') add(node);
    else if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === 'object') Object.values(node).forEach(walk);
  };
  walk(spec.devices);
  for (const arg of spec.qemuArgs) {
    add(arg);
    const value = parseValue(arg.startsWith('{') ? 'object' : 'netdev', arg);
    for (const leaf of leaves(value)) add(leaf.text);
  }
  return [...found];
}

/** Source host's expansion -> destination host's, for each template whose two differ. */
function templateMap(spec: VmSpec, sourceHost: string, destinationHost: string): Map<string, { to: string; template: string }> {
  const map = new Map<string, { to: string; template: string }>();
  for (const template of templatesOf(spec)) {
    const from = expandPath(template, sourceHost, spec.name);
    const to = expandPath(template, destinationHost, spec.name);
    if (from !== to && !map.has(from)) map.set(from, { to, template });
  }
  return map;
}

/** The destination's text for `text`: a template's expansion, whole or after a chardev prefix (`unix:`), or undefined. */
function mapText(text: string, map: ReadonlyMap<string, { to: string; template: string }>): { to: string; template: string } | undefined {
  const whole = map.get(text);
  if (whole) return whole;
  const prefixed = /^([a-z]+:)(.+)$/.exec(text);
  const rest = prefixed ? map.get(prefixed[2] as string) : undefined;
  return rest && prefixed ? { to: `${prefixed[1]}${rest.to}`, template: rest.template } : undefined;
}

// --- the rewrite -------------------------------------------------------------------------

/**
 * The destination's arguments from the source's: see docs/destination-command-line.md for
 * each rewrite and each refusal. Throws CommandLineError (COMMAND_LINE_NOT_PORTABLE) naming
 * every argument that cannot be carried.
 */
export function destinationCommandLine(input: DestinationCommandLineInput): DestinationCommandLine {
  const refused: RefusedArgument[] = [];
  const rewrites: string[] = [];
  const source = parseArguments(input.sourceArgv.slice(1), refused);

  // The source's monitors go; chardevs that only served a monitor (`-mon chardev=X`) go with them.
  const monitorChardevs = new Set<string>();
  for (const argument of source) {
    if (argument.option === 'mon' && argument.value) {
      const chardev = getProperty(argument.value, 'chardev', 'chardev');
      if (chardev) monitorChardevs.add(chardev);
    }
  }
  const chardevUsers = new Set<string>();
  for (const argument of source) {
    if (!argument.value || argument.option === 'mon' || argument.option === 'chardev') continue;
    for (const leaf of leaves(argument.value)) {
      if (leaf.key === 'chardev') chardevUsers.add(leaf.text);
      const shorthand = /^chardev:(.+)$/.exec(leaf.text);
      if (shorthand) chardevUsers.add(shorthand[1] as string);
    }
  }

  const templates = templateMap(input.spec, input.sourceHost, input.destinationHost);
  const args: string[] = [];
  let machineTyped = false;
  for (const argument of source) {
    const option = argument.option;
    const what = describe(argument);
    if (option !== undefined && MONITOR_OPTIONS.has(option)) {
      rewrites.push(`${what}: dropped (the destination has nicmig's monitor only)`);
      continue;
    }
    if (option === 'chardev' && argument.value) {
      const id = getProperty(argument.value, 'id');
      if (id && monitorChardevs.has(id) && !chardevUsers.has(id)) {
        rewrites.push(`${what}: dropped (the chardev of a monitor of the source)`);
        continue;
      }
    }
    switch (option) {
      case 'daemonize':
        rewrites.push(`${what}: dropped (nicmig supervises the destination; its stderr goes to the VM's log)`);
        continue;
      case 'pidfile':
        rewrites.push(`${what}: replaced by -pidfile ${input.pidFile}`);
        continue;
      case 'S':
      case 'incoming':
        // The source's own start (paused, or as an earlier migration's destination) is over.
        rewrites.push(`${what}: dropped (the destination starts -S -incoming defer)`);
        continue;
      case 'loadvm':
        rewrites.push(`${what}: dropped (the state comes from the stream; loading the snapshot again would revert a shared disk)`);
        continue;
      case 'snapshot':
        refused.push({ argument: what, reason: "the guest's disk writes go to temporary files on the source host, which the destination cannot see" });
        continue;
      case 'readconfig':
        refused.push({ argument: what, reason: 'the configuration in that file is not on the command line, so nicmig cannot carry or rewrite it' });
        continue;
      case 'preconfig':
        refused.push({ argument: what, reason: 'the configuration the source was given over QMP before it started is not on the command line' });
        continue;
      case 'add-fd':
        refused.push({ argument: what, reason: 'passes an open file descriptor that only the source QEMU process holds' });
        continue;
    }
    const value = argument.value;
    if (!value || argument.text === undefined) {
      args.push(argument.written);
      continue;
    }
    refusePassedFds(argument, refused);
    const notes: string[] = [];
    // A whole argument that is a template's expansion (a `qemuArgs` entry), else each value inside it.
    const whole = mapText(argument.text, templates);
    let text: string;
    if (whole) {
      text = whole.to;
      notes.push(`-> ${whole.to} (inventory template ${whole.template})`);
    } else {
      for (const leaf of leaves(value)) {
        const mapped = mapText(leaf.text, templates);
        if (!mapped) continue;
        notes.push(`${leaf.key ?? 'value'} ${leaf.text} -> ${mapped.to} (inventory template ${mapped.template})`);
        leaf.set(mapped.to);
      }
      if (option === 'machine' || option === 'M') machineTyped = rewriteMachine(value, input.machineType, notes) || machineTyped;
      if (option === 'device') rewriteVfDevice(argument, value, input, notes, refused);
      text = notes.length > 0 ? writeValue(value) : argument.text;
    }
    if (notes.length > 0) rewrites.push(`${what}: ${notes.join('; ')}`);
    if (option !== undefined) args.push(argument.written);
    args.push(text);
  }
  if (input.machineType && !machineTyped) {
    args.push('-machine', input.machineType);
    rewrites.push(`-machine ${input.machineType}: added (the source's resolved type; its command line names none)`);
  }

  if (refused.length > 0) {
    const list = refused.map((r) => `${r.argument}: ${r.reason}`).join('; ');
    throw new CommandLineError(
      'COMMAND_LINE_NOT_PORTABLE',
      `the command line of '${input.spec.name}' on ${input.sourceHost} cannot be carried to ${input.destinationHost}: ${list}`,
      { vm: input.spec.name, from: input.sourceHost, to: input.destinationHost, refused },
      'nothing was started; restart the VM without these arguments (docs/destination-command-line.md says what can be carried)',
    );
  }
  const added = ['-qmp', `unix:${input.qmpPath},server=on,wait=off`, '-pidfile', input.pidFile, '-S', '-incoming', 'defer'];
  rewrites.push(`${added.join(' ')}: added`);
  return { args: [...args, ...added], rewrites };
}

/** fd=, fds=, vhostfd=, vhostfds= and /dev/fdset/ paths: descriptors of the source's process. */
function refusePassedFds(argument: SourceArgument, refused: RefusedArgument[]): void {
  if (!argument.value) return;
  for (const leaf of leaves(argument.value)) {
    if (leaf.key !== undefined && FD_KEYS.has(leaf.key)) {
      refused.push({ argument: describe(argument), reason: `passes an open file descriptor (${leaf.key}=${leaf.text}) that only the source QEMU process holds` });
      return;
    }
    if (leaf.text.startsWith('/dev/fdset/')) {
      refused.push({ argument: describe(argument), reason: `opens ${leaf.text}, a file descriptor set passed to the source QEMU process only` });
      return;
    }
  }
  if (argument.option === 'drive' && /^(on|yes|true)$/.test(getProperty(argument.value, 'snapshot') ?? '')) {
    refused.push({ argument: describe(argument), reason: "snapshot=on: the disk's writes go to a temporary file on the source host, which the destination cannot see" });
  }
}

/** The written machine type (implied first item or `type=`) becomes the source's resolved one; true when a type was written. */
function rewriteMachine(value: Value, machineType: string | undefined, notes: string[]): boolean {
  const written = getProperty(value, 'type', 'type');
  if (written === undefined) return false;
  if (machineType && written !== machineType) {
    setProperty(value, 'type', machineType, 'type');
    notes.push(`type ${written} -> ${machineType} (the source's resolved type)`);
  }
  return true;
}

/** The VF's host side: `vfio-i40evf` pf=/vf= from the inventory's device, `vfio-pci` host= from the destination's VF. */
function rewriteVfDevice(argument: SourceArgument, value: Value, input: DestinationCommandLineInput, notes: string[], refused: RefusedArgument[]): void {
  const driver = getProperty(value, 'driver', 'driver');
  if (driver !== 'vfio-i40evf' && driver !== 'vfio-pci') return;
  const id = getProperty(value, 'id');
  const device = input.spec.devices.find((d) => d.type === 'vfio-i40evf' && d.id === id);
  if (driver === 'vfio-i40evf') {
    if (!device || device.type !== 'vfio-i40evf') {
      refused.push({ argument: describe(argument), reason: `a VF device${id ? ` '${id}'` : ' without an id'} that the inventory's entry for '${input.spec.name}' does not list, so nicmig cannot choose its VF on ${input.destinationHost}` });
      return;
    }
    for (const [key, wanted] of [['pf', expandPath(device.pf, input.destinationHost, input.spec.name)], ['vf', String(device.vf)]] as const) {
      const old = getProperty(value, key);
      if (old === wanted) continue;
      setProperty(value, key, wanted);
      notes.push(`${key} ${old ?? '(none)'} -> ${wanted} (the inventory's VF on ${input.destinationHost})`);
    }
    return;
  }
  const address = id ? input.vfHostAddresses?.get(id) : undefined;
  const old = getProperty(value, 'host') ?? getProperty(value, 'sysfsdev');
  if (old === undefined) return;
  if (!address) {
    refused.push({
      argument: describe(argument),
      reason: `passes the source host's PCI function ${old}; nicmig knows no VF on ${input.destinationHost} for it (list it in the inventory as a vfio-i40evf device${id ? ` with id '${id}'` : ''}, its pf and a numbered vf)`,
    });
    return;
  }
  deleteProperty(value, 'sysfsdev');
  setProperty(value, 'host', address);
  notes.push(`host ${old} -> ${address} (the destination's VF)`);
}
