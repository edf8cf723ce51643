import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import readline from 'node:readline';

/**
 * The real-guest tests' network, all inside network namespaces made here:
 *
 *   probe ns (prober 198.51.100.100) ── fabric ns: bridge br0 ──┬── host A ns: br0 (192.0.2.1) ── tap (guest on A)
 *                                                               └── host B ns: br0 (192.0.2.2) ── tap (guest on B)
 *
 * Each host is a namespace with a Linux bridge; the guest's virtio-net is a tap on its host's
 * bridge, which nicmig makes and deletes (`netdev: {type: tap}`), or which the fabric makes on
 * every host when given a name (the same on both sides, for a VM whose NIC is in qemuArgs);
 * the host bridges join the fabric's bridge by veth pairs. The hosts' own addresses
 * (192.0.2.0/24, for the migration stream) and the guest's (198.51.100.0/24) share the fabric.
 * Names carry the process id and a random tag, so parallel runs never collide; `destroy()`
 * deletes the namespaces (and with them every link in them), also on process exit.
 */

export const GUEST_SUBNET_PREFIX = '198.51.100';
export const PROBER_ADDRESS = `${GUEST_SUBNET_PREFIX}.100`;

export interface FabricHost {
  name: string;
  netns: string;
  /** The host's address on its bridge: the migration stream's endpoint. */
  address: string;
  /** The fabric bridge's port that leads to this host. */
  fabricPort: string;
}

export interface ProbeResult {
  sent: number;
  firstAnswered: number;
  received: number;
  lost: number;
  longestLossRun: number;
  duplicates: number;
  reordered: number;
  longestGapMs: number;
  gapStartMs: number;
  gapEndMs: number;
  startedMs: number;
  stoppedMs: number;
  intervalMs: number;
  maxRttMs: number;
  /** Round trip of the last reply before the longest gap: a backlog in the guest shows here. */
  gapStartRttMs: number;
  /** Where probes were lost: [first lost sequence number, how many in a row], at most 16. */
  lossRuns: [number, number][];
}

export interface RunningProber {
  /** Stops sending, waits for late replies, and returns what came back. */
  stop(): Promise<ProbeResult>;
}

export interface FdbChange {
  /** Epoch ms, from `bridge monitor`'s timestamp. */
  time: number;
  mac: string;
  port: string;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export class GuestFabric {
  readonly tag: string;
  readonly fabricNetns: string;
  readonly probeNetns: string;
  readonly hosts: FabricHost[];
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  /** `tap` is the tap interface made on every host's bridge for the guest; null: none (nicmig makes them). */
  constructor(
    hostNames: string[],
    readonly tap: string | null = 'nmtap0',
  ) {
    this.tag = `${process.pid.toString(36)}${crypto.randomBytes(2).toString('hex')}`;
    this.fabricNetns = `nicmig-${this.tag}-fabric`;
    this.probeNetns = `nicmig-${this.tag}-probe`;
    this.hosts = hostNames.map((name, index) => ({ name, netns: `nicmig-${this.tag}-${name}`, address: `192.0.2.${index + 1}`, fabricPort: `to-${name}`.slice(0, 15) }));
    live.add(this);
    try {
      ip('netns', 'add', this.fabricNetns);
      ip('-n', this.fabricNetns, 'link', 'add', 'br0', 'type', 'bridge');
      ip('-n', this.fabricNetns, 'link', 'set', 'br0', 'up');
      ip('-n', this.fabricNetns, 'link', 'set', 'lo', 'up');
      for (const [index, host] of this.hosts.entries()) {
        ip('netns', 'add', host.netns);
        ip('-n', host.netns, 'link', 'set', 'lo', 'up');
        // A fixed MAC, as a host's configured bridge has: one that follows its ports' would
        // change as taps come and go (src/hosts/taps.ts gives nicmig's taps high MACs for
        // bridges that have none; a tap made by hand here keeps the kernel's random one).
        ip('-n', host.netns, 'link', 'add', 'br0', 'address', `02:00:00:00:${(index + 1).toString(16).padStart(2, '0')}:00`, 'type', 'bridge');
        ip('-n', host.netns, 'addr', 'add', `${host.address}/24`, 'dev', 'br0');
        ip('-n', host.netns, 'link', 'set', 'br0', 'up');
        this.link(host.netns, 'uplink', host.fabricPort);
        ip('-n', host.netns, 'link', 'set', 'uplink', 'master', 'br0');
        if (tap !== null) {
          ip('-n', host.netns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
          ip('-n', host.netns, 'link', 'set', tap, 'master', 'br0');
          ip('-n', host.netns, 'link', 'set', tap, 'up');
        }
      }
      ip('netns', 'add', this.probeNetns);
      ip('-n', this.probeNetns, 'link', 'set', 'lo', 'up');
      this.link(this.probeNetns, 'eth0', 'to-probe');
      ip('-n', this.probeNetns, 'addr', 'add', `${PROBER_ADDRESS}/24`, 'dev', 'eth0');
    } catch (error) {
      this.destroy();
      throw error;
    }
  }

  /** A veth pair from `inner` in `netns` to `port` on the fabric's bridge, both up. */
  private link(netns: string, inner: string, port: string): void {
    ip('link', 'add', inner, 'netns', netns, 'type', 'veth', 'peer', 'name', port, 'netns', this.fabricNetns);
    ip('-n', this.fabricNetns, 'link', 'set', port, 'master', 'br0');
    ip('-n', this.fabricNetns, 'link', 'set', port, 'up');
    ip('-n', netns, 'link', 'set', inner, 'up');
  }

  host(name: string): FabricHost {
    const found = this.hosts.find((h) => h.name === name);
    if (!found) throw new Error(`no host ${name} in the fabric`);
    return found;
  }

  /** An interface in a host's namespace as `ip -d` shows it (kind, tap or tun, its bridge, up), or undefined when there is none. */
  linkOn(hostName: string, ifname: string): { kind?: string; tunType?: string; master?: string; up: boolean; address?: string } | undefined {
    const out = spawnSync('ip', ['-n', this.host(hostName).netns, '-j', '-d', 'link', 'show', 'dev', ifname], { encoding: 'utf8' });
    if (out.status !== 0) return undefined;
    const [link] = JSON.parse(out.stdout) as { flags?: string[]; master?: string; address?: string; linkinfo?: { info_kind?: string; info_data?: { type?: string } } }[];
    if (!link) return undefined;
    return { kind: link.linkinfo?.info_kind, tunType: link.linkinfo?.info_data?.type, master: link.master, up: (link.flags ?? []).includes('UP'), address: link.address };
  }

  /** Another Linux bridge in a host's namespace, up. */
  addBridge(hostName: string, name: string): void {
    ip('-n', this.host(hostName).netns, 'link', 'add', name, 'type', 'bridge');
    ip('-n', this.host(hostName).netns, 'link', 'set', name, 'up');
  }

  /** The taps in a host's namespace, by name. */
  tapsOn(hostName: string): string[] {
    const out = execFileSync('ip', ['-n', this.host(hostName).netns, '-j', '-d', 'link', 'show', 'type', 'tun'], { encoding: 'utf8' });
    return (JSON.parse(out) as { ifname: string }[]).map((link) => link.ifname);
  }

  /** The fabric bridge's port for a MAC address (learned entries only), or undefined. */
  fabricPortOf(mac: string): string | undefined {
    const out = execFileSync('bridge', ['-n', this.fabricNetns, '-j', 'fdb', 'show', 'br', 'br0'], { encoding: 'utf8' });
    const entries = JSON.parse(out) as { mac: string; ifname?: string; state?: string; flags?: string[] }[];
    return entries.find((e) => e.mac.toLowerCase() === mac.toLowerCase() && e.state !== 'permanent' && !(e.flags ?? []).includes('self'))?.ifname;
  }

  /**
   * Watches the fabric bridge's FDB (`bridge monitor fdb` with timestamps) until `stop()`,
   * returning each change for `mac`.
   */
  watchFdb(mac: string): { ready: Promise<void>; stop(): FdbChange[] } {
    const child = this.spawnIn(this.fabricNetns, 'bridge', ['-timestamp', 'monitor', 'fdb']);
    const changes: FdbChange[] = [];
    let stamp: number | undefined;
    const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      // "Timestamp: Tue Dec  1 06:05:00 2026 123456 usec"
      const time = /^Timestamp: (.+) (\d{4}) (\d+) usec/.exec(line);
      if (time) {
        stamp = new Date(`${time[1]} ${time[2]}`).getTime() + Number(time[3]) / 1000;
        return;
      }
      const entry = /^(?:Deleted )?([0-9a-f:]{17}) dev (\S+)/.exec(line);
      if (entry && entry[1] === mac.toLowerCase() && !line.startsWith('Deleted') && stamp !== undefined) changes.push({ time: stamp, mac, port: entry[2] as string });
    });
    // `bridge monitor` prints nothing when it is ready; a moment's spawn is all it needs, so
    // ready is when the process runs.
    const ready = new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', reject);
    });
    return {
      ready,
      stop: () => {
        child.kill('SIGTERM');
        return changes;
      },
    };
  }

  /** Starts the prober in its namespace; resolves once the first reply came back. */
  async startProber(binary: string, address: string, port: number, rateHz = 1000, options: { readyTimeoutMs?: number; drainMs?: number } = {}): Promise<RunningProber> {
    const child = this.spawnIn(this.probeNetns, binary, [address, String(port), String(rateHz), String(options.drainMs ?? 300)], true);
    const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const output: string[] = [];
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const timeoutMs = options.readyTimeoutMs ?? 20_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`prober: no reply from ${address}:${port} within ${timeoutMs} ms (${stderr.trim()})`)), timeoutMs);
      lines.on('line', (line) => {
        output.push(line);
        if (line === 'READY') {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`prober exited before a reply came back: ${stderr.trim()}`));
      });
    });
    return {
      stop: async () => {
        child.stdin?.end();
        const deadline = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(deadline);
        const json = output.find((line) => line.startsWith('{'));
        if (!json) throw new Error(`prober printed no result: ${output.join('\n')} ${stderr}`);
        return JSON.parse(json) as ProbeResult;
      },
    };
  }

  private spawnIn(netns: string, command: string, args: string[], stdin = false): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', netns, command, ...args], { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const child of this.children) child.kill('SIGKILL');
    for (const ns of [this.probeNetns, ...this.hosts.map((h) => h.netns), this.fabricNetns]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    live.delete(this);
  }
}

const live = new Set<GuestFabric>();
process.on('exit', () => {
  for (const fabric of live) fabric.destroy();
});
