#!/usr/bin/env -S npx tsx
import net from 'node:net';
import { fs, os, path } from 'zx';
// Install etcd 3.4, ZooKeeper 3.8 and Consul 1.8.7 where provision/stores looks for them (and, on
// request, Debian's Chromium for the page tests).
// Safe to run twice: a store that is already there is only reported.
//   npx tsx provision/install-stores.ts            (or: npm run stores:install)
//   npx tsx provision/install-stores.ts consul     (only some; `chromium` too, for the page tests)
// FLEET_DEBIAN_MIRROR=http://mirror/debian picks the mirror for Consul's bullseye .deb (default: the system's).
import { isEntryPoint } from '../lib/cli/entry-point.ts';
import { configOrExit, parseCommand, type SettingSpec, type SettingsInput } from '../lib/cli/settings.ts';
import { DEFAULT_PORTS } from '../lib/registry/index.ts';
import {
  attempt,
  errorText,
  installMissing,
  isProvisionError,
  missingPackages,
  networkHint,
  ProvisionError,
  stopDebianService,
  withRetry,
} from './apt.ts';
import { installQemu, qemuInstalled } from './qemu.ts';
import { type StoreKind, storeBinaries, storeKinds, storeVersion } from './stores/index.ts';
import { consulCacheDir, installCommand, storesCacheDir } from './stores/paths.ts';
import { $quiet } from './zx.ts';

/**
 * What this script installs: the three stores, Debian's Chromium for the page's browser tests, and qemu-user
 * with the ARM libraries and debootstrap for the agent's ARM tests (provision/qemu.ts).
 */
export type Installable = StoreKind | 'chromium' | 'qemu' | 'strace' | 'openssl';
export const installables: readonly Installable[] = [...storeKinds, 'chromium', 'qemu', 'strace', 'openssl'];

export interface InstallOptions {
  /** Default: the three stores. */
  only?: Installable[];
  log?: (line: string) => void;
  /** Debian mirror for the bullseye Consul .deb, e.g. a local mirror at a venue; default: the system's own. */
  debianMirror?: string;
}

/** A step failed: `message` is the failing command's own message, `hint` what to do next. */
export class InstallError extends ProvisionError {
  override readonly name = 'InstallError';
  constructor(
    readonly kind: Installable,
    message: string,
    hint: string,
  ) {
    super(message, hint);
  }
}

export function isInstallError(error: unknown): error is InstallError {
  return error instanceof InstallError;
}

const aptNetworkTimeout = '5m';

const debianPackages = {
  etcd: ['etcd-server', 'etcd-client'],
  zookeeper: ['zookeeper'],
} as const;

/** The ports a Debian service would occupy; the kit never uses them, but a running service is noise. */
const debianServices = [
  { kind: 'etcd', service: 'etcd', port: DEFAULT_PORTS.etcd },
  { kind: 'zookeeper', service: 'zookeeper', port: DEFAULT_PORTS.zookeeper },
] as const;

interface Step {
  kind: Installable;
  /** What `install` will do, for the progress line. */
  plan: string;
  /** A description of the installed store, or undefined when it must be installed. */
  installed(): Promise<string | undefined>;
  install(log: (line: string) => void): Promise<void>;
}

export async function installStores(opts: InstallOptions = {}): Promise<void> {
  const log = opts.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const kinds = opts.only ?? [...storeKinds];
  const steps = kinds.map((kind) => stepFor(kind, opts));
  for (const [index, step] of steps.entries()) {
    const prefix = `[${index + 1}/${steps.length}] ${step.kind}:`;
    const before = await step.installed();
    if (before !== undefined) {
      log(`${prefix} already installed (${before})`);
      continue;
    }
    log(`${prefix} ${step.plan}...`);
    const started = Date.now();
    try {
      await step.install((line) => log(`${prefix} ${line}`));
    } catch (error) {
      // The shared apt steps know no store: name it here.
      if (isProvisionError(error) && !isInstallError(error)) {
        throw new InstallError(step.kind, error.message, error.hint);
      }
      throw error;
    }
    const after = await step.installed();
    if (after === undefined) {
      throw new InstallError(
        step.kind,
        `${step.kind} was installed but provision/stores still does not find it`,
        step.kind === 'zookeeper'
          ? 'ZooKeeper needs `java` on PATH: `apt-get install default-jre-headless`, then run it again.'
          : 'please report this with the output of `dpkg -L` for the packages named above.',
      );
    }
    log(`${prefix} done in ${((Date.now() - started) / 1000).toFixed(1)} s (${after})`);
  }
}

function stepFor(kind: Installable, opts: InstallOptions): Step {
  switch (kind) {
    case 'chromium':
      return chromiumStep();
    case 'qemu':
      return {
        kind: 'qemu',
        plan: 'installing qemu-user-static, the arm64 and armhf libraries and debootstrap from Debian (for the ARM tests)',
        installed: qemuInstalled,
        install: installQemu,
      };
    case 'strace':
      return {
        kind: 'strace',
        plan: 'installing strace from Debian (the agent test that watches for files written: test/device/field-agent.test.ts)',
        installed: async () => ((await missingPackages(['strace'])).length > 0 ? undefined : 'strace'),
        install: async (log) => void (await installMissing(['strace'], { log })),
      };
    case 'openssl':
      return {
        kind: 'openssl',
        plan: "installing openssl from Debian (`--secure` makes the stores' CA and certificates with it)",
        installed: async () => ((await missingPackages(['openssl'])).length > 0 ? undefined : 'openssl'),
        install: async (log) => void (await installMissing(['openssl'], { log })),
      };
    case 'etcd':
    case 'zookeeper':
      return debianStep(kind, debianPackages[kind]);
    case 'consul':
      return consulStep(opts.debianMirror);
  }
}

// ---- etcd and ZooKeeper: Debian packages of this release ----

function debianStep(kind: StoreKind, packages: readonly string[]): Step {
  return {
    kind,
    plan: `installing ${packages.join(' ')} from Debian`,
    async installed() {
      if ((await missingPackages(packages)).length > 0) return undefined;
      return describeInstalled(kind);
    },
    async install(log) {
      await installMissing(packages, { log });
      for (const { service, port } of debianServices.filter((entry) => entry.kind === kind)) {
        await stopDebianService(service, log);
        if (await portAnswers('127.0.0.1', port)) {
          log(
            `note: something still listens on 127.0.0.1:${port}; harmless, the kit starts its stores on free ports`,
          );
        }
      }
    },
  };
}

/** Debian's Chromium, driven by playwright-core in the page's tests (no browser download). */
function chromiumStep(): Step {
  const packages = ['chromium'];
  return {
    kind: 'chromium',
    plan: 'installing chromium from Debian (for the page tests)',
    async installed() {
      if ((await missingPackages(packages)).length > 0) return undefined;
      const version = await $quiet`chromium --version`.nothrow().timeout('30s');
      return version.exitCode === 0 ? version.stdout.trim() : undefined;
    },
    async install(log) {
      await installMissing(packages, { log });
    },
  };
}

async function describeInstalled(kind: StoreKind): Promise<string | undefined> {
  const where = (await storeBinaries())[kind];
  if (where === undefined) return undefined;
  try {
    const version = await storeVersion(kind);
    return version ? `${where}, ${version}` : where;
  } catch (error) {
    throw new InstallError(
      kind,
      `${where} is there but does not run: ${errorText(error)}`,
      kind === 'zookeeper'
        ? 'ZooKeeper needs Java: `apt-get install default-jre-headless`, then run it again.'
        : `reinstall it (\`apt-get install --reinstall ${debianPackages.etcd.join(' ')}\`), then run it again.`,
    );
  }
}

function portAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 1_000 });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

// ---- Consul: bullseye's .deb, fetched with a throwaway apt configuration ----

function consulStep(mirrorOverride: string | undefined): Step {
  return {
    kind: 'consul',
    plan: 'fetching consul 1.8.7 from Debian bullseye into .cache/stores/consul',
    async installed() {
      return describeInstalled('consul');
    },
    async install(log) {
      const mirror = mirrorOverride ? { uri: mirrorOverride.replace(/\/$/, '') } : await debianMirror();
      const work = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetkit-consul-deb-'));
      try {
        await fs.chmod(work, 0o755); // apt's sandbox user (_apt) must reach the lists and the download dir
        const aptOptions = await throwawayAptConfig(work, mirror);
        log(`reading bullseye's package list from ${mirror.uri}...`);
        await withRetry('apt-get update (bullseye)', networkHint, log, async () => {
          const output = await $quiet`apt-get ${aptOptions} update`.timeout(aptNetworkTimeout);
          // apt-get update exits 0 when a source cannot be fetched; only its warnings tell.
          const lists = await fs.readdir(path.join(work, 'lists'));
          if (!lists.some((name: string) => name.endsWith('_Packages') || name.includes('_Packages.'))) {
            const warnings = output.stderr.split('\n').filter((line) => /^[WE]:/.test(line));
            throw new Error(
              `no package list fetched from ${mirror.uri}: ${warnings.join(' / ') || 'no message from apt'}`,
            );
          }
        });
        // Not world-writable (it was 0777 so that apt's sandbox user _apt could write in it: then any
        // local user could swap the .deb between download and unpack). 0755, this user's (root's when
        // root); as root apt then downloads as root (no _apt sandbox); the .deb is still checked against
        // the signed Release file's hashes.
        const debs = path.join(work, 'debs');
        await fs.mkdirp(debs);
        await fs.chmod(debs, 0o755);
        const unsandboxed = process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];
        log('downloading the consul .deb...');
        await withRetry('apt-get download consul', networkHint, log, () =>
          $quiet({
            cwd: debs,
          })`apt-get ${aptOptions} ${unsandboxed} download consul`.timeout(aptNetworkTimeout),
        );
        const deb = (await fs.readdir(debs)).find(
          (name: string) => name.startsWith('consul_') && name.endsWith('.deb'),
        );
        if (!deb) {
          throw new InstallError(
            'consul',
            'apt-get download consul saved no .deb',
            'run it again; if it persists, report it.',
          );
        }
        // Unpack beside the target, then swap, so an interrupted run never leaves half a consul.
        const staging = `${consulCacheDir}.partial`;
        await fs.remove(staging);
        await fs.mkdirp(staging);
        await attempt(
          'dpkg-deb -x',
          'free some disk space, then run it again.',
          () => $quiet`dpkg-deb -x ${path.join(debs, deb)} ${staging}`,
        );
        await fs.remove(consulCacheDir);
        await fs.move(staging, consulCacheDir);
        await fs.outputFile(
          path.join(storesCacheDir, '..', '.gitignore'),
          '# downloaded programs, see provision/install-stores.ts\n*\n',
        );
        log(`unpacked ${deb}`);
      } finally {
        await fs.remove(work);
      }
    },
  };
}

export interface Mirror {
  uri: string;
  signedBy?: string;
}

/**
 * The Debian mirror this machine already uses for its own release (a local mirror or proxy works
 * offline where deb.debian.org does not), with its keyring; deb.debian.org when none is found.
 */
export async function debianMirror(): Promise<Mirror> {
  const codename = (await fs.readFile('/etc/os-release', 'utf8').catch(() => ''))
    .match(/^VERSION_CODENAME=(\S+)$/m)?.[1]
    ?.replace(/"/g, '');
  const files = ['/etc/apt/sources.list'];
  const partsDir = '/etc/apt/sources.list.d';
  for (const name of await fs.readdir(partsDir).catch(() => [] as string[])) {
    if (name.endsWith('.list') || name.endsWith('.sources')) files.push(path.join(partsDir, name));
  }
  const entries: (Mirror & { suites: string[] })[] = [];
  for (const file of files) {
    const text = await fs.readFile(file, 'utf8').catch(() => '');
    entries.push(...(file.endsWith('.sources') ? parseDeb822(text) : parseOneLine(text)));
  }
  const isDebianArchive = (uri: string) => /\/debian\/?$/.test(uri) && !uri.includes('debian-security');
  const match =
    entries.find(
      (entry) => isDebianArchive(entry.uri) && codename !== undefined && entry.suites.includes(codename),
    ) ?? entries.find((entry) => isDebianArchive(entry.uri));
  const defaultKeyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
  if (match) return { uri: match.uri.replace(/\/$/, ''), signedBy: match.signedBy };
  return {
    uri: 'http://deb.debian.org/debian',
    signedBy: (await fs.pathExists(defaultKeyring)) ? defaultKeyring : undefined,
  };
}

function parseOneLine(text: string): (Mirror & { suites: string[] })[] {
  const entries: (Mirror & { suites: string[] })[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const parts = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (!parts?.[2] || !parts[3]) continue;
    const signedBy = /signed-by=(\S+)/.exec(parts[1] ?? '')?.[1];
    entries.push({ uri: parts[2], suites: [parts[3]], signedBy });
  }
  return entries;
}

function parseDeb822(text: string): (Mirror & { suites: string[] })[] {
  const entries: (Mirror & { suites: string[] })[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (name: string) =>
      new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza.replace(/^#.*$/gm, ''))?.[1]?.trim().split(/\s+/) ??
      [];
    if (!field('Types').includes('deb') || field('Enabled')[0] === 'no') continue;
    const signedBy = field('Signed-By')[0];
    for (const uri of field('URIs')) {
      // An inline key block starts with "-----BEGIN"; only a file path can be reused.
      entries.push({
        uri,
        suites: field('Suites'),
        signedBy: signedBy?.startsWith('/') ? signedBy : undefined,
      });
    }
  }
  return entries;
}

/** Options that point apt at a private sources list, lists and cache: the system's apt state is untouched. */
async function throwawayAptConfig(work: string, mirror: Mirror): Promise<string[]> {
  const sourceList = path.join(work, 'sources.list');
  const sourceParts = path.join(work, 'sources.list.d');
  const lists = path.join(work, 'lists');
  const cache = path.join(work, 'cache');
  for (const dir of [sourceParts, path.join(lists, 'partial'), path.join(cache, 'archives', 'partial')]) {
    await fs.mkdirp(dir);
  }
  const options = mirror.signedBy ? `[signed-by=${mirror.signedBy}] ` : '';
  await fs.writeFile(sourceList, `deb ${options}${mirror.uri} bullseye main\n`);
  return [
    '-o',
    `Dir::Etc::SourceList=${sourceList}`,
    '-o',
    `Dir::Etc::SourceParts=${sourceParts}`,
    '-o',
    `Dir::State::Lists=${lists}`,
    '-o',
    `Dir::Cache=${cache}`,
    '-o',
    'Acquire::Languages=none',
    '-o',
    'Acquire::Retries=0', // we retry with backoff ourselves
  ];
}

// ---- entry point ----

const INSTALL_SETTINGS: readonly SettingSpec[] = [
  {
    key: 'debianMirror',
    flag: 'debian-mirror',
    env: 'FLEET_DEBIAN_MIRROR',
    help: "Debian mirror for Consul's bullseye .deb, e.g. http://mirror/debian",
    defaultText: "the system's",
  },
];

const ABOUT = {
  usage: `Usage: fleetkit install-stores [${installables.join('|')} ...] [settings]`,
  description:
    'Installs etcd 3.4, ZooKeeper 3.8 and Consul 1.8.7 where the kit looks for them (and, on request, Chromium\nfor the page tests). Safe to run twice: what is there already is only reported.',
  positionals: [{ name: 'NAME ...', help: `${installables.join(', ')} (default: the three stores)` }],
};

/** Throws a SettingsError naming every unknown name and bad setting at once. */
export function parseInstallOptions(input: SettingsInput) {
  return parseCommand(INSTALL_SETTINGS, input, ABOUT, (values, issues, { positionals }): InstallOptions => {
    for (const name of positionals) {
      if (!installables.includes(name as Installable))
        issues.push({ field: name, expected: `one of ${installables.join(', ')}` });
    }
    const mirror = values.debianMirror as string | undefined;
    if (mirror !== undefined && !/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(mirror))
      issues.push({ field: 'debianMirror', expected: 'a URL without spaces, such as http://mirror/debian' });
    return {
      only: positionals.length > 0 ? [...new Set(positionals as Installable[])] : undefined,
      debianMirror: mirror,
    };
  });
}

/** `fleetkit install-stores [etcd|zookeeper|consul|chromium ...]`: exit code 0, 1 (a step failed) or 2 (bad settings). */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const options = configOrExit('install-stores', () => parseInstallOptions({ argv, env }), {
    untouched: 'nothing installed',
  });
  if (typeof options === 'number') return options;
  try {
    await installStores(options);
    process.stdout.write(
      `ready: tests and the demo start the stores on free ports (\`${installCommand}\` again is a no-op)\n`,
    );
    return 0;
  } catch (error) {
    if (isInstallError(error)) {
      process.stderr.write(`${error.kind}: ${error.message}\nnext: ${error.hint}\n`);
    } else {
      process.stderr.write(`${errorText(error)}\n`);
    }
    return 1;
  }
}

if (isEntryPoint(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
