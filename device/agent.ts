// The device agent: registered in every configured store, reporting its load when it changes,
// applying the color found in config and reporting it back. Stores being down never stops it: it keeps
// serving its page and registers when they return. With no route to the stores at start it waits for
// one (network.ts), and when its address changes it updates every registration. The activity LED
// (led.ts) shows how it is doing. Durations are measured on the monotonic clock (performance.now()):
// a Pi has no RTC, and its wall clock steps when NTP arrives late.
import { EventEmitter } from 'node:events';
import type { Logger } from '../lib/cli/log.ts';
import type {
  ConfigWatch,
  ConnectionState,
  MachineLoad,
  Registration,
  RegistrationState,
  Registry,
  StoreKind,
} from '../lib/registry/index.ts';
import { createRegistry, errorMessage, newIncarnation } from '../lib/registry/index.ts';
import type { AgentConfig } from './config.ts';
import type { ActivityLed, LedState, LedStatus } from './led.ts';
import { loadChanged, loadMeter } from './load.ts';
import type { AddressWatch, NetworkStatus } from './network.ts';
import { Stress, type StressStatus } from './stress.ts';

export interface StoreStatus {
  store: StoreKind;
  endpoints: readonly string[];
  connection: ConnectionState;
  registration: RegistrationState;
  /** The last problem worth showing (a conflict, an unreachable store), or null. */
  problem: string | null;
}

export interface AgentStatus {
  id: string;
  service: string;
  /** The address advertised; null while no route to the stores was ever found (nothing registered). */
  host: string | null;
  port: number;
  version: string;
  labels: Record<string, string>;
  color: string | null;
  load: MachineLoad | null;
  /** What `--load-from` says the load is of. */
  loadFrom: AgentConfig['loadFrom'];
  /** The load it is told to carry (burnt in a worker thread): its base, or a told one until endsAt. */
  stress: StressStatus;
  healthy: boolean;
  stores: StoreStatus[];
  /** Where the address comes from, and why there is no route now (network.ts). */
  network: NetworkStatus;
  /** The activity LED, or null when the agent was given none (the bench's devices). */
  led: LedStatus | null;
}

interface StoreLink {
  registry: Registry;
  registration: Registration;
  colorWatch: ConfigWatch;
  problem: string | null;
  /** The store's refusal last logged (state 'unauthorized'), or null: logged once, not per retry. */
  refused: string | null;
}

export interface AgentIdentity {
  id: string;
  /** null: found by `network` (AgentOptions) once there is a route to the stores. */
  host: string | null;
  labels: Record<string, string>;
  version: string;
}

export interface AgentOptions {
  /** How the load is measured (default: from `--load-from`, device/load.ts); the bench injects a cheap one. */
  measureLoad?: () => Promise<MachineLoad>;
  /** Finds the address to advertise and follows its changes (main.ts); without it, identity.host stays. */
  network?: AddressWatch;
  /** The activity LED to drive (main.ts); without it, none. */
  led?: ActivityLed;
}

export class Agent extends EventEmitter<{ status: [AgentStatus] }> {
  private readonly links = new Map<StoreKind, StoreLink>();
  private color: string | null = null;
  private load: MachineLoad | null = null;
  /** performance.now() of the last measurement: a wall clock step must not make the agent unhealthy. */
  private lastMeasuredAt = -Infinity;
  private host: string | null;
  private readonly network: AddressWatch | undefined;
  private readonly led: ActivityLed | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** start() has connected (or found no route): from then on a route found connects. */
  private started = false;
  /** The token of this process's records in every store, kept when the links are replaced (moveTo). */
  private readonly incarnation = newIncarnation();
  private readonly measureLoad: () => Promise<MachineLoad>;
  /** The load this device is told to carry (`--stress`, and messages from the parent: stress-message.ts). */
  readonly stress: Stress;

  constructor(
    private readonly config: Readonly<AgentConfig>,
    private readonly identity: AgentIdentity,
    private readonly log: Logger,
    options: AgentOptions = {},
  ) {
    super();
    this.measureLoad = options.measureLoad ?? loadMeter(config.loadFrom);
    this.host = identity.host;
    this.network = options.network;
    this.led = options.led;
    this.network?.on('change', (host, previous) => this.moveTo(host, previous));
    this.network?.on('status', () => this.changed());
    this.led?.on('change', () => this.changed());
    this.stress = new Stress(config.stressPercent);
    let carried = 0;
    this.stress.on('change', (stress) => {
      if (stress.percent > 0 || carried > 0) {
        const until = stress.endsAt === null ? '' : ` until ${new Date(stress.endsAt).toISOString()}`;
        this.log.info({ stress }, `carrying ${stress.percent} % of one core${until}`);
      }
      carried = stress.percent;
      this.changed();
    });
  }

  /**
   * Measures the load once (so that the first registration carries it), looks for the address to
   * advertise, then registers everywhere; with no route yet, it registers once one appears.
   */
  async start(): Promise<void> {
    this.stress.start();
    // The first lookup's address (a 'change' meanwhile only sets this.host: see moveTo).
    await Promise.all([this.measure(), this.led?.open(), this.network?.start()]);
    this.started = true;
    this.host ??= this.network?.status().host ?? null;
    if (this.host !== null) this.connectAll();
    else {
      const problem = this.network?.status().problem ?? 'no address';
      this.log.warn(
        { problem },
        `no route to the stores yet (${problem}): serving the page, registering as soon as a route appears`,
      );
    }
    this.scheduleReport();
    this.changed();
  }

  private connectAll(): void {
    for (const [store, endpoints] of Object.entries(this.config.stores) as [StoreKind, string[]][]) {
      this.links.set(store, this.connect(store, endpoints));
    }
  }

  /**
   * A route appeared (first registration) or the address changed. Then the connections made from the
   * old address are dead as a rule (a new DHCP lease removes it; a roam or an unplugged cable takes
   * its route) but their sockets do not know it: etcd's stream times out after seconds, ZooKeeper's
   * client never notices (measured: no event in 60 s). So every store gets a new connection from the
   * new address and registers the device again with the same incarnation: its own old record (held
   * by the old lease, session or service) is taken over at once, with the new host and, in Consul,
   * the check polling the new address. The old connections are closed in the background.
   */
  private moveTo(host: string, previous: string | null): void {
    if (this.stopping || host === this.host) return;
    const before = this.host ?? previous;
    this.host = host;
    if (!this.started) return;
    if (this.links.size === 0) {
      this.log.info({ host }, `a route to the stores appeared: advertised as ${host}, registering`);
      this.connectAll();
    } else {
      this.log.info(
        { host, previous: before },
        `address changed from ${before} to ${host}: registering again in every store from it`,
      );
      const old = [...this.links.values()];
      this.links.clear();
      this.connectAll();
      for (const link of old) {
        link.colorWatch.close();
        link.registry.removeAllListeners();
        link.registration.removeAllListeners();
        void link.registry.close().catch(() => undefined);
      }
    }
    this.changed();
  }

  /** Healthy while the agent is doing its work: not stopping, and its report loop is alive. */
  get healthy(): boolean {
    const staleAfterMs = this.config.reportIntervalSeconds * 3000 + 5000;
    return !this.stopping && performance.now() - this.lastMeasuredAt < staleAfterMs;
  }

  status(): AgentStatus {
    return {
      id: this.identity.id,
      service: this.config.service,
      host: this.host,
      port: this.config.port,
      version: this.identity.version,
      labels: this.identity.labels,
      color: this.color,
      load: this.load,
      loadFrom: this.config.loadFrom,
      stress: this.stress.status(),
      healthy: this.healthy,
      stores: [...this.links].map(([store, link]) => ({
        store,
        endpoints: link.registry.endpoints,
        connection: link.registry.state,
        registration: link.registration.state,
        problem: link.problem,
      })),
      network: this.network?.status() ?? {
        host: this.host,
        source: 'pinned',
        problem: null,
        changes: 0,
        changedAt: null,
      },
      led: this.led?.status() ?? null,
    };
  }

  /** Deregisters everywhere at once (each store at most `timeoutMs`), then closes the connections. */
  async stop(timeoutMs = 3000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.reportTimer);
    this.stress.stop();
    this.network?.stop();
    await Promise.all([
      this.led?.close(),
      ...[...this.links].map(async ([store, link]) => {
        link.colorWatch.close();
        const timeout = new Promise<'timeout'>((r) => setTimeout(r, timeoutMs, 'timeout').unref());
        try {
          if ((await Promise.race([link.registration.deregister(), timeout])) === 'timeout') {
            this.log.warn(
              { store },
              `${store}: could not deregister in time: the device goes when its window ends`,
            );
          } else {
            this.log.info({ store }, `${store}: deregistered`);
          }
        } catch (error) {
          this.log.warn(
            { store, err: errorMessage(error) },
            `${store}: could not deregister: ${errorMessage(error)}`,
          );
        }
        await link.registry.close();
      }),
    ]);
  }

  private connect(store: StoreKind, endpoints: string[]): StoreLink {
    const host = this.host;
    if (host === null) throw new Error('connect() before an address was found');
    const registry = createRegistry({
      store,
      endpoints,
      namespace: this.config.namespace,
      liveness: this.config.liveness,
      consulLoadIntervalSeconds: this.config.consulLoadIntervalSeconds,
      incarnation: this.incarnation,
      credentials: this.config.credentials,
    });
    const registration = registry.register({
      service: this.config.service,
      id: this.identity.id,
      host,
      port: this.config.port,
      labels: this.identity.labels,
      load: this.load,
      color: this.color,
    });
    const colorWatch = registry.watchConfig('color');
    const link: StoreLink = { registry, registration, colorWatch, problem: null, refused: null };
    const log = this.log.child({ store });

    registry.on('state', (state, detail) => {
      if (state === 'unauthorized') {
        // The store refuses this device's credentials: said once (error), with what to do (the
        // UnauthorizedError's message ends with it), not at every retry of the adapter.
        const message = detail.error?.message ?? `${store}: unauthorized`;
        if (link.refused !== message) log.error({ state, endpoint: detail.endpoint }, message);
        link.refused = message;
        link.problem = message;
        this.changed();
        return;
      }
      if (link.refused !== null && state === 'connecting') {
        log.debug({ state, endpoint: detail.endpoint }, `${store}: connecting again (refused before)`);
        this.changed();
        return;
      }
      if (state !== 'connecting') link.refused = null;
      log.info(
        { state, endpoint: detail.endpoint },
        `${store}: ${state}${detail.error ? ` (${detail.error.message})` : ''}`,
      );
      link.problem = state === 'disconnected' ? (detail.error?.message ?? 'unreachable') : link.problem;
      if (state === 'connected' && registration.state !== 'conflict') link.problem = null;
      // Back after an outage: the way to the store may be another interface now.
      if (state === 'connected') void this.network?.check();
      this.changed();
    });
    registration.on('registered', () => {
      link.problem = null;
      log.info(`${store}: registered as ${this.identity.id}`);
      this.changed();
    });
    registration.on('lost', (error) => {
      log.warn(`${store}: connection lost while registered (${error.message})`);
      this.changed();
    });
    registration.on('expired', (reason) => {
      log.warn(`${store}: registration expired (${reason}); registering again`);
      this.changed();
    });
    registration.on('conflict', (error) => {
      if (link.problem !== error.message) log.error(error.message);
      link.problem = error.message;
      this.changed();
    });
    colorWatch.on('value', (color) => {
      if (color !== undefined) this.applyColor(color, store);
    });
    colorWatch.on('invalid', (error) => {
      log.warn(`${store}: ${error.message}; keeping ${this.color ?? 'no color'}`);
    });
    return link;
  }

  private applyColor(color: string, from: StoreKind): void {
    if (color === this.color) return;
    this.log.info({ from, color }, `color ${color} (from ${from})`);
    this.color = color;
    void this.led?.blink();
    this.updateRegistrations({ color });
    this.changed();
  }

  private updateRegistrations(patch: { color?: string; load?: MachineLoad }): void {
    for (const [store, link] of this.links) {
      link.registration.update(patch).catch((error: Error) => {
        if (!this.stopping) this.log.debug({ store }, `${store}: update not written (${error.message})`);
      });
    }
  }

  private async measure(): Promise<boolean> {
    try {
      const load = await this.measureLoad();
      this.lastMeasuredAt = performance.now();
      if (!loadChanged(this.load, load)) return false;
      this.load = load;
      return true;
    } catch (error) {
      this.log.warn(`could not measure the load: ${errorMessage(error)}`);
      return false;
    }
  }

  /** A recursive timer, not an interval: a slow measurement never stacks up behind itself. */
  private scheduleReport(): void {
    this.reportTimer = setTimeout(async () => {
      if (await this.measure()) {
        this.updateRegistrations({ load: this.load! });
        this.changed();
      }
      if (!this.stopping) this.scheduleReport();
    }, this.config.reportIntervalSeconds * 1000);
  }

  /** What the LED shows: the worst of the stores (a conflict, then one unreachable), else registered. */
  private ledState(): LedState {
    if (this.stopping) return 'stopped';
    const links = [...this.links.values()];
    if (links.some((l) => l.registration.state === 'conflict')) return 'conflict';
    // Refused (unauthorized) blinks as unreachable: the device is in no store either way.
    if (
      links.length === 0 ||
      links.some((l) => l.registry.state === 'disconnected' || l.registry.state === 'unauthorized')
    )
      return 'unreachable';
    if (links.every((l) => l.registration.state === 'registered')) return 'registered';
    return 'starting';
  }

  private changed(): void {
    this.led?.set(this.ledState());
    this.emit('status', this.status());
  }
}
