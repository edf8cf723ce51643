import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The real-guest kit's boot image: Debian's kernel and busybox-static, our guest agent and
 * init in an initramfs, and the prober that runs on the host side. Built from Debian's
 * packages (apt-get download, dpkg-deb -x) and cached under tmp/guest-cache/<kernel>-<hash
 * of our sources>, so one run builds it once and later runs not at all. Several test files
 * may ask at once: each builds in its own directory and renames it into place; the first
 * rename wins and the others use it.
 */

const KIT_DIR = path.dirname(fileURLToPath(import.meta.url));
const SOURCES = ['init.sh', 'guest-agent.c', 'prober.c', 'image.ts'];
/** Insmod order: each needs the ones before it. */
export const GUEST_MODULES = ['virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'failover', 'net_failover', 'virtio_net'];

export interface GuestImage {
  kernelVersion: string;
  kernel: string;
  initrd: string;
  /** The host-side UDP prober (static binary). */
  prober: string;
  dir: string;
}

export function guestCacheRoot(): string {
  return process.env.NICMIG_GUEST_CACHE ?? path.join(process.cwd(), 'tmp', 'guest-cache');
}

function run(command: string, args: string[], cwd?: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`guest image: ${command} ${args.join(' ')} failed${cwd ? ` in ${cwd}` : ''}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** The kernel package linux-image-amd64 depends on, e.g. linux-image-6.1.0-57-amd64. */
export function kernelPackage(): string {
  const out = run('apt-cache', ['depends', 'linux-image-amd64']);
  const match = /Depends: (linux-image-\d[^\s]*-amd64)/.exec(out);
  if (!match) throw new Error(`guest image: cannot resolve linux-image-amd64's kernel from apt-cache depends:\n${out}`);
  return match[1] as string;
}

function sourcesHash(): string {
  const hash = crypto.createHash('sha256');
  for (const file of SOURCES) hash.update(fs.readFileSync(path.join(KIT_DIR, file)));
  return hash.digest('hex').slice(0, 12);
}

function imageIn(dir: string, kernelVersion: string): GuestImage {
  return { kernelVersion, kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.gz'), prober: path.join(dir, 'prober'), dir };
}

/** The cached image, built first when it is not there. */
export function guestImage(): GuestImage {
  const pkg = kernelPackage();
  const kernelVersion = pkg.replace(/^linux-image-/, '');
  const root = guestCacheRoot();
  const dir = path.join(root, `${kernelVersion}-${sourcesHash()}`);
  if (fs.existsSync(path.join(dir, 'complete'))) return imageIn(dir, kernelVersion);
  fs.mkdirSync(root, { recursive: true });
  const work = fs.mkdtempSync(path.join(root, `.build-${process.pid}-`));
  try {
    build(work, pkg, kernelVersion);
    try {
      fs.renameSync(path.join(work, 'image'), dir);
    } catch (error) {
      // Another build finished first: use it.
      if (!fs.existsSync(path.join(dir, 'complete'))) throw error;
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return imageIn(dir, kernelVersion);
}

function build(work: string, pkg: string, kernelVersion: string): void {
  const downloads = path.join(work, 'debs');
  fs.mkdirSync(downloads);
  // apt-get download fetches as the _apt user when it can: let it write here.
  try {
    execFileSync('chown', ['_apt', downloads], { stdio: 'ignore' });
  } catch {
    // not root, or no _apt user: apt downloads as this user
  }
  run('apt-get', ['download', '-qq', pkg, 'busybox-static'], downloads);
  const extracted = path.join(work, 'extracted');
  for (const deb of fs.readdirSync(downloads).filter((f) => f.endsWith('.deb'))) run('dpkg-deb', ['-x', path.join(downloads, deb), extracted]);

  const image = path.join(work, 'image');
  const rootfs = path.join(work, 'rootfs');
  for (const d of ['bin', 'dev', 'proc', 'sys', 'lib/modules']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.mkdirSync(image);

  fs.copyFileSync(path.join(extracted, 'boot', `vmlinuz-${kernelVersion}`), path.join(image, 'vmlinuz'));
  fs.copyFileSync(path.join(extracted, 'bin', 'busybox'), path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);

  const modules = findModules(path.join(extracted, 'lib', 'modules', kernelVersion));
  for (const name of GUEST_MODULES) {
    const found = modules.get(name);
    if (!found) throw new Error(`guest image: module ${name} not in ${pkg}`);
    const target = path.join(rootfs, 'lib', 'modules', `${name}.ko`);
    // busybox insmod takes plain .ko only.
    const decompress = { '.xz': 'xz', '.zst': 'zstd', '.gz': 'gzip' }[path.extname(found)];
    if (decompress) fs.writeFileSync(target, execFileSync(decompress, ['-dc', found], { maxBuffer: 64 << 20 }));
    else fs.copyFileSync(found, target);
  }

  run('gcc', ['-static', '-O2', '-pthread', '-Wall', '-o', path.join(rootfs, 'bin', 'nicmig-guest'), path.join(KIT_DIR, 'guest-agent.c')]);
  run('gcc', ['-static', '-O2', '-pthread', '-Wall', '-o', path.join(image, 'prober'), path.join(KIT_DIR, 'prober.c')]);
  fs.copyFileSync(path.join(KIT_DIR, 'init.sh'), path.join(rootfs, 'init'));
  fs.chmodSync(path.join(rootfs, 'init'), 0o755);
  // The kernel opens /dev/console for init before /init mounts devtmpfs.
  run('mknod', ['-m', '600', path.join(rootfs, 'dev', 'console'), 'c', '5', '1']);

  const files = run('find', ['.'], rootfs);
  const cpio = execFileSync('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: rootfs, input: files, maxBuffer: 256 << 20 });
  fs.writeFileSync(path.join(image, 'initrd.gz'), execFileSync('gzip', ['-9n'], { input: cpio, maxBuffer: 256 << 20 }));
  fs.writeFileSync(path.join(image, 'complete'), `${pkg}\n`);
}

function findModules(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        const match = /^(.+)\.ko(\.xz|\.zst|\.gz)?$/.exec(entry.name);
        if (match) found.set(match[1] as string, full);
      }
    }
  };
  walk(dir);
  return found;
}
