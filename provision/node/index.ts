// The control host's cache of official Node.js builds for the Pis (.cache/node/): fetched once from the
// npm registry (`npm pack node-linux-<arch>@<version>`, the same binaries as nodejs.org's), checked
// against the registry's integrity, a `.sha256` written beside each, and reused for every card and Pi.
// Offline it uses what is cached; with nothing cached it says so, and what to do.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { projectRoot } from '../stores/paths.ts';
import {
  chooseVersion,
  MIN_NODE_MAJOR,
  type NodeArch,
  type NodePin,
  nodePackage,
  parsePin,
  parseVersion,
  type Version,
  versionsFromTime,
} from './versions.ts';

export * from './versions.ts';

export const nodeCacheDir = path.join(projectRoot, '.cache', 'node');

export interface NodeBuild {
  version: string;
  arch: NodeArch;
  /** The package as npm packs it (package/bin/node inside), in the cache. */
  file: string;
  /** Hex SHA-256 of `file`; also in `${file}.sha256`, as `sha256sum -c` reads it. */
  sha256: string;
  bytes: number;
  lts: boolean;
  endOfLife: boolean;
  /** The end of life of its line (Node's schedule), YYYY-MM-DD. */
  endOfLifeDate: string;
  /** Why this version: "the newest LTS line (26.x)", "pinned", ... */
  reason: string;
  /** Where it came from this time. */
  source: 'cache' | 'npm';
}

export interface NodeBuildOptions {
  /** A major ("22") or an exact version ("22.11.0"); default: see versions.ts chooseVersion. */
  version?: string;
  cacheDir?: string;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Do not ask npm at all: only the cache. */
  offline?: boolean;
  /** How long npm's list of versions is reused before asking again; default 1 hour. */
  listMaxAgeMs?: number;
  now?: Date;
}

/** Nothing usable: the message says why and what to do. `field` names the setting when it was a bad pin. */
export class NodeBuildError extends Error {
  override readonly name = 'NodeBuildError';
  constructor(
    message: string,
    readonly hint: string,
    readonly field?: 'version',
  ) {
    super(message);
  }
}

/** The name of a build on a card or a Pi: nodejs.org's (node-v22.11.0-linux-arm64) plus .tgz. */
export const buildFileName = (version: string, arch: NodeArch) => `node-v${version}-linux-${arch}.tgz`;
const cacheFileName = (version: string, arch: NodeArch) => `${nodePackage(arch)}-${version}.tgz`;

/** The build of Node.js for `arch`, from the cache or fetched into it. Throws a NodeBuildError. */
export async function nodeBuild(arch: NodeArch, options: NodeBuildOptions = {}): Promise<NodeBuild> {
  const dir = options.cacheDir ?? nodeCacheDir;
  const log = options.log ?? (() => {});
  const now = options.now ?? new Date();
  let pin: NodePin | undefined;
  if (options.version !== undefined) {
    const parsed = parsePin(options.version);
    if ('problem' in parsed) {
      throw new NodeBuildError(
        `${JSON.stringify(options.version)} is not ${parsed.problem}`,
        'give a version such as 22 or 22.11.0',
        'version',
      );
    }
    pin = parsed;
  }
  await mkdir(dir, { recursive: true });

  // An exact pin that is cached needs no registry at all.
  if (pin?.exact) {
    const cached = await cachedBuild(dir, arch, pin.exact);
    if (cached) return describe(arch, [parseVersion(pin.exact)!], pin, now, cached, 'cache');
  }

  let available: Version[] | undefined;
  let npmProblem: string | undefined;
  if (!options.offline) {
    try {
      available = await listVersions(dir, arch, options.listMaxAgeMs ?? 3_600_000, log);
    } catch (error) {
      npmProblem = (error as Error).message;
    }
  } else npmProblem = 'offline';

  if (!available) {
    const cached = await cachedVersions(dir, arch);
    if (cached.length === 0) {
      throw new NodeBuildError(
        `no Node.js build for ${arch} in ${path.relative(process.cwd(), dir) || dir}, and npm could not be asked (${npmProblem})`,
        `connect this machine to the internet once and run it again (it fetches ${nodePackage(arch)} with npm pack and keeps it), or copy a .cache/node folder from another control host`,
      );
    }
    log(`npm registry not reachable (${npmProblem}): choosing among the ${arch} builds already cached`);
    const intact: Version[] = [];
    for (const version of cached) if (await cachedBuild(dir, arch, version.text)) intact.push(version);
    const choice = safeChoose(arch, intact, pin, now);
    const hit = (await cachedBuild(dir, arch, choice.version))!;
    return describe(arch, intact, pin, now, hit, 'cache');
  }

  const choice = safeChoose(arch, available, pin, now);
  const cached = await cachedBuild(dir, arch, choice.version);
  if (cached) return describe(arch, available, pin, now, cached, 'cache');
  const fetched = await fetchBuild(dir, arch, choice.version, log);
  return describe(arch, available, pin, now, fetched, 'npm');
}

/** Which version nodeBuild would use, without fetching it (npm's list, else the cached builds). */
export async function chooseNodeVersion(
  arch: NodeArch,
  options: NodeBuildOptions = {},
): Promise<ReturnType<typeof chooseVersion>> {
  const dir = options.cacheDir ?? nodeCacheDir;
  const pin = options.version === undefined ? undefined : parsePin(options.version);
  if (pin && 'problem' in pin) {
    throw new NodeBuildError(
      `${JSON.stringify(options.version)} is not ${pin.problem}`,
      'give a version such as 22',
      'version',
    );
  }
  let versions: Version[];
  try {
    if (options.offline) throw new Error('offline');
    versions = await listVersions(dir, arch, options.listMaxAgeMs ?? 3_600_000, options.log ?? (() => {}));
  } catch {
    versions = await cachedVersions(dir, arch);
  }
  return safeChoose(arch, versions, pin, options.now ?? new Date());
}

function safeChoose(arch: NodeArch, versions: readonly Version[], pin: NodePin | undefined, now: Date) {
  try {
    return chooseVersion(arch, versions, pin, now);
  } catch (error) {
    throw new NodeBuildError(
      (error as Error).message,
      pin
        ? `pick one that exists (npm view ${nodePackage(arch)} versions), or leave the version unset`
        : `pin a version of ${MIN_NODE_MAJOR} or newer`,
      pin ? 'version' : undefined,
    );
  }
}

function describe(
  arch: NodeArch,
  versions: readonly Version[],
  pin: NodePin | undefined,
  now: Date,
  hit: { file: string; sha256: string; bytes: number },
  source: NodeBuild['source'],
): NodeBuild {
  const choice = chooseVersion(arch, versions, pin, now);
  return {
    version: choice.version,
    arch,
    ...hit,
    lts: choice.lts,
    endOfLife: choice.endOfLife,
    endOfLifeDate: choice.endOfLifeDate,
    reason: choice.reason,
    source,
  };
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function hashOf(file: string, algorithm: 'sha512'): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('base64');
}

/** A cached build whose .sha256 matches its bytes; undefined otherwise (missing, half written, damaged). */
async function cachedBuild(dir: string, arch: NodeArch, version: string) {
  const file = path.join(dir, cacheFileName(version, arch));
  let recorded: string;
  try {
    recorded = (await readFile(`${file}.sha256`, 'utf8')).split(/\s+/)[0] ?? '';
  } catch {
    return undefined;
  }
  try {
    const [sha256, info] = await Promise.all([sha256File(file), stat(file)]);
    return sha256 === recorded ? { file, sha256, bytes: info.size } : undefined;
  } catch {
    return undefined;
  }
}

async function cachedVersions(dir: string, arch: NodeArch): Promise<Version[]> {
  const prefix = `${nodePackage(arch)}-`;
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .filter((name) => name.startsWith(prefix) && name.endsWith('.tgz.sha256'))
    .map((name) => parseVersion(name.slice(prefix.length, -'.tgz.sha256'.length)))
    .filter((v): v is Version => v !== undefined);
}

/** npm's versions of the package, reused for `maxAgeMs` from a file in the cache. */
async function listVersions(
  dir: string,
  arch: NodeArch,
  maxAgeMs: number,
  log: (line: string) => void,
): Promise<Version[]> {
  const listFile = path.join(dir, `${nodePackage(arch)}.time.json`);
  try {
    const info = await stat(listFile);
    if (Date.now() - info.mtimeMs < maxAgeMs) {
      return versionsFromTime(JSON.parse(await readFile(listFile, 'utf8')) as Record<string, unknown>);
    }
  } catch {
    // not cached, or unreadable: ask npm
  }
  log(`asking the npm registry which ${nodePackage(arch)} versions there are...`);
  const result = await npm(['view', nodePackage(arch), 'time', '--json'], 60_000);
  const time = JSON.parse(result) as Record<string, unknown>;
  const partial = `${listFile}.${process.pid}.partial`;
  await writeFile(partial, JSON.stringify(time, null, 1));
  await rename(partial, listFile);
  return versionsFromTime(time);
}

async function fetchBuild(dir: string, arch: NodeArch, version: string, log: (line: string) => void) {
  const spec = `${nodePackage(arch)}@${version}`;
  const started = Date.now();
  log(`fetching ${spec} from the npm registry (about 50 MB, once: kept in ${dir})...`);
  const integrity = JSON.parse(await npm(['view', spec, 'dist.integrity', '--json'], 60_000)) as string;
  const staging = await mkdtemp(path.join(dir, '.pack-'));
  try {
    const packed = JSON.parse(
      await npm(['pack', spec, '--json', '--pack-destination', staging], 15 * 60_000, staging),
    ) as { filename: string; integrity: string }[];
    const packedFile = path.join(staging, packed[0]!.filename);
    const [algorithm, expected] = integrity.split('-', 2) as [string, string];
    if (algorithm !== 'sha512') {
      throw new NodeBuildError(
        `${spec}: the registry gives an integrity of ${algorithm}, not sha512`,
        'report it',
      );
    }
    const actual = await hashOf(packedFile, 'sha512');
    if (actual !== expected) {
      throw new NodeBuildError(
        `${spec}: the file npm fetched does not match the registry's integrity (sha512 ${actual} against ${expected})`,
        'run it again; if it happens again, something between this machine and the registry changes files',
      );
    }
    const sha256 = await sha256File(packedFile);
    const target = path.join(dir, cacheFileName(version, arch));
    await rename(packedFile, target);
    const sumPartial = `${target}.sha256.${process.pid}.partial`;
    await writeFile(sumPartial, `${sha256}  ${path.basename(target)}\n`);
    await rename(sumPartial, `${target}.sha256`);
    const bytes = (await stat(target)).size;
    log(
      `fetched ${spec} (${(bytes / 2 ** 20).toFixed(1)} MB) in ${((Date.now() - started) / 1000).toFixed(1)} s, integrity checked`,
    );
    return { file: target, sha256, bytes };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** npm's stdout; throws with its last line of stderr. */
function npm(args: string[], timeoutMs: number, cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', args, {
      cwd: cwd ?? projectRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, npm_config_loglevel: 'error', npm_config_update_notifier: 'false' },
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`npm could not be run: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(stdout);
      const last =
        stderr
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean)
          .slice(-2)
          .join(' ') || (signal ? `stopped after ${timeoutMs / 1000} s` : `exit ${code}`);
      reject(new Error(`npm ${args.slice(0, 2).join(' ')}: ${last}`));
    });
  });
}
