// One store as the server sees it: the registry connected to it, the watches of the devices and of the
// color, its members (polled), and its column header (StoreView). The column holds at most the
// server's cap of tiles; devices over it are counted, not sent, and the first of them takes the place
// of a shown device that leaves.
import type {
  ConfigWatch,
  DiscoveredInstance,
  InstanceChange,
  InstanceWatch,
  LivenessModel,
  Registry,
} from '../../lib/registry/index.ts';
import {
  chooseInstance,
  clip,
  createRegistry,
  deviceLivenessModel,
  isUnauthorizedError,
  livenessModel,
  machineLoad,
} from '../../lib/registry/index.ts';
import { type BoundCommands, bindCommands } from '../commands.ts';
import type { ServerConfig } from '../config.ts';
import type { DeviceView, ExpiredStamp, KitStore, LivenessView, StoreKind, StoreView } from '../contract.ts';
import { LivenessPoller } from './liveness-poll.ts';
import { NoteBudget } from './note-budget.ts';
import type { Note } from './timeline.ts';

/**
 * A refusal's message is shown whole: it ends with what to do (the settings to set), which a cut at the
 * usual 300 characters would lose.
 */
const REFUSED_CHARS = 800;
/** How long a watch down while connecting waits for the connection's state before the timeline says "down". */
const DOWN_NOTE_WAIT_MS = 3000;

/** Load samples kept per device for the sparklines. */
const HISTORY = 30;
const MEMBERS_EVERY_MS = 5000;

/** What a link tells the fleet. */
export interface StoreLinkHooks {
  /** The column header changed. */
  view(view: StoreView): void;
  /** A device was added, updated or removed in this store. */
  change(link: StoreLink, change: InstanceChange): void;
  /** Something for the timeline. */
  note(note: Note): void;
  /** The devices this store's column shows now (their countdowns are read from the store). */
  shown?(store: StoreKind): DeviceView[];
  /** Countdowns read from the store (liveness-poll.ts). */
  liveness?(views: LivenessView[]): void;
}

export class StoreLink {
  readonly registry: Registry;
  readonly commands: BoundCommands;
  readonly liveness: LivenessModel;
  /** The shown devices' countdowns, read from the store once a second. */
  readonly poller: LivenessPoller;
  private readonly watch: InstanceWatch;
  private readonly colorWatch: ConfigWatch;
  private current: StoreView;
  private membersTimer: NodeJS.Timeout | undefined;
  private membersPolling = false;
  private closed = false;
  /** Devices shown on the page. */
  private shown = 0;
  /** Ids of the devices over the cap, in arrival order: the first is shown when a shown one leaves. */
  private readonly hidden = new Set<string>();
  /** Skipped entries are named in the timeline within a budget, so that a flood cannot push out the rest. */
  private readonly invalidNotes: NoteBudget;
  /** The next pick is worked out once per event-loop turn, however many devices changed in it. */
  private pickQueued = false;
  /** The store refuses the server's credentials, and the timeline says so (once per refusal). */
  private refusedNoted = false;
  /**
   * A watch down while the connection is still being made: the timeline's "is down" waits for the
   * connection's state, since a store that refuses the credentials is not down (its refusal is said).
   */
  private downPending: { error: string; timer: NodeJS.Timeout } | undefined;

  constructor(
    readonly store: StoreKind,
    endpoints: string[],
    private readonly config: Readonly<ServerConfig>,
    private readonly hooks: StoreLinkHooks,
  ) {
    const { namespace, service, liveness, credentials } = config;
    this.registry = createRegistry({ store, endpoints, namespace, liveness, credentials });
    this.watch = this.registry.watchInstances(service);
    this.colorWatch = this.registry.watchConfig('color');
    this.commands = bindCommands(store, { endpoint: endpoints[0]!, namespace, service });
    this.liveness = livenessModel(store, liveness);
    this.invalidNotes = new NoteBudget((suppressed) =>
      hooks.note({
        store,
        kind: 'invalid',
        text: `and ${suppressed} more entries skipped in ${store} (malformed or written by hand): not named one by one`,
      }),
    );
    this.current = {
      store,
      endpoints,
      connection: this.registry.state,
      watch: this.watch.state,
      error: null,
      windowMs: this.liveness.windowMs,
      windowText: this.liveness.text,
      members: [],
      color: null,
      skipped: this.watch.skipped(),
      hidden: 0,
      pick: null,
    };
    this.poller = new LivenessPoller(
      store,
      this.registry,
      () => hooks.shown?.(store) ?? [],
      (views) => hooks.liveness?.(views),
    );
    this.listen();
    void this.pollMembers();
  }

  /** The column header as last sent. */
  get view(): StoreView {
    return this.current;
  }

  setColor(color: string): Promise<void> {
    return this.registry.setConfig('color', color);
  }

  /**
   * A change to a device not shown: true when it stays hidden (the column is full, or it is one of
   * the hidden ones), counted in the column's `hidden`.
   */
  overCap(change: InstanceChange): boolean {
    const { id } = change.instance.record;
    if (change.type === 'removed') {
      if (!this.hidden.delete(id)) return false;
    } else if (this.hidden.has(id)) {
      return true;
    } else if (this.shown >= this.config.maxDevices) {
      this.hidden.add(id);
    } else {
      return false;
    }
    this.update({ hidden: this.hidden.size });
    return true;
  }

  /** A device is shown now. */
  shows(): void {
    this.shown++;
  }

  /** A shown device left: the first hidden one still in the store is to take its place. */
  left(): DiscoveredInstance | undefined {
    this.shown--;
    for (const id of this.hidden) {
      this.hidden.delete(id);
      this.update({ hidden: this.hidden.size });
      const instance = this.watch.get(id);
      if (instance) return instance;
    }
    return undefined;
  }

  /** The tile of a device (an added or updated instance), with its load history carried over. */
  deviceView(instance: DiscoveredInstance, previous: DeviceView | undefined, now: number): DeviceView {
    const { record, health, liveness } = instance;
    const criticalSince = health === 'critical' ? (previous?.criticalSince ?? now) : null;
    let history = previous?.history ?? [];
    const load = machineLoad(record.load);
    if (load && JSON.stringify(load) !== JSON.stringify(previous?.load)) {
      history = [
        ...history,
        { at: now, cpu: load.cpuPercent, mem: load.memUsedPercent, temp: load.temperatureC },
      ].slice(-HISTORY);
    }
    // The device's own window: the liveness settings its record carries over the server's.
    const own = deviceLivenessModel(this.store, this.registry.liveness, record.liveness);
    const reapAfterMs = own.reapAfterCriticalMs;
    return {
      store: this.store,
      id: record.id,
      host: record.host,
      port: record.port,
      labels: record.labels,
      color: record.color,
      load,
      health,
      liveness,
      registeredAt: record.registeredAt,
      updatedAt: record.updatedAt,
      seenAt: now,
      criticalSince,
      reapAt: criticalSince === null || reapAfterMs === null ? null : criticalSince + reapAfterMs,
      history,
      window: { ms: own.windowMs, text: own.text, own: own.own },
    };
  }

  /**
   * The device left this store: when it ran out, how long after its last contact (or, Consul, after it
   * turned critical), for the page's "expired after 5.2 s (window 5 s)". undefined: it left cleanly. A
   * store whose dead devices turn critical first removes a passing one only when it is deregistered.
   */
  expiredStamp(previous: DeviceView, now: number): ExpiredStamp | undefined {
    if (previous.criticalSince !== null && previous.reapAt !== null) {
      this.poller.forget(previous.id);
      const windowMs = previous.reapAt - previous.criticalSince;
      return { kind: 'reaped', afterMs: now - previous.criticalSince, windowMs, source: 'critical' };
    }
    if (this.liveness.reapAfterCriticalMs !== null) {
      this.poller.forget(previous.id);
      return undefined;
    }
    return this.poller.expiredStamp(previous, previous.window?.ms ?? this.liveness.windowMs, now);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cancelDownNote();
    clearTimeout(this.membersTimer);
    this.invalidNotes.close();
    this.poller.close();
    await this.registry.close();
  }

  private listen(): void {
    const { store, registry, watch, colorWatch } = this;
    registry.on('state', (connection, detail) => {
      if (connection === 'unauthorized') {
        this.cancelDownNote();
        this.refused(detail.error?.message ?? `${store}: unauthorized`);
        this.update({ connection });
        return;
      }
      if (connection !== 'connecting') this.flushDownNote();
      if (connection === 'connected') this.refusedNoted = false;
      this.update({
        connection,
        error:
          connection === 'connected' ? null : detail.error ? clip(detail.error.message) : this.current.error,
      });
    });
    watch.on('state', (state, error) => {
      const wasDown = this.current.watch === 'down';
      // Down because the store refuses the credentials: said as that, not as "down".
      if (state === 'down' && (isUnauthorizedError(error) || this.current.connection === 'unauthorized')) {
        if (isUnauthorizedError(error)) this.refused(error.message);
        this.update({ watch: state });
        return;
      }
      this.update({ watch: state, error: state === 'down' ? clip(error?.message ?? 'unreachable') : null });
      if (state !== 'down') this.cancelDownNote();
      if (state === 'down' && !wasDown) {
        const text = `${store} is down: ${error?.message ?? 'unreachable'}; its devices are shown as last known`;
        if (this.current.connection !== 'connecting') this.hooks.note({ store, kind: 'store-down', text });
        else {
          this.cancelDownNote();
          const timer = setTimeout(() => this.flushDownNote(), DOWN_NOTE_WAIT_MS);
          timer.unref();
          this.downPending = { error: text, timer };
        }
      }
      if (state === 'live' && wasDown)
        this.hooks.note({
          store,
          kind: 'store-up',
          text: `${store} is back`,
          command: this.commands.watch(),
        });
    });
    watch.on('change', (change) => {
      this.hooks.change(this, change);
      this.queuePick();
    });
    watch.on('invalid', (error) => this.noteInvalid(error.message));
    watch.on('skipped', (skipped) => this.update({ skipped }));
    colorWatch.on('value', (color) => this.update({ color: color ?? null }));
    colorWatch.on('invalid', (error) => this.noteInvalid(error.message));
  }

  private cancelDownNote(): void {
    clearTimeout(this.downPending?.timer);
    this.downPending = undefined;
  }

  /** The connection's state is known (or the wait is over): a pending "is down" goes to the timeline. */
  private flushDownNote(): void {
    const pending = this.downPending;
    this.cancelDownNote();
    if (
      pending &&
      !this.closed &&
      this.current.watch === 'down' &&
      this.current.connection !== 'unauthorized'
    )
      this.hooks.note({ store: this.store, kind: 'store-down', text: pending.error });
  }

  /** The store refuses the server's credentials: the column's error says so and what to do; the timeline once. */
  private refused(message: string): void {
    this.update({ error: clip(message, REFUSED_CHARS) });
    if (this.refusedNoted) return;
    this.refusedNoted = true;
    // The message starts "etcd: unauthorized: ...": the store is named once.
    const why = message.replace(new RegExp(`^${this.store}: unauthorized: `), '');
    this.hooks.note({
      store: this.store,
      kind: 'store-unauthorized',
      text: `${this.store} refuses the server's credentials: ${clip(why, REFUSED_CHARS)}`,
    });
  }

  /**
   * The device a least-loaded client would be handed now, from every device the store lists (the
   * page's "next pick"); a new value leaves with the column header through the batcher.
   */
  private queuePick(): void {
    if (this.pickQueued) return;
    this.pickQueued = true;
    setImmediate(() => {
      this.pickQueued = false;
      if (this.closed) return;
      const pick = chooseInstance(this.watch.instances(), 'least-loaded')?.picked.record.id ?? null;
      if (pick !== this.current.pick) this.update({ pick });
    });
  }

  private noteInvalid(text: string): void {
    if (this.invalidNotes.take()) this.hooks.note({ store: this.store, kind: 'invalid', text });
  }

  /** Members and roles change rarely and no store pushes them: asked every few seconds. */
  private async pollMembers(): Promise<void> {
    this.membersPolling = true;
    try {
      const members = await this.registry.members();
      if (JSON.stringify(members) !== JSON.stringify(this.current.members)) this.update({ members });
    } catch {
      // the connection state already says the store is down
    }
    this.membersPolling = false;
    clearTimeout(this.membersTimer);
    if (!this.closed) this.membersTimer = setTimeout(() => void this.pollMembers(), MEMBERS_EVERY_MS);
  }

  /** Asks for the members now (the presenter just killed or restarted one: the room watches the election). */
  refreshMembers(): void {
    if (this.closed || this.membersPolling) return;
    clearTimeout(this.membersTimer);
    void this.pollMembers();
  }

  /** The store's processes as the kit reports them (null: not started by the kit). */
  setControl(control: KitStore | null): void {
    if (JSON.stringify(control) !== JSON.stringify(this.current.control ?? null)) this.update({ control });
  }

  private update(patch: Partial<StoreView>): void {
    this.current = { ...this.current, ...patch };
    this.hooks.view(this.current);
  }
}
