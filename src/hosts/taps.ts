import { execa } from 'execa';

/**
 * The tap interfaces of `netdev: {type: tap}` NICs on a host: made and attached to their bridge
 * before QEMU starts, deleted once that host's QEMU is gone. In the host's network namespace
 * when it has one (`ip -n`). The command lines are pure; `TapRunner` runs them.
 */

export interface TapSpec {
  ifname: string;
  bridge: string;
  /** The guest NIC's MAC: the tap gets it with its first byte 0xfe (tapMac). */
  mac?: string;
}

/**
 * The tap's own MAC: the guest's with the first byte 0xfe, as libvirt does. A Linux bridge
 * whose MAC was not set takes the lowest of its ports'; a tap with the kernel's random MAC can
 * be lower than the uplink's, and then the bridge's MAC, and the host's address on it, change
 * each time a tap comes or goes: peers' ARP entries go stale, and the next migration's TCP
 * connect to that host timed out (seen here, 2 minutes). 0xfe is above any port's own.
 */
export function tapMac(guestMac: string): string {
  return `fe${guestMac.toLowerCase().slice(2)}`;
}

/** `ip` itself, or `ip -n <netns>` for a host that is a network namespace. */
function ip(netns: string | undefined, ...args: string[]): string[] {
  return netns === undefined ? ['ip', ...args] : ['ip', '-n', netns, ...args];
}

/** Makes the tap (a persistent one, which QEMU opens by name). */
export function tapAddCommand(tap: TapSpec, netns?: string): string[] {
  return ip(netns, 'tuntap', 'add', 'dev', tap.ifname, 'mode', 'tap');
}

/** Gives it its MAC (tapMac), attaches it to its bridge and sets it up. */
export function tapAttachCommand(tap: TapSpec, netns?: string): string[] {
  return ip(netns, 'link', 'set', 'dev', tap.ifname, ...(tap.mac ? ['address', tapMac(tap.mac)] : []), 'master', tap.bridge, 'up');
}

export function tapDeleteCommand(ifname: string, netns?: string): string[] {
  return ip(netns, 'link', 'del', 'dev', ifname);
}

export function linkShowCommand(ifname: string, netns?: string): string[] {
  return ip(netns, '-j', '-d', 'link', 'show', 'dev', ifname);
}

export function bridgesCommand(netns?: string): string[] {
  return ip(netns, '-j', 'link', 'show', 'type', 'bridge');
}

/** An interface as `ip -j -d link show` describes it; what nicmig reads of it. */
export interface LinkFacts {
  ifname: string;
  /** `tun` for a tap. */
  kind: string | undefined;
  /** `tap` or `tun`. */
  tunType: string | undefined;
  master: string | undefined;
  up: boolean;
}

/** Parses `ip -j -d link show dev X`'s output. Pure. */
export function parseLinkShow(json: string): LinkFacts | undefined {
  const [link] = JSON.parse(json) as { ifname: string; flags?: string[]; master?: string; linkinfo?: { info_kind?: string; info_data?: { type?: string } } }[];
  if (!link) return undefined;
  return { ifname: link.ifname, kind: link.linkinfo?.info_kind, tunType: link.linkinfo?.info_data?.type, master: link.master, up: (link.flags ?? []).includes('UP') };
}

/** Parses `ip -j link show type bridge`'s output: the bridges' names. Pure. */
export function parseBridges(json: string): string[] {
  return (JSON.parse(json) as { ifname: string }[]).map((link) => link.ifname);
}

/** Runs the tap commands of one host; its errors are plain, the caller says what failed (VmStartError at a start). */
export class TapRunner {
  constructor(
    /** The host's network namespace, if it is one. */
    private readonly netns: string | undefined,
    /** The host's name, for messages. */
    private readonly host: string,
  ) {}

  private async run(command: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
    const [file, ...args] = command as [string, ...string[]];
    const result = await execa(file, args, { reject: false, timeout: 10_000, stdin: 'ignore' });
    return { ok: result.exitCode === 0, stdout: String(result.stdout), stderr: String(result.stderr).trim() || (result.failed ? (result.shortMessage ?? 'failed') : '') };
  }

  /** The interface, or undefined when there is none of that name. */
  async link(ifname: string): Promise<LinkFacts | undefined> {
    const result = await this.run(linkShowCommand(ifname, this.netns));
    return result.ok ? parseLinkShow(result.stdout) : undefined;
  }

  /** The host's Linux bridges. */
  async bridges(): Promise<string[]> {
    const result = await this.run(bridgesCommand(this.netns));
    if (!result.ok) throw new Error(`cannot list the bridges of ${this.host}: ${result.stderr}`);
    return parseBridges(result.stdout);
  }

  /**
   * Makes each tap (or takes over one left by an earlier run) and attaches it to its bridge, up.
   * All or nothing: on a failure the taps made here are deleted again and the error names the
   * host, the tap and the bridge. Resolves with the taps' names.
   */
  async create(taps: readonly TapSpec[]): Promise<string[]> {
    const made: string[] = [];
    try {
      for (const tap of taps) {
        const existing = await this.link(tap.ifname);
        if (existing && !(existing.kind === 'tun' && existing.tunType === 'tap')) {
          throw new Error(`${tap.ifname} exists on ${this.host} and is not a tap (${existing.kind ?? 'a plain interface'})`);
        }
        if (!existing) {
          const added = await this.run(tapAddCommand(tap, this.netns));
          if (!added.ok) throw new Error(`cannot make tap ${tap.ifname} on ${this.host}: ${added.stderr}`);
          made.push(tap.ifname);
        }
        const attached = await this.run(tapAttachCommand(tap, this.netns));
        if (!attached.ok) throw new Error(`cannot attach tap ${tap.ifname} to bridge ${tap.bridge} on ${this.host}: ${attached.stderr}`);
      }
    } catch (error) {
      await this.remove(made).catch(() => undefined);
      throw error;
    }
    return taps.map((tap) => tap.ifname);
  }

  /** Deletes the taps that exist of these; resolves with those it deleted. */
  async remove(ifnames: readonly string[]): Promise<string[]> {
    const removed: string[] = [];
    const failures: string[] = [];
    for (const ifname of ifnames) {
      const existing = await this.link(ifname);
      if (!existing) continue;
      if (!(existing.kind === 'tun' && existing.tunType === 'tap')) {
        failures.push(`${ifname} on ${this.host} is not a tap (${existing.kind ?? 'a plain interface'}): left alone`);
        continue;
      }
      const deleted = await this.run(tapDeleteCommand(ifname, this.netns));
      if (deleted.ok) removed.push(ifname);
      else failures.push(`cannot delete tap ${ifname} on ${this.host}: ${deleted.stderr}`);
    }
    if (failures.length > 0) throw new Error(failures.join('; '));
    return removed;
  }
}
