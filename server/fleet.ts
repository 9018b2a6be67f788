// Each store's view of the fleet, kept from the registry's pushed watches: one tile per device per
// store, the stores' own state and members, and a timeline of what happened with measured latencies.
// Changes leave in small batches (at most one per event-loop turn) for the pages.
import { EventEmitter } from 'node:events';
import type { Logger } from '../lib/cli/log.ts';
import type {
  ConfigWatch,
  DiscoveredInstance,
  InstanceChange,
  InstanceWatch,
  Registry,
  StoreKind,
} from '../lib/registry/index.ts';
import {
  clip,
  createRegistry,
  type LivenessModel,
  layout,
  livenessModel,
  parseConfigValue,
  ValidationError,
} from '../lib/registry/index.ts';
import { COMMANDS, type CommandContext } from './commands.ts';
import type { ServerConfig } from './config.ts';
import type {
  DeviceView,
  FleetChanges,
  FleetSnapshot,
  SimulatedDevice,
  StoreView,
  TimelineEntry,
  TimelineKind,
} from './contract.ts';
import { NoteBudget } from './note-budget.ts';

const HISTORY = 30;
const TIMELINE = 200;
/** Timeline texts and store errors reach every page: one line each, whatever a store said. */
const TEXT_MAX = 300;
const MEMBERS_EVERY_MS = 5000;
export const PALETTE = [
  '#e63946',
  '#f4a261',
  '#e9c46a',
  '#2a9d8f',
  '#457b9d',
  '#9b5de5',
  '#ffffff',
  '#222222',
];

type Gone = FleetChanges['gone'][number];

/** Keyed by store/id, so that many changes to one device in one turn leave as one. */
interface PendingChanges {
  devices: Map<string, DeviceView>;
  gone: Map<string, Gone>;
  stores: Map<StoreKind, StoreView>;
  timeline: TimelineEntry[];
  /** undefined: unchanged. */
  simulation?: SimulatedDevice[] | null;
}

interface StoreLink {
  registry: Registry;
  watch: InstanceWatch;
  colorWatch: ConfigWatch;
  view: StoreView;
  commands: CommandContext;
  membersTimer: NodeJS.Timeout | undefined;
  /** Devices shown on the page. */
  shown: number;
  /** Ids of the devices over the cap, in arrival order: the first is shown when a shown one leaves. */
  hidden: Set<string>;
  /** Skipped entries are named in the timeline within a budget, so that a flood cannot push out the rest. */
  invalidNotes: NoteBudget;
  liveness: LivenessModel;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const lossText = (from: StoreKind | 'unplug' | 'kill') =>
  from === 'unplug' ? 'it was unplugged' : from === 'kill' ? 'it was killed' : `${from} lost it`;

export class Fleet extends EventEmitter<{ changes: [FleetChanges] }> {
  private readonly links = new Map<StoreKind, StoreLink>();
  private readonly devices = new Map<string, DeviceView>();
  private readonly timeline: TimelineEntry[] = [];
  private seq = 0;
  private pending: PendingChanges | undefined;
  /** Per device id: when and where it was first found missing or critical (cleared when it comes back). */
  private readonly firstLoss = new Map<string, { at: number; store: StoreKind | 'unplug' | 'kill' }>();
  private simulation: SimulatedDevice[] | null = null;
  private lastColorSet: { color: string; at: number } | undefined;

  constructor(
    private readonly config: Readonly<ServerConfig>,
    private readonly log: Logger,
  ) {
    super();
  }

  start(): void {
    for (const [store, endpoints] of Object.entries(this.config.stores) as [StoreKind, string[]][]) {
      this.links.set(store, this.connect(store, endpoints));
    }
  }

  snapshot(presenter: boolean, audienceUrl: string): FleetSnapshot {
    return {
      serverTime: Date.now(),
      namespace: this.config.namespace,
      service: this.config.service,
      presenter,
      audienceUrl,
      stores: [...this.links.values()].map((l) => l.view),
      devices: [...this.devices.values()],
      timeline: [...this.timeline],
      palette: PALETTE,
      simulation: this.simulation,
    };
  }

  /** The simulated fleet's devices as its supervisor reports them (null: none attached). */
  setSimulation(devices: SimulatedDevice[] | null): void {
    if (JSON.stringify(devices) === JSON.stringify(this.simulation)) return;
    this.simulation = devices;
    this.queue({ simulation: devices });
  }

  /** The presenter unplugged or killed a device: each store's loss is then measured from this moment. */
  markLost(id: string, why: 'unplug' | 'kill'): void {
    this.firstLoss.set(id, { at: Date.now(), store: why });
    this.note(
      null,
      id,
      'left',
      `${id}: ${why === 'unplug' ? 'unplugged' : 'killed'} by the presenter`,
      null,
      null,
    );
  }

  /** Writes the color to every store (or one); the devices do the rest. Rejects with a message to show. */
  async setColor(color: unknown, target: StoreKind | 'all' = 'all'): Promise<StoreKind[]> {
    const parsed =
      typeof color === 'string'
        ? parseConfigValue('color', color)
        : { ok: false as const, expected: 'a string' };
    if (!parsed.ok) throw new ValidationError('color', [{ field: 'color', expected: parsed.expected }]);
    const stores = target === 'all' ? [...this.links.keys()] : [target];
    if (!stores.every((s) => this.links.has(s))) {
      throw new ValidationError('store', [
        { field: 'store', expected: `all or one of ${[...this.links.keys()].join(', ')}` },
      ]);
    }
    this.lastColorSet = { color: parsed.value, at: Date.now() };
    const results = await Promise.allSettled(
      stores.map((s) => this.links.get(s)!.registry.setConfig('color', parsed.value)),
    );
    const failed = stores.filter((_, i) => results[i]!.status === 'rejected');
    for (const store of stores.filter((s) => !failed.includes(s))) {
      const link = this.links.get(store)!;
      this.note(
        store,
        null,
        'color-set',
        `color set to ${parsed.value} in ${store}`,
        null,
        COMMANDS[store].setColor(link.commands, parsed.value),
      );
    }
    if (failed.length > 0) {
      const reasons = failed.map(
        (s, i) => `${s}: ${(results[stores.indexOf(s)] as PromiseRejectedResult).reason?.message ?? i}`,
      );
      throw new Error(`not written to ${reasons.join('; ')}`);
    }
    return stores;
  }

  async close(): Promise<void> {
    for (const link of this.links.values()) {
      clearTimeout(link.membersTimer);
      link.invalidNotes.close();
    }
    await Promise.all([...this.links.values()].map((l) => l.registry.close()));
  }

  private connect(store: StoreKind, endpoints: string[]): StoreLink {
    const { namespace, service, liveness } = this.config;
    const registry = createRegistry({ store, endpoints, namespace, liveness });
    const model = livenessModel(store, liveness);
    const watch = registry.watchInstances(service);
    const colorWatch = registry.watchConfig('color');
    const link: StoreLink = {
      registry,
      watch,
      colorWatch,
      commands: { endpoint: endpoints[0]!, keys: layout(namespace), service },
      membersTimer: undefined,
      liveness: model,
      shown: 0,
      hidden: new Set(),
      invalidNotes: new NoteBudget((suppressed) =>
        this.note(
          store,
          null,
          'invalid',
          `and ${suppressed} more entries skipped in ${store} (malformed or written by hand): not named one by one`,
          null,
          null,
        ),
      ),
      view: {
        store,
        endpoints,
        connection: registry.state,
        watch: watch.state,
        error: null,
        windowMs: model.windowMs,
        windowText: model.text,
        members: [],
        color: null,
        skipped: watch.skipped(),
        hidden: 0,
      },
    };
    registry.on('state', (connection, detail) => {
      this.updateStore(link, {
        connection,
        error:
          connection === 'connected' ? null : detail.error ? clip(detail.error.message) : link.view.error,
      });
    });
    watch.on('state', (state, error) => {
      const wasDown = link.view.watch === 'down';
      this.updateStore(link, {
        watch: state,
        error: state === 'down' ? clip(error?.message ?? 'unreachable') : null,
      });
      if (state === 'down' && !wasDown)
        this.note(
          store,
          null,
          'store-down',
          `${store} is down: ${error?.message ?? 'unreachable'}; its devices are shown as last known`,
          null,
          null,
        );
      if (state === 'live' && wasDown)
        this.note(store, null, 'store-up', `${store} is back`, null, COMMANDS[store].watch(link.commands));
    });
    watch.on('change', (change) => this.onChange(link, change));
    watch.on('invalid', (error) => {
      if (link.invalidNotes.take()) this.note(store, null, 'invalid', error.message, null, null);
    });
    watch.on('skipped', (skipped) => this.updateStore(link, { skipped }));
    colorWatch.on('value', (color) => this.updateStore(link, { color: color ?? null }));
    colorWatch.on('invalid', (error) => {
      if (link.invalidNotes.take()) this.note(store, null, 'invalid', error.message, null, null);
    });
    void this.pollMembers(link);
    return link;
  }

  /** Members and roles change rarely and no store pushes them: asked every few seconds. */
  private async pollMembers(link: StoreLink): Promise<void> {
    try {
      const members = await link.registry.members();
      if (JSON.stringify(members) !== JSON.stringify(link.view.members)) this.updateStore(link, { members });
    } catch {
      // the connection state already says the store is down
    }
    link.membersTimer = setTimeout(() => void this.pollMembers(link), MEMBERS_EVERY_MS);
  }

  private onChange(link: StoreLink, change: InstanceChange): void {
    const store = link.view.store;
    const { id } = change.instance.record;
    const key = `${store}/${id}`;
    const now = Date.now();
    const previous = this.devices.get(key);
    if (!previous && this.overCap(link, change)) return;
    if (change.type === 'removed') {
      this.devices.delete(key);
      if (previous) link.shown--;
      this.queue({ gone: [{ store, id }] });
      const loss = this.firstLoss.get(id);
      const reaped = link.liveness.reapAfterCriticalMs !== null && previous?.health === 'critical';
      const text = reaped
        ? `${id} reaped by ${store} ${seconds(now - (previous?.criticalSince ?? now))} after it turned critical`
        : loss && loss.store !== store
          ? `${id} gone from ${store}, ${seconds(now - loss.at)} after ${lossText(loss.store)}`
          : `${id} gone from ${store}`;
      this.note(
        store,
        id,
        reaped ? 'reaped' : loss ? 'expired' : 'left',
        text,
        loss && !reaped ? now - loss.at : null,
        COMMANDS[store].watch(link.commands),
      );
      if (!loss) this.firstLoss.set(id, { at: now, store });
      if (previous) this.showNextHidden(link);
      return;
    }
    const view = this.toView(link, change.instance, previous, now);
    if (!previous) link.shown++;
    this.devices.set(key, view);
    this.queue({ devices: [view] });
    const command = COMMANDS[store].device(link.commands, id);
    if (!previous) {
      this.firstLoss.delete(id);
      this.note(store, id, 'joined', `${id} joined ${store} at ${view.host}:${view.port}`, null, command);
      return;
    }
    if (previous.health !== 'critical' && view.health === 'critical') {
      const loss = this.firstLoss.get(id);
      const after =
        loss && loss.store !== store ? `, ${seconds(now - loss.at)} after ${lossText(loss.store)}` : '';
      const detail = view.liveness.model === 'check' ? view.liveness.output.split('\n')[0] : '';
      this.note(
        store,
        id,
        'critical',
        `${id} critical in ${store}${after}${detail ? ` (${detail})` : ''}`,
        loss ? now - loss.at : null,
        COMMANDS[store].liveness(link.commands, id, ''),
      );
      if (!loss) this.firstLoss.set(id, { at: now, store });
    } else if (previous.health === 'critical' && view.health !== 'critical') {
      this.firstLoss.delete(id);
      this.note(store, id, 'recovered', `${id} passing again in ${store}`, null, command);
    }
    if (view.color !== previous.color && view.color) {
      const set = this.lastColorSet?.color === view.color ? now - this.lastColorSet.at : null;
      const text = `${id} applied ${view.color} (${store})${set === null ? '' : `, ${set} ms after it was set`}`;
      this.note(store, id, 'updated-color', text, set, command);
    }
  }

  /**
   * A device not shown: true when it stays hidden (the column is full, or it is one of the hidden
   * ones), counted in the store's `hidden`.
   */
  private overCap(link: StoreLink, change: InstanceChange): boolean {
    const { id } = change.instance.record;
    if (change.type === 'removed') {
      if (!link.hidden.delete(id)) return false;
    } else if (link.hidden.has(id)) {
      return true;
    } else if (link.shown >= this.config.maxDevices) {
      link.hidden.add(id);
    } else {
      return false;
    }
    this.updateStore(link, { hidden: link.hidden.size });
    return true;
  }

  /** A shown device left: the first hidden one takes its place. */
  private showNextHidden(link: StoreLink): void {
    for (const id of link.hidden) {
      link.hidden.delete(id);
      this.updateStore(link, { hidden: link.hidden.size });
      const instance = link.watch.get(id);
      if (instance) {
        this.onChange(link, { type: 'added', instance });
        return;
      }
    }
  }

  private toView(
    link: StoreLink,
    instance: DiscoveredInstance,
    previous: DeviceView | undefined,
    now: number,
  ): DeviceView {
    const { record, health, liveness } = instance;
    const criticalSince = health === 'critical' ? (previous?.criticalSince ?? now) : null;
    let history = previous?.history ?? [];
    const load = record.load;
    if (load && JSON.stringify(load) !== JSON.stringify(previous?.load)) {
      history = [
        ...history,
        { at: now, cpu: load.cpuPercent, mem: load.memUsedPercent, temp: load.temperatureC },
      ].slice(-HISTORY);
    }
    return {
      store: link.view.store,
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
      reapAt:
        criticalSince === null || link.liveness.reapAfterCriticalMs === null
          ? null
          : criticalSince + link.liveness.reapAfterCriticalMs,
      history,
    };
  }

  private updateStore(link: StoreLink, patch: Partial<StoreView>): void {
    link.view = { ...link.view, ...patch };
    this.queue({ stores: [link.view] });
  }

  private note(
    store: StoreKind | null,
    deviceId: string | null,
    kind: TimelineKind,
    text: string,
    latencyMs: number | null,
    command: string | null,
  ): void {
    const entry: TimelineEntry = {
      seq: ++this.seq,
      at: Date.now(),
      store,
      deviceId,
      kind,
      text: clip(text, TEXT_MAX),
      latencyMs,
      command: command === null ? null : clip(command, TEXT_MAX),
    };
    this.timeline.push(entry);
    if (this.timeline.length > TIMELINE) this.timeline.shift();
    this.log.info({ store, deviceId, kind }, entry.text);
    this.queue({ timeline: [entry] });
  }

  private queue(part: {
    devices?: DeviceView[];
    gone?: Gone[];
    stores?: StoreView[];
    timeline?: TimelineEntry[];
    simulation?: SimulatedDevice[] | null;
  }): void {
    if (!this.pending) {
      this.pending = { devices: new Map(), gone: new Map(), stores: new Map(), timeline: [] };
      setImmediate(() => this.flush());
    }
    const p = this.pending;
    for (const d of part.devices ?? []) {
      p.gone.delete(`${d.store}/${d.id}`);
      p.devices.set(`${d.store}/${d.id}`, d);
    }
    for (const g of part.gone ?? []) {
      p.devices.delete(`${g.store}/${g.id}`);
      p.gone.set(`${g.store}/${g.id}`, g);
    }
    for (const v of part.stores ?? []) p.stores.set(v.store, v);
    p.timeline.push(...(part.timeline ?? []));
    if (part.simulation !== undefined) p.simulation = part.simulation;
  }

  private flush(): void {
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    this.emit('changes', {
      serverTime: Date.now(),
      devices: [...p.devices.values()],
      gone: [...p.gone.values()],
      stores: [...p.stores.values()],
      timeline: p.timeline,
      ...(p.simulation === undefined ? {} : { simulation: p.simulation }),
    });
  }
}
