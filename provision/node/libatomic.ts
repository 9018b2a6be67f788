// libatomic.so.1 for the Pis, beside the Node.js builds in .cache/node/. The official arm64 and armv7l
// builds link it (Debian's libatomic1); Raspberry Pi OS ships it, a minimal Debian does not. So the card
// carries a copy, which install.sh installs only when the Pi lacks it. Taken from Debian's cross package
// for that architecture (`apt-get download libatomic1-arm64-cross`, `dpkg-deb -x`: no root), checked to
// be an ARM ELF shared object of the right class, cached as libatomic-<arch>.so.1 with a .sha256, and
// reused offline. When it cannot be had, the caller says so: the Pi's image must then provide it.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../flash/run.ts';
import { nodeCacheDir } from './index.ts';

export const LIBATOMIC_ARCHES = ['arm64', 'armv7l'] as const;
export type LibatomicArch = (typeof LIBATOMIC_ARCHES)[number];

/** Debian's cross package, the folder in it, and what the ELF header must say, per Node.js architecture. */
export const LIBATOMIC_SOURCES: Record<
  LibatomicArch,
  { debianPackage: string; dir: string; elfClass: 1 | 2; machine: number; machineName: string }
> = {
  arm64: {
    debianPackage: 'libatomic1-arm64-cross',
    dir: 'usr/aarch64-linux-gnu/lib',
    elfClass: 2,
    machine: 183, // EM_AARCH64
    machineName: 'ELF 64-bit ARM aarch64',
  },
  armv7l: {
    debianPackage: 'libatomic1-armhf-cross',
    dir: 'usr/arm-linux-gnueabihf/lib',
    elfClass: 1,
    machine: 40, // EM_ARM
    machineName: 'ELF 32-bit ARM (EABI5, hard-float)',
  },
};

export interface Libatomic {
  arch: LibatomicArch;
  /** In the cache: libatomic-<arch>.so.1, with `${file}.sha256` beside it. */
  file: string;
  data: Buffer;
  sha256: string;
  /** Where it came from: "cache", or "Debian libatomic1-arm64-cross 12.2.0-14cross1". */
  source: string;
}

/** Not available: why, in words for the output. */
export interface LibatomicMissing {
  arch: LibatomicArch;
  missing: string;
}

export interface LibatomicOptions {
  cacheDir?: string;
  log?: (line: string) => void;
  /** Only the cache: no apt-get. */
  offline?: boolean;
}

export const libatomicCacheName = (arch: LibatomicArch) => `libatomic-${arch}.so.1`;

/** What the ELF header says is wrong for `arch`, or undefined when it is a shared object for it. */
export function libatomicProblem(data: Buffer, arch: LibatomicArch): string | undefined {
  const want = LIBATOMIC_SOURCES[arch];
  if (data.length < 52 || data.readUInt32BE(0) !== 0x7f454c46) return 'not an ELF file';
  const elfClass = data[4];
  if (elfClass !== want.elfClass) {
    return `an ELF ${elfClass === 1 ? '32' : elfClass === 2 ? '64' : '?'}-bit file, not ${want.elfClass === 1 ? '32' : '64'}-bit`;
  }
  if (data[5] !== 1) return 'not little-endian';
  const type = data.readUInt16LE(16);
  if (type !== 3) return `ELF type ${type}, not a shared object (3)`;
  const machine = data.readUInt16LE(18);
  if (machine !== want.machine) return `ELF machine ${machine}, not ${want.machine} (${want.machineName})`;
  if (arch === 'armv7l') {
    const flags = data.readUInt32LE(36);
    // EF_ARM_ABI_FLOAT_HARD: Node's armv7l build is gnueabihf.
    if ((flags & 0x400) === 0) return `ARM ELF flags 0x${flags.toString(16)}: not hard-float`;
  }
  return undefined;
}

const sha256Of = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The cached copy when it is whole and right for `arch`. */
async function cached(dir: string, arch: LibatomicArch): Promise<Libatomic | undefined> {
  const file = path.join(dir, libatomicCacheName(arch));
  try {
    const [data, sum] = await Promise.all([readFile(file), readFile(`${file}.sha256`, 'utf8')]);
    const sha256 = sha256Of(data);
    if (sum.split(/\s+/)[0] !== sha256 || libatomicProblem(data, arch)) return undefined;
    return { arch, file, data, sha256, source: 'cache' };
  } catch {
    return undefined;
  }
}

/** libatomic.so.1 for `arch`, from the cache or fetched into it; otherwise why not (never throws for that). */
export async function libatomic(
  arch: LibatomicArch,
  options: LibatomicOptions = {},
): Promise<Libatomic | LibatomicMissing> {
  const dir = options.cacheDir ?? nodeCacheDir;
  const log = options.log ?? (() => {});
  const hit = await cached(dir, arch);
  if (hit) return hit;
  if (options.offline) return { arch, missing: `none cached in ${dir}, and offline` };
  const { debianPackage, dir: libDir } = LIBATOMIC_SOURCES[arch];
  let staging: string | undefined;
  try {
    await mkdir(dir, { recursive: true });
    staging = await mkdtemp(path.join(dir, '.libatomic-'));
    log(
      `fetching libatomic.so.1 for ${arch} with apt-get download ${debianPackage} (once: kept in ${dir})...`,
    );
    const got = await run('apt-get', ['download', '-q', debianPackage], { timeoutMs: 120_000, cwd: staging });
    const debs = (await readdir(staging)).filter((name) => name.endsWith('.deb'));
    if (got.code !== 0 || debs.length !== 1) {
      const said = got.stderr
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line.startsWith('E:'))
        .join(' ');
      return {
        arch,
        missing: `apt-get download ${debianPackage} failed${got.timedOut ? ' (timed out)' : ''}: ${said || got.stderr.trim().split('\n').at(-1) || `exit ${got.code}`}`,
      };
    }
    const deb = debs[0]!;
    const tree = path.join(staging, 'tree');
    const unpacked = await run('dpkg-deb', ['-x', deb, tree], { cwd: staging });
    if (unpacked.code !== 0) {
      return {
        arch,
        missing: `dpkg-deb -x ${deb} failed: ${unpacked.stderr.trim() || `exit ${unpacked.code}`}`,
      };
    }
    const names = (await readdir(path.join(tree, libDir)).catch(() => [] as string[])).filter((name) =>
      /^libatomic\.so\.1\.\d+\.\d+$/.test(name),
    );
    if (names.length !== 1) {
      return {
        arch,
        missing: `${deb} has no ${libDir}/libatomic.so.1.x.y (found: ${names.join(', ') || 'none'})`,
      };
    }
    const data = await readFile(path.join(tree, libDir, names[0]!));
    const problem = libatomicProblem(data, arch);
    if (problem) return { arch, missing: `${deb}'s ${names[0]} is ${problem}` };
    const sha256 = sha256Of(data);
    const file = path.join(dir, libatomicCacheName(arch));
    await writeFile(path.join(staging, 'lib'), data);
    await writeFile(path.join(staging, 'sum'), `${sha256}  ${path.basename(file)}\n`);
    await rename(path.join(staging, 'lib'), file);
    await rename(path.join(staging, 'sum'), `${file}.sha256`);
    const version = /^[^_]+_([^_]+)_/.exec(deb)?.[1] ?? '';
    const source = `Debian ${debianPackage} ${version}`.trim();
    log(`fetched libatomic.so.1 for ${arch} (${names[0]}, ${data.length} bytes) from ${source}`);
    return { arch, file, data, sha256, source };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return {
      arch,
      missing:
        code === 'ENOENT'
          ? `apt-get and dpkg-deb are needed to fetch ${debianPackage} (not a Debian machine?)`
          : `could not fetch ${debianPackage}: ${(error as Error).message}`,
    };
  } finally {
    if (staging) await rm(staging, { recursive: true, force: true });
  }
}
