// `fleetkit stores --systemd`: the control host's stores as systemd units (one per store, or one per
// member with --members 3), started at boot and restarted on failure. Each unit runs the command line
// the foreground runner spawns, with the same config files, written into the unit's data dir.
// Safe to run again: identical files are left as they are and said "unchanged". `--remove` takes them away.
// With --secure: each unit's keys and secret-bearing config go to <config dir>/<store> (root's, readable
// by the store's group only: copies of root's secure folder, which its user cannot read), and once the
// units answer the same setup as the foreground's (users and auth, policies and tokens, ACLs) runs from
// here, every time (idempotent).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import {
  chmod,
  chown,
  copyFile,
  lchown,
  lstat,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { StoreKind } from '../lib/registry/index.ts';
import { createRegistry, errorMessage } from '../lib/registry/index.ts';
import { installStores } from './install-stores.ts';
import { drivers } from './stores/drivers.ts';
import { writeLaunchFiles } from './stores/process.ts';
import {
  prepareSecureFolder,
  roleCredentials,
  type SecureFolder,
  type SecureLaunch,
  secureFolderOf,
} from './stores/secure/index.ts';
import {
  CONFIG_MARKER,
  type PlannedUnit,
  planUnits,
  renderUnit,
  storeUser,
  UNIT_MARKER,
  UNIT_NAME,
} from './stores/systemd.ts';
import { type LaunchFile, storeKinds } from './stores/types.ts';

const execFileAsync = promisify(execFile);

export interface SystemdStoresConfig {
  listen: string;
  members: number;
  /** Absolute. */
  dataDir: string;
  /** Absolute. */
  unitDir: string;
  portOffset: number;
  remove: boolean;
  /** Absolute: with --secure, each unit's keys and config files go to `<configDir>/<store>`. */
  configDir: string;
  /** Require credentials: the secure folder `<dataDir>/secure`, then each store's setup once it answers. */
  secure: boolean;
  /** With secure: the namespace the roles are given. */
  namespace: string;
}

/** Where systemd itself looks for units: there a unit is enabled by name, elsewhere by its full path. */
const SYSTEMD_UNIT_PATHS = [
  '/etc/systemd/system',
  '/run/systemd/system',
  '/usr/lib/systemd/system',
  '/lib/systemd/system',
];
/** A 2-core control host starts three JVMs slowly, and cluster members wait for each other. */
const ANSWER_TIMEOUT_MS = 120_000;
/** One store's secure setup (measured 0.1-1.5 s; a cluster member's Consul may wait for its leader). */
const SETUP_TIMEOUT_MS = 60_000;
/** A config folder's name under --config-dir: only these, carrying CONFIG_MARKER, are ever removed. */
const CONFIG_NAME = /^(etcd|zookeeper|consul)(-m[1-9])?$/;
/** What each store's setup makes, for the progress lines. */
const SETUP_WHAT: Record<StoreKind, string> = {
  etcd: 'users root, fleet-server, fleet-device, roles, auth enabled',
  consul: 'policies and tokens fleet-device, fleet-server, fleet-agent',
  zookeeper: 'digest ACLs on /, the namespace, services/, config/',
};

/** True when systemd manages this machine (what sd_booted(3) checks). */
export function systemdRunning(): boolean {
  return existsSync('/run/systemd/system');
}

function pid1(): string {
  try {
    return readFileSync('/proc/1/comm', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

export async function runSystemdStores(
  config: SystemdStoresConfig,
  say: (line: string) => void,
): Promise<number> {
  const removeCommand = `fleetkit stores --systemd --remove --unit-dir ${config.unitDir}`;
  try {
    return config.remove ? await removeUnits(config, say) : await installUnits(config, say, removeCommand);
  } catch (error) {
    console.error(`fleetkit stores: ${explain(error)}`);
    return 1;
  }
}

async function installUnits(
  config: SystemdStoresConfig,
  say: (line: string) => void,
  removeCommand: string,
): Promise<number> {
  const running = systemdRunning();
  const total = config.secure ? 5 : 4;
  const step = (n: number, text: string) => say(`[${n}/${total}] ${text}`);
  step(1, 'checking the stores are installed');
  await installStores({
    only: [...storeKinds, ...(config.secure ? (['openssl'] as const) : [])],
    log: (line) => say(`  ${line}`),
  });

  step(
    2,
    `writing the units into ${config.unitDir} (data in ${config.dataDir}${config.secure ? `, keys and config in ${config.configDir}` : ''})`,
  );
  await mkdir(config.unitDir, { recursive: true });
  const root = process.getuid?.() === 0;
  // The data dir holds one folder per store (0700, its user's): the folder above is root's, 0755, so
  // that each store's user can reach its own and no other. The secure folder in it is root's, 0700.
  await mkdir(config.dataDir, { recursive: true, mode: 0o755 });
  if (root) await chmod(config.dataDir, 0o755);
  const folder = config.secure
    ? await prepareSecureFolder(secureFolderOf(config.dataDir), (line) => say(line))
    : undefined;
  const secure: SecureLaunch | undefined = folder ? { folder, namespace: config.namespace } : undefined;
  const units: PlannedUnit[] = [];
  for (const kind of storeKinds) {
    units.push(
      ...(await planUnits(kind, {
        members: config.members,
        host: config.listen,
        dataDir: config.dataDir,
        portOffset: config.portOffset,
        ...(secure ? { secure: { launch: secure, configDir: config.configDir } } : {}),
      })),
    );
  }
  // Each store as its own system user, from an installed program (never the project folder, which
  // its owner could change under a root-started unit).
  const users = new Map<StoreKind, { uid: number; gid: number }>();
  if (root) {
    for (const kind of new Set(units.map((unit) => unit.kind))) {
      const made = await ensureSystemUser(storeUser(kind), `fleetkit ${kind}`);
      users.set(kind, made.ids);
      if (made.created) say(`  user ${storeUser(kind)}: created (a system user, no home, no shell)`);
    }
  } else {
    say(
      `  not root: the units run as ${[...new Set(units.map((u) => storeUser(u.kind)))].join(', ')}, which only root can create (and their data dirs owned by them): run it as root`,
    );
  }
  const installed = new Map<string, string>();
  for (const unit of units) {
    if (!unit.install || installed.has(unit.install.to)) continue;
    const state = await installProgram(unit.install.from, unit.install.to);
    installed.set(unit.install.to, state);
    say(`  ${path.basename(unit.install.to)}: ${state} as ${unit.install.to}`);
  }
  // Config folders of an earlier run that this one does not use (no longer --secure, other --members):
  // they hold copies of keys and the stores' secrets, so they go.
  const wantedConfig = new Set(units.flatMap((unit) => (unit.configDir ? [unit.configDir] : [])));
  for (const dir of await ourConfigDirs(config.configDir)) {
    if (wantedConfig.has(dir)) continue;
    await rm(dir, { recursive: true, force: true });
    say(`  ${dir}: removed (keys and config of units not part of this setup)`);
  }
  /** Units already there whose unit file or config changed: a running one must restart to see it. */
  const changed: string[] = [];
  for (const unit of units) {
    await mkdir(unit.context.dataDir, { recursive: true, mode: 0o700 });
    const owner = users.get(unit.kind);
    const inConfig = (file: LaunchFile) =>
      unit.configDir !== undefined && path.dirname(file.path) === unit.configDir;
    if (unit.configDir) {
      await configFolder(unit.configDir, owner?.gid);
      // A config file an earlier run without --secure left in the data dir: the unit reads the new one.
      for (const file of unit.spec.files.filter(inConfig)) {
        await rm(path.join(unit.context.dataDir, path.basename(file.path)), { force: true });
      }
    }
    const files = [
      ...(await writeLaunchFiles({ ...unit.spec, files: unit.spec.files.filter((f) => !inConfig(f)) })),
      ...(await writeConfigFiles(unit.spec.files.filter(inConfig), owner?.gid)),
    ];
    if (owner) await chownTree(unit.context.dataDir, owner.uid, owner.gid);
    const file = path.join(config.unitDir, unit.unitName);
    const text = renderUnit(unit, removeCommand);
    const before = await readFile(file, 'utf8').catch(() => undefined);
    if (before !== undefined && !before.startsWith(UNIT_MARKER)) {
      throw new Error(`${file} exists and was not written by fleetkit: move it away, then run this again`);
    }
    if (before !== text) await writeFile(file, text, { mode: 0o644 });
    const state = before === undefined ? 'written' : before === text ? 'unchanged' : 'updated';
    const configState = files.map((f) => `${path.basename(f.path)} ${f.changed ? 'written' : 'unchanged'}`);
    say(`  ${unit.unitName}: ${state}${configState.length > 0 ? ` (${configState.join(', ')})` : ''}`);
    if (before !== undefined && (before !== text || files.some((f) => f.changed)))
      changed.push(unit.unitName);
  }
  const wanted = new Set(units.map((unit) => unit.unitName));
  const stale = (await ourUnits(config.unitDir)).filter((name) => !wanted.has(name));

  const ref = (name: string) =>
    SYSTEMD_UNIT_PATHS.includes(config.unitDir) ? name : path.join(config.unitDir, name);
  const commands: string[][] = [
    ...(stale.length > 0 ? [['disable', '--now', ...stale]] : []),
    ['daemon-reload'],
    ['enable', '--now', ...units.map((unit) => ref(unit.unitName))],
    ...(changed.length > 0 ? [['restart', ...changed]] : []),
  ];
  if (!running) {
    for (const name of stale) await rm(path.join(config.unitDir, name), { force: true });
    if (stale.length > 0) say(`  removed ${stale.join(', ')} (not part of this setup)`);
    step(3, `systemd is not running here (PID 1 is "${pid1()}"): nothing was started.`);
    say('  On a host that runs systemd, as root:');
    for (const args of commands) say(`    systemctl ${args.join(' ')}`);
    step(4, 'the stores will answer on:');
    for (const unit of units) say(`  ${unit.unitName.padEnd(29)} ${unit.endpoints.join(', ')}`);
    if (!secure || !folder) return 0;
    // Units started some other way (by hand, as the tests do) answer already: set them up now.
    step(5, "setting up each store's users, tokens and ACLs (those that answer)");
    const silent = await waitForAnswers(units, () => {}, 0);
    const failed = await setUpStores(
      units.filter((unit) => !silent.includes(unit)),
      say,
    );
    for (const unit of silent) {
      say(`  ${unit.unitName}: does not answer on ${unit.endpoints.join(', ')}: not set up`);
    }
    if (silent.length > 0) {
      say(
        '  Once the units run (the systemctl commands above), run this same command again: it sets up each store that answers, and is safe to run any number of times. Until then they refuse every client.',
      );
    }
    if (silent.length === 0 && failed.length === 0) await sayMembers(units, say, folder);
    return failed.length > 0 ? 1 : 0;
  }

  step(3, 'starting them with systemd');
  for (const args of commands) {
    say(`  systemctl ${args.join(' ')}`);
    await systemctl(args);
    if (args[0] === 'disable') {
      for (const name of stale) await rm(path.join(config.unitDir, name), { force: true });
    }
  }
  step(4, 'waiting for each store to answer');
  const silent = await waitForAnswers(units, say, ANSWER_TIMEOUT_MS);
  if (!secure || !folder) {
    const [first] = silent;
    if (first) {
      throw new Error(
        `${first.unitName} does not answer on ${first.endpoints.join(', ')}; see \`journalctl -u ${first.unitName}\``,
      );
    }
    await sayMembers(units, say);
  } else {
    step(5, "setting up each store's users, tokens and ACLs");
    const failed = await setUpStores(
      units.filter((unit) => !silent.includes(unit)),
      say,
    );
    for (const unit of silent) {
      say(
        `  ${unit.unitName}: does not answer on ${unit.endpoints.join(', ')} after ${ANSWER_TIMEOUT_MS / 1000} s: not set up (it refuses every client until it is)`,
      );
      say(`    why: systemctl status ${unit.unitName}; journalctl -u ${unit.unitName} -n 50`);
    }
    if (silent.length > 0 || failed.length > 0) {
      say(
        '  Fix that, then run this same command again: it sets up each store that answers (safe to run any number of times).',
      );
      return 1;
    }
    await sayMembers(units, say, folder);
    say(
      `  the Pis get the folder ${folder.roles.device.dir}; the server: FLEET_CREDENTIALS=${folder.roles.server.env}`,
    );
  }
  say(
    `ready: the stores run as systemd units (journalctl -u 'fleetkit-*' for their logs); ${removeCommand} removes them.`,
  );
  return 0;
}

/**
 * Each answering unit's secure setup (the foreground's: provision/stores/secure), one after another,
 * each said with its time; a failure is said and the others still run. Returns the units that failed.
 */
async function setUpStores(units: PlannedUnit[], say: (line: string) => void): Promise<PlannedUnit[]> {
  const failed: PlannedUnit[] = [];
  for (const unit of units) {
    const started = Date.now();
    try {
      await drivers[unit.kind].secureSetup?.(unit.context, AbortSignal.timeout(SETUP_TIMEOUT_MS));
      say(`  ${unit.unitName}: ${SETUP_WHAT[unit.kind]} (${Date.now() - started} ms)`);
    } catch (error) {
      failed.push(unit);
      say(`  ${unit.unitName}: setting up its credentials failed: ${errorMessage(error)}`);
      say(`    see: journalctl -u ${unit.unitName} -n 50`);
    }
  }
  return failed;
}

/** The kit's config folders under `configDir` (a name it uses, with its marker file), absolute. */
async function ourConfigDirs(configDir: string): Promise<string[]> {
  const names = await readdir(configDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return [] as string[];
    throw error;
  });
  const ours: string[] = [];
  for (const name of names.filter((n) => CONFIG_NAME.test(n)).sort()) {
    const dir = path.join(configDir, name);
    const marker = await lstat(path.join(dir, CONFIG_MARKER)).catch(() => undefined);
    if (marker?.isFile()) ours.push(dir);
  }
  return ours;
}

/**
 * A unit's config folder: root's, group the store's (0750; 0700 when not root), with the kit's marker.
 * A folder of that name the kit did not make (no marker) and not empty is refused, never touched.
 */
async function configFolder(dir: string, gid: number | undefined): Promise<void> {
  await mkdir(path.dirname(dir), { recursive: true, mode: 0o755 });
  const existing = await readdir(dir).catch(() => undefined);
  if (existing && existing.length > 0 && !existing.includes(CONFIG_MARKER)) {
    throw new Error(`${dir} exists and was not made by fleetkit: move it away, then run this again`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await lstat(dir);
  if (!info.isDirectory()) throw new Error(`${dir} is not a folder: move it away, then run this again`);
  if (gid !== undefined) await chown(dir, 0, gid);
  await chmod(dir, gid !== undefined ? 0o750 : 0o700);
  await writeConfigFiles(
    [
      {
        path: path.join(dir, CONFIG_MARKER),
        content:
          '# Made by `fleetkit stores --systemd --secure`: copies of the keys and the config this store reads.\n',
      },
    ],
    gid,
  );
}

/**
 * Files of a config folder: written whole under a temporary name, then renamed (a store restarting
 * meanwhile reads the old or the new, never half), root's, readable by the store's group only (0640;
 * 0600 when not root). A file already right keeps its bytes; its owner and mode are set again.
 */
async function writeConfigFiles(
  files: LaunchFile[],
  gid: number | undefined,
): Promise<{ path: string; changed: boolean }[]> {
  const mode = gid !== undefined ? 0o640 : 0o600;
  const written: { path: string; changed: boolean }[] = [];
  for (const file of files) {
    const before = await readFile(file.path, 'utf8').catch(() => undefined);
    const target = before === file.content ? file.path : `${file.path}.fleetkit-new`;
    if (target !== file.path) {
      await rm(target, { force: true });
      await writeFile(target, file.content, { mode: 0o600, flag: 'wx' });
    }
    if (gid !== undefined) await chown(target, 0, gid);
    await chmod(target, mode);
    if (target !== file.path) await rename(target, file.path);
    written.push({ path: file.path, changed: before !== file.content });
  }
  return written;
}

/** The system user `name` (created if missing: no home, no login shell) and its uid and gid. */
async function ensureSystemUser(
  name: string,
  comment: string,
): Promise<{ created: boolean; ids: { uid: number; gid: number } }> {
  const ids = async () => {
    const { stdout: uid } = await execFileAsync('id', ['-u', name]);
    const { stdout: gid } = await execFileAsync('id', ['-g', name]);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  };
  try {
    return { created: false, ids: await ids() };
  } catch {
    const args = ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent'];
    args.push('--shell', '/usr/sbin/nologin', '--comment', comment, name);
    try {
      await execFileAsync('useradd', args, { timeout: 30_000 });
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
      throw new Error(`useradd ${name} failed: ${stderr || errorMessage(error)}`);
    }
    return { created: true, ids: await ids() };
  }
}

/** A data dir and everything in it owned by the store's user (symbolic links themselves, never followed). */
async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await lchown(dir, uid, gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const child = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(child, uid, gid);
    else await lchown(child, uid, gid);
  }
}

/** A program from the project's cache copied to its installed path (root's, 0755), replaced only when it differs. */
async function installProgram(from: string, to: string): Promise<string> {
  const [wanted, present] = await Promise.all([readFile(from), readFile(to).catch(() => undefined)]);
  if (present?.equals(wanted)) return 'unchanged';
  await mkdir(path.dirname(to), { recursive: true, mode: 0o755 });
  const partial = `${to}.fleetkit-new`;
  await copyFile(from, partial);
  await chmod(partial, 0o755);
  await rename(partial, to);
  return present ? 'updated' : 'installed';
}

async function removeUnits(config: SystemdStoresConfig, say: (line: string) => void): Promise<number> {
  say(`[1/2] looking for fleetkit's units in ${config.unitDir}`);
  const names = await ourUnits(config.unitDir);
  // Secure units' config folders: copies of keys and secrets (the secure folder keeps the originals).
  for (const dir of await ourConfigDirs(config.configDir)) {
    await rm(dir, { recursive: true, force: true });
    say(`  ${dir}: removed (copies of keys and config; the secure folder keeps the originals)`);
  }
  if (names.length === 0) {
    say('  none: nothing to remove');
    return 0;
  }
  say(`  ${names.join(', ')}`);
  say('[2/2] removing them');
  if (systemdRunning()) {
    say(`  systemctl disable --now ${names.join(' ')}`);
    await systemctl(['disable', '--now', ...names]);
  } else {
    say(`  systemd is not running here (PID 1 is "${pid1()}"): nothing to stop, only the files go`);
  }
  for (const name of names) {
    await rm(path.join(config.unitDir, name), { force: true });
    say(`  ${name}: removed`);
  }
  if (systemdRunning()) {
    say('  systemctl daemon-reload');
    await systemctl(['daemon-reload']);
  }
  say(`done. The stores' data is kept (in ${config.dataDir} unless the units used another --data-dir).`);
  return 0;
}

/** The units in `dir` that this command wrote (name and first line), never anyone else's. */
async function ourUnits(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  const ours: string[] = [];
  for (const name of names.filter((n) => UNIT_NAME.test(n)).sort()) {
    const text = await readFile(path.join(dir, name), 'utf8').catch(() => '');
    if (text.startsWith(UNIT_MARKER)) ours.push(name);
  }
  return ours;
}

async function systemctl(args: string[]): Promise<void> {
  try {
    await execFileAsync('systemctl', args, { timeout: 120_000 });
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`systemctl ${args.join(' ')} failed: ${stderr || errorMessage(error)}`);
  }
}

/**
 * Each unit until it answers, all within `timeoutMs` (0: one look each). Says each that answers;
 * returns those that did not.
 */
async function waitForAnswers(
  units: PlannedUnit[],
  say: (line: string) => void,
  timeoutMs: number,
): Promise<PlannedUnit[]> {
  const deadline = Date.now() + timeoutMs;
  const silent: PlannedUnit[] = [];
  for (const unit of units) {
    for (;;) {
      const ok = await drivers[unit.kind].probe(unit.context, AbortSignal.timeout(2_000)).catch(() => false);
      if (ok) {
        say(`  ${unit.unitName}: answers on ${unit.endpoints.join(', ')}`);
        break;
      }
      if (Date.now() >= deadline) {
        silent.push(unit);
        break;
      }
      await sleep(500);
    }
  }
  return silent;
}

async function sayMembers(
  units: PlannedUnit[],
  say: (line: string) => void,
  folder?: SecureFolder,
): Promise<void> {
  const credentials = folder ? await roleCredentials(folder, 'admin') : undefined;
  for (const kind of storeKinds) {
    const endpoints = units.filter((unit) => unit.kind === kind).flatMap((unit) => unit.endpoints);
    const registry = createRegistry({ store: kind as StoreKind, endpoints, credentials });
    try {
      const members = await registry.members();
      const text = members.map((m) => `${m.name} ${m.role}${m.healthy ? '' : ' (unhealthy)'}`).join(', ');
      say(`  ${kind.padEnd(9)} ${endpoints.join(', ')}  ${text}`);
    } catch (error) {
      // Secure: the store runs and is set up; only this listing failed.
      if (!folder) throw error;
      say(`  ${kind.padEnd(9)} ${endpoints.join(', ')}  (members not read: ${errorMessage(error)})`);
    } finally {
      await registry.close();
    }
  }
}

function explain(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e.code === 'EACCES' || e.code === 'EPERM') {
    return `cannot write ${e.path ?? 'a file'}: permission denied. Run it as root (sudo), or pick --unit-dir and --data-dir you can write.`;
  }
  return e.message ?? String(error);
}
