// `node fleetkit.mjs join INSTRUCTOR --name alice --devices 3`: an attendee joins the instructor's
// fleet. Asks the page for its stores, checks the name is free in every store before anything
// registers, starts the devices (join-devices.ts), tells each device's arrival in each store as the
// store shows it (join-view.ts), prints their pages, then takes commands. Ctrl-C or `quit`: every
// device deregisters everywhere at once, and nothing is left running.
// Exit codes: 0 after quit, 1 when it could not join (the page, a store, the name: said why), 2 bad
// settings, 130 after Ctrl-C, 143 after SIGTERM.
import { createInterface, type Interface } from 'node:readline';
import { livenessEnv } from '../../lib/cli/common-settings.ts';
import { configOrExit } from '../../lib/cli/settings.ts';
import { onShutdown } from '../../lib/cli/shutdown.ts';
import {
  errorMessage,
  type LivenessSettings,
  livenessWindowMs,
  machineLoad,
  type StoreKind,
  toFieldIssues,
} from '../../lib/registry/index.ts';
import { stressParamsSchema } from '../stress-message.ts';
import {
  CLASS_CODE_VARIABLE,
  classCode,
  fetchClassCredentials,
  saveClassCredentials,
} from './class-credentials.ts';
import { JoinedDevice } from './join-devices.ts';
import { type JoinConfig, parseJoinConfig } from './join-settings.ts';
import { type Attendee, JoinView, type NamedEntry } from './join-view.ts';
import { laptopId, writeKitEnv } from './kit-env.ts';
import { KitError, type KitStores, kitStores, parseInstructor } from './stores-from-page.ts';
import { printable, say } from './terminal.ts';

/** How long each store gets to answer the name check. */
const STORE_TIMEOUT_MS = 15_000;
/** Gone from the stores after leaving: each agent deregisters at once, so this is only a bound. */
const GONE_TIMEOUT_MS = 5000;
const DEFAULT_STRESS_SECONDS = 60;
const PROMPT_HELP = 'commands: stress NAME-2 80 [SECONDS] · status · quit   (Ctrl-C leaves too)';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

class Join {
  /** Wall time: compared with the records' registeredAt (join-view.ts). */
  private readonly since = Date.now();
  /** For the durations said: a clock step (NTP) meanwhile does not change them. */
  private readonly sinceMs = performance.now();
  private readonly ids: string[];
  private view: JoinView | undefined;
  private stores: KitStores | undefined;
  private readonly devices: JoinedDevice[] = [];
  private readonly starting: Promise<unknown>[] = [];
  private phase: 'starting' | 'joined' | 'leaving' = 'starting';
  private leaving: Promise<void> | undefined;
  private prompt: Interface | undefined;
  /** `${id} ${store}` pairs told as registered. */
  private readonly shown = new Set<string>();
  private readonly earlierTold = new Set<string>();
  private outcome!: { resolve: () => void; reject: (error: Error) => void };
  private readonly joined = new Promise<void>((resolve, reject) => {
    this.outcome = { resolve, reject };
  });

  constructor(
    private readonly config: JoinConfig,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.ids = Array.from({ length: config.devices }, (_, i) => `${config.name}-${i + 1}`);
    this.joined.catch(() => undefined);
  }

  /** Resolves with the exit code when it is done (quit, or it could not join). */
  async run(): Promise<number> {
    const { name, devices, instructor, nameFromHost } = this.config;
    onShutdown(() => this.leave());
    say(
      `fleetkit join: ${devices} device(s) as "${name}"${nameFromHost ? " (this laptop's name; choose another with --name)" : ''}`,
    );
    try {
      say(`[1/3] asking the instructor's page (${instructor}) for its stores`);
      const stores = await kitStores(instructor, say);
      this.stores = stores;
      for (const [store, list] of Object.entries(stores.stores))
        say(`  ${store.padEnd(9)} ${list.join(', ')}`);
      if (stores.credentialsRequired) await this.classCredentials(stores);
      const laptop = laptopId(this.env as Record<string, string>);
      // A laptop refuses inbound connections: Consul cannot check its devices over HTTP, so they pass TTL checks.
      const liveness: LivenessSettings = { ...stores.liveness, consulCheck: 'ttl' };
      this.saveEnv(stores, liveness, laptop);

      const who: Attendee = { name, ids: this.ids, laptop, since: this.since };
      say(`[2/3] checking the name "${name}" in ${Object.keys(stores.stores).join(', ')}`);
      const view = new JoinView(stores, who);
      this.view = view;
      const unreached = await view.ready(STORE_TIMEOUT_MS, (store, count) =>
        say(`  ${store.padEnd(9)} answers; ${count} device(s) of ${stores.service} in it`),
      );
      if (unreached.size > 0) throw new KitError(this.unreachable(unreached));
      const named = view.named();
      const taken = named.filter((e) => e.holder === 'another-laptop');
      if (taken.length > 0) throw new KitError(this.nameTaken(taken, false));
      say(`  "${name}" is free`);
      this.tellEarlierRuns(named);

      say(
        `[3/3] starting ${this.ids.join(', ')}: each registers in ${view.stores.join(', ')} (Consul: TTL checks)`,
      );
      view.onChange(() => this.progress());
      await Promise.all(this.ids.map((id) => this.startDevice(id, stores, liveness, laptop)));
      const slow = this.slowNotices(liveness);
      this.progress();
      try {
        await this.joined;
      } finally {
        clearInterval(slow);
      }
    } catch (error) {
      if (this.phase === 'leaving') return new Promise(() => {}); // a signal is ending it: its handler exits
      console.error(`\njoin: ${error instanceof KitError ? error.message : printable(errorMessage(error))}`);
      await this.leave();
      return 1;
    }
    this.phase = 'joined';
    this.welcome();
    return this.commands();
  }

  /** The stores require credentials: the class code gets the devices' (before anything registers). */
  private async classCredentials(stores: KitStores & { page: string }): Promise<void> {
    say("  the stores require credentials: the class code gets your devices' (the instructor gives it)");
    const code = await classCode(this.env, say);
    // To the address typed, not to one the answer names: the code goes where the attendee meant it to.
    const typed = parseInstructor(this.config.instructor);
    const answer = await fetchClassCredentials('url' in typed ? typed.url : stores.page, code);
    const saved = saveClassCredentials(process.cwd(), answer);
    // etcd over TLS to an IP address makes grpc-js print a DEP0123 warning per process (harmless):
    // not an attendee's business, in this process or in the agents (NODE_NO_WARNINGS below).
    process.noDeprecation = true;
    stores.credentials = saved.credentials;
    stores.credentialsFile = saved.file;
    say(`  credentials saved in ./credentials/ (${saved.summary}; files readable by you alone)`);
  }

  private saveEnv(stores: KitStores, liveness: LivenessSettings, laptop: string): void {
    try {
      writeKitEnv(process.cwd(), { ...stores, liveness }, laptop);
      say("  written to ./fleetkit.env (the kit's other commands in this folder read it)");
    } catch (error) {
      say(
        `  could not write ./fleetkit.env (${errorMessage(error)}): the kit's other commands will need --from ${this.config.instructor}`,
      );
    }
  }

  private startDevice(id: string, stores: KitStores, liveness: LivenessSettings, laptop: string) {
    const { name, load, firstPort } = this.config;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...Object.fromEntries(
        Object.entries(stores.stores).map(([store, list]) => [
          `FLEET_${store.toUpperCase()}`,
          list.join(','),
        ]),
      ),
      FLEET_NAMESPACE: stores.namespace,
      FLEET_SERVICE: stores.service,
      ...livenessEnv(liveness),
      // Its page for this laptop only; it advertises the address that routes to the stores.
      FLEET_LISTEN: '127.0.0.1',
      FLEET_LABELS: `attendee=${name},laptop=${laptop}`,
      // Its own CPU, not the laptop's: then "least loaded" means something among the devices.
      FLEET_LOAD_FROM: 'process',
      // A laptop's LEDs are not the devices' to drive (several devices share it).
      FLEET_LED_ROOT: 'off',
      ...(load > 0 ? { FLEET_STRESS: String(load) } : {}),
      // A few devices per laptop: every load change may go to Consul at once (see docs/stores.md).
      FLEET_CONSUL_LOAD_INTERVAL: '0',
      FLEET_LOG_LEVEL: 'warn',
      FLEET_ENV_FILE: '',
      ...(stores.credentialsFile ? { FLEET_CREDENTIALS: stores.credentialsFile, NODE_NO_WARNINGS: '1' } : {}),
    };
    // The code is for the page alone; the agents get the credentials.
    delete env[CLASS_CODE_VARIABLE];
    const started = JoinedDevice.start({
      id,
      command: [process.execPath, ...process.execArgv, process.argv[1]!, 'agent'],
      env,
      firstPort,
      handedOut: new Set(this.devices.map((d) => d.port)),
      onLine: (deviceId, line) => {
        if (this.phase !== 'leaving') say(`  ${deviceId}: ${line}`);
      },
      onExit: (device, code, signal) => this.deviceStopped(device, code, signal),
    }).then(async (device) => {
      this.devices.push(device);
      if (this.phase === 'leaving') await device.stop();
      else say(`  ${id} runs (its page: ${device.url})`);
    });
    this.starting.push(started.catch(() => undefined));
    return started;
  }

  /** Each device's arrival in each store, as the store shows it; a name taken meanwhile ends the join. */
  private progress(): void {
    if (this.phase === 'leaving' || !this.view) return;
    const named = this.view.named();
    if (this.phase === 'starting') {
      const taken = named.filter((e) => e.holder === 'another-laptop');
      if (taken.length > 0) {
        this.outcome.reject(new KitError(this.nameTaken(taken, true)));
        return;
      }
    }
    for (const entry of named) {
      const key = `${entry.id} ${entry.store}`;
      if (entry.holder !== 'ours' || this.shown.has(key)) continue;
      this.shown.add(key);
      if (this.phase === 'starting')
        say(`  ${entry.id} is in ${entry.store} (${seconds(performance.now() - this.sinceMs)} after join)`);
    }
    this.tellEarlierRuns(named);
    if (this.phase === 'starting' && this.shown.size === this.ids.length * this.view.stores.length)
      this.outcome.resolve();
  }

  private tellEarlierRuns(named: NamedEntry[]): void {
    for (const entry of named.filter((e) => e.holder === 'earlier-run')) {
      const key = `${entry.id} ${entry.store}`;
      if (this.earlierTold.has(key)) continue;
      this.earlierTold.add(key);
      say(
        `  ${entry.id} of an earlier join from this folder is still in ${entry.store}: it goes when its window ends, then this one takes its place`,
      );
    }
  }

  /** While some device is not in some store: what the agents themselves say, every 30 s. */
  private slowNotices(liveness: LivenessSettings): NodeJS.Timeout {
    const windows = (this.view?.stores ?? []).map((s) => livenessWindowMs(s, liveness));
    const firstAfterMs = 20_000 + Math.max(0, ...windows);
    let next = performance.now() + firstAfterMs;
    return setInterval(() => {
      if (performance.now() < next || this.phase !== 'starting') return;
      next = performance.now() + 30_000;
      void this.tellMissing();
    }, 1000);
  }

  private async tellMissing(): Promise<void> {
    say(`  still waiting after ${seconds(performance.now() - this.sinceMs)}:`);
    for (const device of this.devices) {
      const missing = (this.view?.stores ?? []).filter((s) => !this.shown.has(`${device.id} ${s}`));
      if (missing.length === 0) continue;
      const status = await device.status().catch(() => undefined);
      for (const store of missing) {
        const own = status?.stores.find((s) => s.store === store);
        const detail = own
          ? `${own.registration}${own.problem ? `: ${printable(own.problem, { max: 200 })}` : ''}`
          : 'its agent does not answer';
        const hint =
          own?.registration === 'conflict'
            ? ' (another process holds this id: an earlier join from this folder until its window ends, or one still running in another terminal: quit that one)'
            : '';
        say(`    ${device.id} not in ${store} yet: ${detail}${hint}`);
      }
    }
  }

  private deviceStopped(device: JoinedDevice, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.phase === 'leaving') return;
    const why = `${device.id} stopped by itself (${signal ?? `exit code ${code}`})${device.recent.length > 0 ? `: ${device.recent.at(-1)}` : ''}`;
    if (this.phase === 'starting') this.outcome.reject(new KitError(why));
    else say(`${why}\n  (the others keep running; quit and join again to get it back)`);
  }

  private unreachable(unreached: Map<StoreKind, string>): string {
    const lines = [...unreached].map(
      ([store, why]) =>
        `  ${store} at ${this.stores?.stores[store]?.join(', ')}: ${printable(why, { max: 200 })}`,
    );
    return `cannot reach ${[...unreached.keys()].join(' and ')} from this laptop:\n${lines.join('\n')}\nNothing was registered. Check that this laptop is on the instructor's network (the same Wi-Fi) and run the same command again; if it still fails, tell the instructor (the store may be down, or the network may block its port).`;
  }

  private nameTaken(taken: NamedEntry[], during: boolean): string {
    const where = new Map<string, StoreKind[]>();
    for (const entry of taken) where.set(entry.id, [...(where.get(entry.id) ?? []), entry.store]);
    const list = [...where]
      .slice(0, 6)
      .map(([id, stores]) => `${printable(id, { max: 80 })} (in ${stores.join(', ')})`)
      .join(', ');
    const { name, instructor } = this.config;
    const suggestion = `${name.slice(0, 21)}-${Math.floor(Math.random() * 90 + 10)}`;
    const what = during
      ? `the name "${name}" was taken by another laptop while this one joined: ${list}. Your devices left again.`
      : `the name "${name}" is taken by another laptop: ${list}. Nothing of yours was registered.`;
    return `${what}\nChoose another name, for example:\n  node fleetkit.mjs join ${instructor} --name ${suggestion}`;
  }

  private welcome(): void {
    const stores = this.view?.stores ?? [];
    say(
      `\njoined in ${seconds(performance.now() - this.sinceMs)}: ${this.ids.length} device(s) of "${this.config.name}" in ${stores.join(', ')}`,
    );
    for (const device of this.devices.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true })))
      say(`  ${device.id.padEnd(this.config.name.length + 4)} ${device.url}`);
    if (this.stores?.page) say(`the instructor's page: ${this.stores.page}`);
    say(PROMPT_HELP);
  }

  /** The prompt, until quit (0) or a signal (its handler exits). */
  private commands(): Promise<number> {
    return new Promise((resolve) => {
      const interactive = process.stdin.isTTY === true;
      const prompt = createInterface({ input: process.stdin, output: process.stdout, terminal: interactive });
      this.prompt = prompt;
      // In a terminal, readline takes Ctrl-C itself (raw mode): hand it on as the signal it is.
      prompt.on('SIGINT', () => process.emit('SIGINT', 'SIGINT'));
      const ask = () => {
        if (interactive && this.phase === 'joined') prompt.prompt();
      };
      prompt.setPrompt('> ');
      ask();
      prompt.on('line', (line) => {
        void this.command(line.trim()).then((quit) => {
          if (!quit) return ask();
          void this.leave().then(() => resolve(0));
        });
      });
      // End of input: Ctrl-D in a terminal leaves; a closed pipe (started in the background) does not.
      prompt.on('close', () => {
        if (interactive && this.phase === 'joined') void this.leave().then(() => resolve(0));
      });
    });
  }

  /** Runs one command line; true when it was quit. */
  private async command(line: string): Promise<boolean> {
    const [word = '', ...args] = line.split(/\s+/);
    switch (word.toLowerCase()) {
      case '':
        return false;
      case 'quit':
      case 'exit':
      case 'leave':
        return true;
      case 'status':
        this.status();
        return false;
      case 'stress':
        await this.stress(args);
        return false;
      case 'help':
        say(PROMPT_HELP);
        return false;
      default:
        say(`unknown command "${printable(word, { max: 40 })}": ${PROMPT_HELP}`);
        return false;
    }
  }

  private async stress(args: string[]): Promise<void> {
    const [which, percentText, secondsText] = args;
    const usage = `stress NAME-N PERCENT [SECONDS], for example: stress ${this.ids.at(-1)} 80 60`;
    // The device by its id, or by its number alone ("stress 2 80").
    const device = this.devices.find((d) => d.id === which || d.id === `${this.config.name}-${which}`);
    if (!which || !percentText || args.length > 3) return say(usage);
    if (!device)
      return say(`no device "${printable(which, { max: 40 })}" here: yours are ${this.ids.join(', ')}`);
    const parsed = stressParamsSchema.safeParse({
      percent: Number(percentText),
      seconds: secondsText === undefined ? DEFAULT_STRESS_SECONDS : Number(secondsText),
    });
    if (!parsed.success) {
      for (const issue of toFieldIssues(parsed.error))
        say(`stress: ${issue.field}: expected ${issue.expected}`);
      return say(usage);
    }
    try {
      const status = await device.stress(parsed.data);
      say(
        status.secondsLeft
          ? `${device.id} burns ${status.percent} % of a core for ${status.secondsLeft} s, then ${status.base} %; its next load report (every 5 s) shows it on the page`
          : `${device.id} burns ${status.percent} % of a core`,
      );
    } catch (error) {
      say(`stress ${device.id}: ${printable(errorMessage(error), { max: 300 })}`);
    }
  }

  private status(): void {
    const named = this.view?.named().filter((e) => e.holder === 'ours') ?? [];
    for (const device of this.devices) {
      const entries = named.filter((e) => e.id === device.id);
      const stores = (this.view?.stores ?? []).map((store) => {
        const entry = entries.find((e) => e.store === store);
        return `${store} ${entry ? entry.instance.health : 'absent'}`;
      });
      const cpu = entries
        .map((e) => machineLoad(e.instance.record.load)?.cpuPercent)
        .find((c): c is number => typeof c === 'number');
      say(
        `${device.id}  ${device.running ? 'running' : 'stopped'}  ${stores.join(' · ')}  ${cpu === undefined ? 'no load yet' : `CPU ${cpu} %`}  ${device.url}`,
      );
    }
  }

  /** Every device deregisters everywhere at once; then the stores are checked; nothing is left running. */
  leave(): Promise<void> {
    this.leaving ??= (async () => {
      this.phase = 'leaving';
      this.prompt?.close();
      const running = this.devices.filter((d) => d.running);
      if (running.length > 0 || this.starting.length > 0)
        say(`\nleaving: ${this.ids.join(', ')} deregister from every store at once...`);
      await Promise.all([...this.starting]);
      await Promise.all(this.devices.map((d) => d.stop()));
      const view = this.view;
      if (view && this.devices.length > 0) {
        const left = await this.untilGone(view);
        if (left.length === 0)
          say(`left: ${this.ids.join(', ')} gone from ${view.stores.join(', ')}; nothing of yours runs`);
        else
          say(
            `left, but ${left.map((e) => `${e.id} in ${e.store}`).join(', ')} still showed after ${GONE_TIMEOUT_MS / 1000} s: the store drops it when its window ends`,
          );
      }
      await view?.close();
      process.stdin.pause();
    })();
    return this.leaving;
  }

  private untilGone(view: JoinView): Promise<NamedEntry[]> {
    const ours = () => view.named().filter((e) => e.holder === 'ours');
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        stop();
        resolve(ours());
      };
      const timer = setTimeout(finish, GONE_TIMEOUT_MS);
      const stop = view.onChange(() => {
        if (ours().length === 0) finish();
      });
      if (ours().length === 0) finish();
    });
  }
}

export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number | undefined> {
  const config = configOrExit('join', () => parseJoinConfig({ argv, env }));
  if (typeof config === 'number') return config;
  const code = await new Join(config, env).run();
  // Whatever a store client still holds open must not keep a finished join alive.
  process.exit(code);
}
