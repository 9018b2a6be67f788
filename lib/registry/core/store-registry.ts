// The Registry of one store: validates every input once, then hands the store work to its adapter and
// the bookkeeping to the shared registration and view classes.
import { EventEmitter } from 'node:events';
import type { CloseHow, StoreAdapter } from '../adapters/adapter.ts';
import type { BackoffOptions } from '../backoff.ts';
import { parseConfigValue } from '../config-keys.ts';
import {
  ClosedError,
  MalformedValueError,
  type RegistryError,
  StoreUnavailableError,
  ValidationError,
} from '../errors.ts';
import type { Layout } from '../layout.ts';
import { storeKnobs } from '../liveness.ts';
import { newIncarnation, newRecord } from '../record.ts';
import { configKeySchema, instanceSpecSchema, parseOrThrow, serviceSchema } from '../schema.ts';
import type {
  ClusterMember,
  ConfigWatch,
  ConnectionState,
  InstanceSpec,
  InstanceWatch,
  LivenessReading,
  LivenessSettings,
  LivenessTarget,
  PickOptions,
  PickResult,
  PickState,
  Registration,
  Registry,
  RegistryEvents,
  StoreKind,
} from '../types.ts';
import { ConfigView } from './config-view.ts';
import { InstanceView } from './instance-view.ts';
import { chooseInstance, PICK_STRATEGIES } from './pick.ts';
import { RegistrationHandle } from './registration.ts';

export interface StoreRegistryOptions {
  namespace: string;
  endpoints: readonly string[];
  liveness: Readonly<LivenessSettings>;
  layout: Layout;
  backoff: BackoffOptions;
  requestTimeoutMs: number;
  /** RegistryOptions.incarnation, validated; undefined: a new one. */
  incarnation?: string;
}

/** The view pick() keeps of one service: the watch, whether it ever synced, the strategies' state. */
interface PickView {
  view: InstanceView;
  state: PickState;
  synced: boolean;
  /** Why the store is not answering, as the watch last said. */
  lastError: RegistryError | undefined;
}

export class StoreRegistry extends EventEmitter<RegistryEvents> implements Registry {
  readonly store: StoreKind;
  readonly namespace: string;
  readonly endpoints: readonly string[];
  readonly liveness: Readonly<LivenessSettings>;
  /** One per process, so that a restarted agent's old record is told apart from another device's. */
  private readonly incarnation: string;
  private readonly registrations = new Set<RegistrationHandle>();
  private readonly watches = new Set<{ close(): void }>();
  /** pick()'s views, one per service asked about, open until close(). */
  private readonly pickViews = new Map<string, PickView>();
  private closed = false;

  constructor(
    private readonly adapter: StoreAdapter,
    private readonly options: StoreRegistryOptions,
  ) {
    super();
    this.store = adapter.kind;
    this.namespace = options.namespace;
    this.endpoints = options.endpoints;
    this.liveness = options.liveness;
    this.incarnation = options.incarnation ?? newIncarnation();
    adapter.on('state', (state, detail) => this.emit('state', state, detail));
  }

  get state(): ConnectionState {
    return this.adapter.state;
  }

  register(spec: InstanceSpec): Registration {
    this.assertOpen();
    const valid = parseOrThrow(instanceSpecSchema, spec, 'instance');
    const handle = new RegistrationHandle(
      this.adapter,
      // The record carries this process's own liveness settings for the store: readers show its window.
      newRecord(valid, this.incarnation, new Date(), storeKnobs(this.store, this.liveness)),
      this.options.backoff,
    );
    this.registrations.add(handle);
    handle.on('state', (state) => {
      if (state === 'deregistered') this.registrations.delete(handle);
    });
    return handle;
  }

  watchInstances(service: string): InstanceWatch {
    this.assertOpen();
    const valid = parseOrThrow(serviceSchema, service, 'service', 'service');
    const view = new InstanceView(this.store, valid, (sink) => this.adapter.watchInstances(valid, sink));
    return this.track(view);
  }

  async getConfig(key: string): Promise<string | undefined> {
    this.assertOpen();
    const valid = parseOrThrow(configKeySchema, key, 'config key', 'key');
    await this.connected();
    const raw = await this.adapter.readConfig(valid);
    if (raw === undefined) return undefined;
    const parsed = parseConfigValue(valid, raw);
    if (!parsed.ok)
      throw new MalformedValueError(this.store, this.options.layout.configPath(valid), parsed.expected);
    return parsed.value;
  }

  async setConfig(key: string, value: string): Promise<void> {
    this.assertOpen();
    const validKey = parseOrThrow(configKeySchema, key, 'config key', 'key');
    const parsed =
      typeof value === 'string'
        ? parseConfigValue(validKey, value)
        : { ok: false as const, expected: 'a string' };
    if (!parsed.ok)
      throw new ValidationError(`config value of "${validKey}"`, [
        { field: validKey, expected: parsed.expected },
      ]);
    await this.connected();
    await this.adapter.writeConfig(validKey, parsed.value);
  }

  watchConfig(key: string): ConfigWatch {
    this.assertOpen();
    const valid = parseOrThrow(configKeySchema, key, 'config key', 'key');
    const storeKey = this.options.layout.configPath(valid);
    const view = new ConfigView(this.store, valid, storeKey, (sink) => this.adapter.watchConfig(valid, sink));
    return this.track(view);
  }

  async pick(service: string, options?: PickOptions): Promise<PickResult | undefined> {
    this.assertOpen();
    const valid = parseOrThrow(serviceSchema, service, 'service', 'service');
    const strategy = (options as PickOptions | null | undefined)?.strategy ?? 'least-loaded';
    if (!PICK_STRATEGIES.includes(strategy))
      throw new ValidationError('pick options', [
        { field: 'strategy', expected: `one of ${PICK_STRATEGIES.join(', ')}` },
      ]);
    const pv = this.pickViewOf(valid);
    if (!pv.synced) await this.firstSync(pv);
    const result = chooseInstance(pv.view.instances(), strategy, pv.state);
    if (result && pv.view.state === 'down')
      result.reason += `; ${this.store} is down, so this is from the last known list`;
    return result;
  }

  async members(): Promise<ClusterMember[]> {
    this.assertOpen();
    await this.connected();
    return this.adapter.members();
  }

  async readLiveness(targets: readonly LivenessTarget[]): Promise<Map<string, LivenessReading>> {
    if (this.closed || targets.length === 0) return new Map();
    try {
      return await this.adapter.readLiveness(targets);
    } catch {
      return new Map(); // promised never to reject: the countdown falls back to the events
    }
  }

  close(): Promise<void> {
    return this.end('clean');
  }

  drop(): Promise<void> {
    return this.end('unplugged');
  }

  private async end(how: CloseHow): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const handle of this.registrations) handle.abandon();
    this.registrations.clear();
    for (const watch of this.watches) watch.close();
    this.watches.clear();
    this.pickViews.clear();
    await this.adapter.close(how);
  }

  private track<T extends { close(): void }>(watch: T): T {
    this.watches.add(watch);
    const close = watch.close.bind(watch);
    watch.close = () => {
      this.watches.delete(watch);
      close();
    };
    return watch;
  }

  private pickViewOf(service: string): PickView {
    const known = this.pickViews.get(service);
    if (known) return known;
    const view = this.track(
      new InstanceView(this.store, service, (sink) => this.adapter.watchInstances(service, sink)),
    );
    const pv: PickView = { view, state: {}, synced: view.state === 'live', lastError: undefined };
    view.on('state', (state, error) => {
      if (state === 'live') pv.synced = true;
      if (state === 'down') pv.lastError = error;
    });
    this.pickViews.set(service, pv);
    return pv;
  }

  /** Waits for the view's first sync, at most one request's time, as the other calls give a store. */
  private firstSync(pv: PickView): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (error?: Error) => {
        clearTimeout(timer);
        pv.view.off('state', onState);
        if (error) reject(error);
        else resolve();
      };
      const onState = (state: string) => {
        if (state === 'live') done();
        else if (state === 'closed') done(new ClosedError(this.store));
      };
      const timer = setTimeout(() => {
        // A refusal is said as it is: the store answered, and will not list for these credentials.
        if (pv.lastError?.code === 'UNAUTHORIZED') return done(pv.lastError);
        // The last error without its "<store> is unavailable:" prefix, which this error says already.
        const why = pv.lastError?.message.replace(new RegExp(`^${this.store}( is unavailable)?: `), '');
        done(
          new StoreUnavailableError(
            this.store,
            `no list of ${pv.view.service} within ${this.options.requestTimeoutMs} ms (${why || 'no answer'})`,
            pv.lastError,
          ),
        );
      }, this.options.requestTimeoutMs);
      pv.view.on('state', onState);
      if (pv.synced) done();
    });
  }

  /** A registry just created is still connecting: give it one request's time before trying. */
  private connected(): Promise<void> {
    return this.adapter.whenConnected(AbortSignal.timeout(this.options.requestTimeoutMs));
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError(this.store);
  }
}
