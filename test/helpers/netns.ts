import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';

/**
 * Two network namespaces joined by a veth pair, each a "host" with its own address
 * (192.0.2.1 and 192.0.2.2, TEST-NET-1, reachable only between the two). Removed by
 * `destroy()`, and on process exit if a test died first.
 */
export class NetnsPair {
  readonly a: string;
  readonly b: string;
  readonly addressA = '192.0.2.1';
  readonly addressB = '192.0.2.2';
  private destroyed = false;

  constructor() {
    const id = crypto.randomBytes(3).toString('hex');
    this.a = `nicmig-${id}-a`;
    this.b = `nicmig-${id}-b`;
    live.add(this);
    try {
      const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
      ip('netns', 'add', this.a);
      ip('netns', 'add', this.b);
      ip('link', 'add', `nm${id}a`, 'type', 'veth', 'peer', 'name', `nm${id}b`);
      ip('link', 'set', `nm${id}a`, 'netns', this.a);
      ip('link', 'set', `nm${id}b`, 'netns', this.b);
      ip('-n', this.a, 'addr', 'add', `${this.addressA}/24`, 'dev', `nm${id}a`);
      ip('-n', this.b, 'addr', 'add', `${this.addressB}/24`, 'dev', `nm${id}b`);
      for (const [ns, dev] of [
        [this.a, `nm${id}a`],
        [this.b, `nm${id}b`],
      ] as const) {
        ip('-n', ns, 'link', 'set', dev, 'up');
        ip('-n', ns, 'link', 'set', 'lo', 'up');
      }
      this.interfaceB = `nm${id}b`;
    } catch (error) {
      this.destroy();
      throw error;
    }
  }

  readonly interfaceB: string = '';

  /** Bytes received on host B's interface (the migration stream arrives there). */
  receivedBytesB(): number {
    const out = execFileSync('ip', ['-n', this.b, '-s', '-j', 'link', 'show', this.interfaceB], { encoding: 'utf8' });
    const [link] = JSON.parse(out) as { stats64?: { rx?: { bytes?: number } } }[];
    return link?.stats64?.rx?.bytes ?? 0;
  }

  /** The namespace a process runs in, by name, or undefined. */
  static namespaceOf(pid: number): string | undefined {
    const out = spawnSync('ip', ['netns', 'identify', String(pid)], { encoding: 'utf8' });
    return out.stdout.trim() || undefined;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const ns of [this.a, this.b]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    live.delete(this);
  }
}

/** Whether this process may make network namespaces (root with iproute2). */
export function netnsAvailable(): boolean {
  const probe = `nicmig-probe-${process.pid}`;
  const added = spawnSync('ip', ['netns', 'add', probe], { stdio: 'ignore' });
  if (added.status !== 0) return false;
  spawnSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
  return true;
}

const live = new Set<NetnsPair>();
process.on('exit', () => {
  for (const pair of live) pair.destroy();
});
