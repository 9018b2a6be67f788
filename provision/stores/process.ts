// The generic runner: spawn a store, collect its output, wait until it answers, stop or restart it.
// Store-specific knowledge lives in the drivers (etcd.ts, zookeeper.ts, consul.ts).
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, rmSync } from 'node:fs';
import { access, chmod, lstat, mkdir, mkdtemp, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreStartError } from './errors.ts';
import { installCommand } from './paths.ts';
import { allocatePorts } from './ports.ts';
import type {
  ClusterMembership,
  LaunchSpec,
  StartOptions,
  StopOptions,
  StoreContext,
  StoreDriver,
  StoreDurability,
  StoreKind,
  StoreProcess,
} from './types.ts';

const logTailLines = 200;
const stopGraceMs = 5_000;
const probeIntervalMs = 50;
/**
 * A store may accept connections before it serves them (etcd holds a request made too early until
 * it times out), so early probes give up quickly; later ones allow a slow machine more time.
 */
const probeTimeoutsMs = { early: 250, late: 1_000, earlyAttempts: 20 };
const defaultStartTimeoutMs = 30_000;
const restartPortAttempts = 10;
/** A store whose free ports were taken before it bound them starts again on new ones, this many times. */
const freePortAttempts = 3;
const restartPortRetryMs = 500;

/** Every store started by this process and not yet disposed of, for stopAllStores() and the exit hook. */
const liveStores = new Set<ManagedStore>();
let exitHookInstalled = false;

export async function launchStore(
  driver: StoreDriver,
  options: StartOptions = {},
  cluster?: ClusterMembership,
): Promise<StoreProcess> {
  const binary = await driver.resolveBinary();
  if (binary === undefined) {
    throw new StoreStartError(
      driver.kind,
      `${driver.kind} is not installed on this machine: run \`${installCommand}\`.`,
    );
  }
  const host = options.host ?? '127.0.0.1';
  // Free ports are found, then bound by the store a moment later: meanwhile an outgoing connection of
  // any process on the machine may be given one of them (they come from the ephemeral range). Ports
  // the kit chose itself are chosen again; ports the caller named are the caller's.
  const chosen = Object.keys(options.ports ?? {}).length === 0;
  for (let attempt = 1; ; attempt++) {
    const ports = Object.freeze(await resolvePorts(driver, host, options.ports ?? {}, cluster !== undefined));
    const ownsDataDir = options.dataDir === undefined;
    const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), `fleetkit-${driver.kind}-`)));
    if (!ownsDataDir) await mkdir(dataDir, { recursive: true, mode: 0o700 });
    // Without durability, a store with no no-fsync option of its own keeps its state in a tmpfs.
    const stateDir =
      options.durable || !driver.stateInMemory
        ? undefined
        : await memoryStateDir(driver.kind, ownsDataDir ? undefined : dataDir);
    const context = storeContext({ host, ports, dataDir, stateDir, options, cluster });
    const store = new ManagedStore(driver, context, ownsDataDir);
    liveStores.add(store);
    installExitHook();
    try {
      await store.start();
      return store;
    } catch (error) {
      const taken = store.portTaken;
      await store.stop({ removeData: true });
      if (!(chosen && taken && attempt < freePortAttempts)) throw error;
    }
  }
}

/** Linux's TMPFS_MAGIC, statfs' type of a tmpfs. */
const tmpfsMagic = 0x01021994;

/** Where a store's state may go to live in memory: the first writable tmpfs of these, if any. */
export async function memoryRoot(
  candidates: readonly (string | undefined)[] = ['/dev/shm', process.env.XDG_RUNTIME_DIR],
): Promise<string | undefined> {
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      await access(candidate, constants.W_OK | constants.X_OK);
      if ((await statfs(candidate)).type === tmpfsMagic) return candidate;
    } catch {
      // missing or not ours: next
    }
  }
  return undefined;
}

/**
 * A tmpfs dir for a store's state, or undefined when there is no writable tmpfs. For a data dir this
 * library makes (given undefined): a fresh one, removed with the data. For a data dir given by the
 * caller: one named after it, kept between runs (until the machine restarts), this user's alone.
 */
async function memoryStateDir(kind: StoreKind, given: string | undefined): Promise<string | undefined> {
  const root = await memoryRoot();
  if (!root) return undefined;
  if (given === undefined) return mkdtemp(path.join(root, `fleetkit-${kind}-`));
  const uid = process.getuid?.() ?? 0;
  const hash = createHash('sha256').update(path.resolve(given)).digest('hex').slice(0, 12);
  const dir = path.join(root, `fleetkit-${kind}-${uid}-${hash}`);
  await mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  // A shared, sticky tmpfs: someone else may have made that name first (or a link by that name).
  const found = await lstat(dir);
  if (!found.isDirectory() || (process.getuid && found.uid !== uid) || (found.mode & 0o077) !== 0) {
    throw new StoreStartError(
      kind,
      `${dir} is not a directory of this user's alone: remove it, or run the stores durable.`,
    );
  }
  return dir;
}

/** Stop every store this process started, removing the data dirs this library created. */
export async function stopAllStores(): Promise<void> {
  await Promise.all([...liveStores].map((store) => store.stop({ removeData: true })));
}

async function resolvePorts(
  driver: StoreDriver,
  host: string,
  given: Partial<Record<string, number>>,
  clustered = false,
): Promise<Record<string, number>> {
  const names = clustered ? [...driver.portNames, ...(driver.clusterPortNames ?? [])] : driver.portNames;
  const known = [...names, ...Object.keys(driver.defaultPorts ?? {})];
  const unknown = Object.keys(given).filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new StoreStartError(
      driver.kind,
      `${driver.kind} has no port named ${unknown.join(', ')}; its ports are ${known.join(', ')}.`,
    );
  }
  const ports: Record<string, number> = { ...driver.defaultPorts };
  for (const [name, port] of Object.entries(given)) {
    if (port !== undefined) ports[name] = port;
  }
  const missing = names.filter((name) => ports[name] === undefined);
  const taken = new Set(Object.values(ports));
  return { ...ports, ...(await allocatePorts(host, missing, taken)) };
}

/** What a driver is told about the store it runs (also used by the systemd renderer). */
export function storeContext(given: {
  host: string;
  ports: Readonly<Record<string, number>>;
  dataDir: string;
  stateDir?: string | undefined;
  configDir?: string;
  options?: StartOptions;
  cluster?: ClusterMembership | undefined;
}): StoreContext {
  return {
    host: given.host,
    connectHost: connectHostFor(given.host),
    ports: given.ports,
    dataDir: given.dataDir,
    ...(given.stateDir ? { stateDir: given.stateDir } : {}),
    ...(given.configDir ? { configDir: given.configDir } : {}),
    options: Object.freeze({ ...given.options }),
    ...(given.cluster ? { cluster: given.cluster } : {}),
  };
}

/**
 * Writes a launch spec's config files (their folders must exist), leaving a file whose content is
 * already right untouched. Says for each file whether it changed.
 */
export async function writeLaunchFiles(spec: LaunchSpec): Promise<{ path: string; changed: boolean }[]> {
  const written: { path: string; changed: boolean }[] = [];
  for (const file of spec.files) {
    const before = await readFile(file.path, 'utf8').catch(() => undefined);
    if (before !== file.content) await writeFile(file.path, file.content, { mode: file.mode });
    if (file.mode !== undefined) await chmod(file.path, file.mode);
    written.push({ path: file.path, changed: before !== file.content });
  }
  return written;
}

export function connectHostFor(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

class ManagedStore implements StoreProcess {
  readonly kind: StoreKind;
  readonly endpoints: string[];
  private child: ChildProcess | undefined;
  private exited: Promise<Exit> = Promise.resolve({ code: null, signal: null });
  private readonly logTail: string[] = [];
  private disposed = false;
  /** The current run logged that a port was taken. */
  private sawPortInUse = false;

  /** Its last start failed on a port taken by another process. */
  get portTaken(): boolean {
    return this.sawPortInUse;
  }

  constructor(
    private readonly driver: StoreDriver,
    private readonly context: StoreContext,
    private readonly ownsDataDir: boolean,
  ) {
    this.kind = driver.kind;
    this.endpoints = driver.endpoints(context);
  }

  get ports(): Readonly<Record<string, number>> {
    return this.context.ports;
  }

  get dataDir(): string {
    return this.context.dataDir;
  }

  get durability(): StoreDurability {
    return this.driver.durability(this.context);
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    const child = this.child;
    return (
      child !== undefined && child.pid !== undefined && child.exitCode === null && child.signalCode === null
    );
  }

  async start(): Promise<void> {
    if (this.disposed)
      throw new StoreStartError(this.kind, `this ${this.kind} was stopped with removeData; start a new one.`);
    this.sawPortInUse = false;
    const spec = await this.driver.launchSpec(this.context);
    await writeLaunchFiles(spec);
    const child = spawn(spec.command, spec.args, {
      cwd: this.context.dataDir,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise<Exit>((resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      // 'close' rather than 'exit': it comes after the last output line, which is often the reason.
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (stream)
        readline
          .createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })
          .on('line', (line) => this.onLine(line));
    }
    await this.waitUntilReady(child, spec.command);
    if (this.context.options.secure && this.driver.secureSetup) await this.secureSetup();
  }

  /** The roles' users, tokens and ACLs, before the store is handed out; on failure the store is stopped. */
  private async secureSetup(): Promise<void> {
    const timeoutMs = this.context.options.startTimeoutMs ?? defaultStartTimeoutMs;
    try {
      await this.driver.secureSetup?.(this.context, AbortSignal.timeout(timeoutMs));
    } catch (error) {
      await this.terminate('SIGKILL');
      throw new StoreStartError(
        this.kind,
        `${this.kind} answered but setting up its credentials failed: ${(error as Error).message}`,
        { cause: error, logTail: [...this.logTail] },
      );
    }
  }

  async stop(options: StopOptions = {}): Promise<void> {
    await this.terminate('SIGTERM');
    if (options.removeData) {
      this.disposed = true;
      liveStores.delete(this);
      if (this.ownsDataDir) {
        await rm(this.context.dataDir, { recursive: true, force: true });
        if (this.context.stateDir) await rm(this.context.stateDir, { recursive: true, force: true });
      }
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (signal === 'SIGSTOP' || signal === 'SIGCONT' || signal === 'SIGTSTP') {
      if (this.running) this.child?.kill(signal);
      return;
    }
    await this.terminate(signal);
  }

  async restart(): Promise<void> {
    await this.terminate('SIGTERM');
    // Our ports come from the ephemeral range: while the store was down, an outgoing connection (often
    // a cluster peer's) may have been given one of them. Such connections are short; try again a bit later.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.start();
        return;
      } catch (error) {
        if (!this.sawPortInUse || attempt >= restartPortAttempts || this.running) throw error;
        await sleep(restartPortRetryMs);
      }
    }
  }

  /** Synchronous last resort for process exit: no orphaned stores, no temp dirs left behind. */
  killNow(): void {
    if (this.running) this.child?.kill('SIGKILL');
    if (this.ownsDataDir) {
      rmSync(this.context.dataDir, { recursive: true, force: true });
      if (this.context.stateDir) rmSync(this.context.stateDir, { recursive: true, force: true });
    }
  }

  private async terminate(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill('SIGCONT'); // a frozen store cannot handle SIGTERM
    child.kill(signal);
    const grace = new AbortController(); // so a pending timer does not keep the caller's process alive
    const graceful = await Promise.race([
      this.exited.then(() => true),
      sleep(stopGraceMs, false, { signal: grace.signal }).catch(() => false),
    ]);
    grace.abort();
    if (!graceful) {
      child.kill('SIGKILL');
      await this.exited;
    }
  }

  private onLine(line: string): void {
    if (portInUse.test(line)) this.sawPortInUse = true;
    this.logTail.push(line);
    if (this.logTail.length > logTailLines) this.logTail.shift();
    this.context.options.log?.(line);
  }

  private async waitUntilReady(child: ChildProcess, command: string): Promise<void> {
    const timeoutMs = this.context.options.startTimeoutMs ?? defaultStartTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    let exit: Exit | undefined;
    void this.exited.then((value) => {
      exit = value;
    });
    for (let attempt = 1; Date.now() < deadline; attempt++) {
      if (exit) throw this.earlyExitError(exit, command);
      const signal = AbortSignal.timeout(
        attempt <= probeTimeoutsMs.earlyAttempts ? probeTimeoutsMs.early : probeTimeoutsMs.late,
      );
      const ready = await this.driver.probe(this.context, signal).catch(() => false);
      if (exit) throw this.earlyExitError(exit, command);
      if (ready) return;
      await sleep(probeIntervalMs);
    }
    await this.terminate('SIGKILL');
    throw new StoreStartError(
      this.kind,
      `${this.kind} (pid ${child.pid}) did not answer on ${this.endpoints.join(', ')} within ${timeoutMs} ms; ` +
        'its log follows. A slow machine may need a larger startTimeoutMs.',
      { logTail: [...this.logTail] },
    );
  }

  private earlyExitError(exit: Exit, command: string): StoreStartError {
    if (exit.error) {
      const missing = (exit.error as NodeJS.ErrnoException).code === 'ENOENT';
      return new StoreStartError(
        this.kind,
        missing
          ? `cannot run ${command}: not found. Run \`${installCommand}\`.`
          : `cannot run ${command}: ${exit.error.message}`,
        { cause: exit.error, logTail: [...this.logTail] },
      );
    }
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const inUse = this.logTail.some((line) => portInUse.test(line));
    const advice = inUse
      ? `a port is taken (${describePorts(this.context.ports)}); pass other ports or leave them out to get free ones.`
      : `see its log below; if the program is broken or missing, run \`${installCommand}\` again.`;
    return new StoreStartError(this.kind, `${this.kind} ${how} before it answered: ${advice}`, {
      exitCode: exit.code,
      logTail: [...this.logTail],
    });
  }
}

const portInUse = /address already in use|BindException/i;

function describePorts(ports: Readonly<Record<string, number>>): string {
  return Object.entries(ports)
    .filter(([, port]) => port > 0)
    .map(([name, port]) => `${name} ${port}`)
    .join(', ');
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const store of liveStores) store.killNow();
  });
}
