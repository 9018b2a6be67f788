// `fleetkit stores --systemd`: the control host's stores as systemd units (one per store, or one per
// member with --members 3), started at boot and restarted on failure. Each unit runs the command line
// the foreground runner spawns, with the same config files, written into the unit's data dir.
// Safe to run again: identical files are left as they are and said "unchanged". `--remove` takes them away.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, copyFile, lchown, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { StoreKind } from '../lib/registry/index.ts';
import { createRegistry, errorMessage } from '../lib/registry/index.ts';
import { installStores } from './install-stores.ts';
import { drivers } from './stores/drivers.ts';
import { writeLaunchFiles } from './stores/process.ts';
import {
  type PlannedUnit,
  planUnits,
  renderUnit,
  storeUser,
  UNIT_MARKER,
  UNIT_NAME,
} from './stores/systemd.ts';
import { storeKinds } from './stores/types.ts';

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
  say('[1/4] checking the stores are installed');
  await installStores({ log: (line) => say(`  ${line}`) });

  say(`[2/4] writing the units into ${config.unitDir} (data in ${config.dataDir})`);
  await mkdir(config.unitDir, { recursive: true });
  const units: PlannedUnit[] = [];
  for (const kind of storeKinds) {
    units.push(
      ...(await planUnits(kind, {
        members: config.members,
        host: config.listen,
        dataDir: config.dataDir,
        portOffset: config.portOffset,
      })),
    );
  }
  // Each store as its own system user, from an installed program (never the project folder, which
  // its owner could change under a root-started unit).
  const root = process.getuid?.() === 0;
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
  // The data dir holds one folder per store (0700, its user's): the folder above is root's, 0755, so
  // that each store's user can reach its own and no other.
  await mkdir(config.dataDir, { recursive: true, mode: 0o755 });
  if (root) await chmod(config.dataDir, 0o755);
  const installed = new Map<string, string>();
  for (const unit of units) {
    if (!unit.install || installed.has(unit.install.to)) continue;
    const state = await installProgram(unit.install.from, unit.install.to);
    installed.set(unit.install.to, state);
    say(`  ${path.basename(unit.install.to)}: ${state} as ${unit.install.to}`);
  }
  /** Units already there whose unit file or config changed: a running one must restart to see it. */
  const changed: string[] = [];
  for (const unit of units) {
    await mkdir(unit.context.dataDir, { recursive: true, mode: 0o700 });
    const files = await writeLaunchFiles(unit.spec);
    const owner = users.get(unit.kind);
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
    say(`[3/4] systemd is not running here (PID 1 is "${pid1()}"): nothing was started.`);
    say('  On a host that runs systemd, as root:');
    for (const args of commands) say(`    systemctl ${args.join(' ')}`);
    say('[4/4] the stores will answer on:');
    for (const unit of units) say(`  ${unit.unitName.padEnd(29)} ${unit.endpoints.join(', ')}`);
    return 0;
  }

  say('[3/4] starting them with systemd');
  for (const args of commands) {
    say(`  systemctl ${args.join(' ')}`);
    await systemctl(args);
    if (args[0] === 'disable') {
      for (const name of stale) await rm(path.join(config.unitDir, name), { force: true });
    }
  }
  say('[4/4] waiting for each store to answer');
  await waitForAnswers(units, say);
  await sayMembers(units, say);
  say(
    `ready: the stores run as systemd units (journalctl -u 'fleetkit-*' for their logs); ${removeCommand} removes them.`,
  );
  return 0;
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

async function waitForAnswers(units: PlannedUnit[], say: (line: string) => void): Promise<void> {
  const deadline = Date.now() + ANSWER_TIMEOUT_MS;
  for (const unit of units) {
    for (;;) {
      const ok = await drivers[unit.kind].probe(unit.context, AbortSignal.timeout(2_000)).catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) {
        throw new Error(
          `${unit.unitName} does not answer on ${unit.endpoints.join(', ')}; see \`journalctl -u ${unit.unitName}\``,
        );
      }
      await sleep(500);
    }
    say(`  ${unit.unitName}: answers on ${unit.endpoints.join(', ')}`);
  }
}

async function sayMembers(units: PlannedUnit[], say: (line: string) => void): Promise<void> {
  for (const kind of storeKinds) {
    const endpoints = units.filter((unit) => unit.kind === kind).flatMap((unit) => unit.endpoints);
    const registry = createRegistry({ store: kind as StoreKind, endpoints });
    try {
      const members = await registry.members();
      const text = members.map((m) => `${m.name} ${m.role}${m.healthy ? '' : ' (unhealthy)'}`).join(', ');
      say(`  ${kind.padEnd(9)} ${endpoints.join(', ')}  ${text}`);
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
