// Each store's view of the fleet, kept from the registry's pushed watches: one tile per device per
// store, the stores' own state and members (store-link.ts), and a timeline of what happened with
// measured latencies (timeline.ts). Changes leave in small batches for the pages (batcher.ts).
import { EventEmitter } from 'node:events';
import type { Logger } from '../../lib/cli/log.ts';
import type { InstanceChange } from '../../lib/registry/index.ts';
import { parseConfigValue, ValidationError } from '../../lib/registry/index.ts';
import type { ServerConfig } from '../config.ts';
import type {
  DeviceView,
  FleetChanges,
  FleetSnapshot,
  KitStore,
  LivenessView,
  SimulatedDevice,
  StoreKind,
  StoreView,
  TimelineEntry,
} from '../contract.ts';
import { AudienceBands } from './audience-bands.ts';
import { ChangeBatcher, traceNow } from './batcher.ts';
import { Disagreement } from './disagreement.ts';
import { StoreLink } from './store-link.ts';
import { type Note, Timeline } from './timeline.ts';
import type { TimelineFile } from './timeline-file.ts';

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

export class Fleet extends EventEmitter<{ changes: [FleetChanges] }> {
  private readonly links = new Map<StoreKind, StoreLink>();
  /** The tiles shown, keyed by store/id. */
  private readonly devices = new Map<string, DeviceView>();
  private readonly batcher = new ChangeBatcher((changes) => this.emit('changes', changes));
  private readonly timeline: Timeline;
  private simulation: SimulatedDevice[] | null = null;
  /** Where the stores disagree (flags on the tiles, entries in the timeline). */
  private readonly disagreement: Disagreement;
  /** The timeline entry the presenter pinned above the list. */
  private pinned: TimelineEntry | null = null;
  private readonly file: TimelineFile | undefined;
  /** With --audience-devices: the phones in each store, for the columns' audience bands. */
  private readonly audience: AudienceBands | undefined;

  constructor(
    private readonly config: Readonly<ServerConfig>,
    log: Logger,
    /** The timeline's file and what it held (timeline-file.ts); none: the timeline lives in memory only. */
    saved?: { file: TimelineFile; entries: TimelineEntry[] },
  ) {
    super();
    this.file = saved?.file;
    this.timeline = new Timeline(
      log,
      (entry) => {
        this.batcher.queue({ timeline: [entry] });
        this.file?.append(entry);
      },
      saved?.entries,
    );
    this.disagreement = this.watchDisagreement();
    this.audience = config.audienceDevices
      ? new AudienceBands(config.audienceCap, (part) => this.batcher.queue(part))
      : undefined;
  }

  start(): void {
    const hooks = {
      view: (view: StoreView) => {
        this.batcher.queue({ stores: [view] });
        this.disagreement.storesChanged(this.storeViews(), () => this.ids());
      },
      change: (link: StoreLink, change: InstanceChange) => {
        // The bench's stamp (FLEET_BENCH_TRACE): the moment this store's watch handed the change over.
        this.onChange(link, change, this.config.benchTrace ? traceNow() : undefined);
        this.disagreement.check(change.instance.record.id);
      },
      note: this.timeline.note.bind(this.timeline),
      shown: (store: StoreKind) => this.shownIn(store),
      liveness: (views: LivenessView[]) => this.batcher.queue({ liveness: views }),
    };
    for (const [store, endpoints] of Object.entries(this.config.stores) as [StoreKind, string[]][]) {
      const link = new StoreLink(store, endpoints, this.config, hooks);
      this.links.set(store, link);
      this.audience?.watch(store, link.registry);
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
      timeline: this.timeline.recent(),
      pinned: this.pinned,
      flags: this.disagreement.list(),
      configColors: this.disagreement.configColors,
      palette: PALETTE,
      simulation: this.simulation,
      classroom: this.config.classroom ? { kitUrl: new URL('kit/', audienceUrl).href } : null,
      audience: this.audience
        ? { joinUrl: new URL('join', audienceUrl).href, ...this.audience.state() }
        : null,
      ...(this.audience ? { phones: this.audience.phones() } : {}),
      liveness: [...this.links.values()].flatMap((l) => l.poller.views()),
    };
  }

  /** The devices shown in one store's column (their countdowns are read from the store). */
  private shownIn(store: StoreKind): DeviceView[] {
    const shown: DeviceView[] = [];
    for (const device of this.devices.values()) if (device.store === store) shown.push(device);
    return shown;
  }

  /** The simulated fleet's devices as its supervisor reports them (null: none attached). */
  setSimulation(devices: SimulatedDevice[] | null): void {
    if (JSON.stringify(devices) === JSON.stringify(this.simulation)) return;
    this.simulation = devices;
    this.batcher.queue({ simulation: devices });
  }

  /** The stores the kit runs, as its control API reports them (null: none; read-only columns). */
  setStoreControl(stores: KitStore[] | null): void {
    for (const [store, link] of this.links) link.setControl(stores?.find((s) => s.store === store) ?? null);
  }

  /** One store's column header as last sent (undefined: not watched). */
  storeView(store: StoreKind): StoreView | undefined {
    return this.links.get(store)?.view;
  }

  /** Asks the store for its members now (after the presenter's store control), not at the next poll. */
  refreshMembers(store: StoreKind): void {
    this.links.get(store)?.refreshMembers();
  }

  /** The presenter's switch for the audience's phones, as every page shows it. */
  setAudienceJoining(joining: boolean): void {
    this.audience?.setJoining(joining);
  }

  /** Something for the timeline from outside the fleet (the presenter's store controls). */
  note(note: Note): void {
    this.timeline.note(note);
  }

  /** The presenter unplugged or killed a device: each store's loss is then measured from this moment. */
  markLost(id: string, why: 'unplug' | 'kill'): void {
    this.timeline.presenterLost(id, why);
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
    const requestedAt = this.config.benchTrace ? traceNow() : 0;
    const acked: { store: StoreKind; at: number }[] = [];
    this.timeline.colorSetting(parsed.value);
    const results = await Promise.allSettled(
      stores.map(async (s) => {
        await this.links.get(s)!.setColor(parsed.value);
        if (this.config.benchTrace) acked.push({ store: s, at: traceNow() });
      }),
    );
    if (this.config.benchTrace)
      this.batcher.queue({ trace: { colors: [{ color: parsed.value, requestedAt, acked }] } });
    const failed = stores.filter((_, i) => results[i]!.status === 'rejected');
    for (const store of stores.filter((s) => !failed.includes(s))) {
      this.timeline.colorWritten(store, parsed.value, this.links.get(store)!.commands);
    }
    if (failed.length > 0) {
      const reasons = failed.map(
        (s, i) => `${s}: ${(results[stores.indexOf(s)] as PromiseRejectedResult).reason?.message ?? i}`,
      );
      throw new Error(`not written to ${reasons.join('; ')}`);
    }
    return stores;
  }

  /** Every timeline entry kept (for the export: GET /timeline.json and .csv), oldest first. */
  timelineEntries(): TimelineEntry[] {
    return this.timeline.list();
  }

  /** Pins a kept entry above every page's timeline (null: unpins). Throws naming the seq if none. */
  pin(seq: number | null): TimelineEntry | null {
    const entry = seq === null ? null : this.timeline.find(seq);
    if (entry === undefined) {
      throw new ValidationError('pinTimeline', [
        { field: 'seq', expected: `the number of an entry in the timeline (no entry ${seq} is kept)` },
      ]);
    }
    if (entry?.seq !== this.pinned?.seq) {
      this.pinned = entry;
      this.batcher.queue({ pinned: entry });
    }
    return entry;
  }

  async close(): Promise<void> {
    this.disagreement.close();
    this.audience?.close();
    await Promise.all([...this.links.values()].map((l) => l.close()));
    await this.file?.close();
  }

  private storeViews(): StoreView[] {
    return [...this.links.values()].map((l) => l.view);
  }

  private ids(): Set<string> {
    return new Set([...this.devices.values()].map((d) => d.id));
  }

  private watchDisagreement(): Disagreement {
    return new Disagreement({
      views: (id) => [...this.links.keys()].flatMap((s) => this.devices.get(`${s}/${id}`) ?? []),
      // The page's rule (state.ts hasList): a store still syncing, or over the cap, has no full list.
      listed: () =>
        this.storeViews()
          .filter((v) => (v.watch === 'live' || v.watch === 'down') && v.hidden === 0)
          .map((v) => v.store),
      command: (store, id) => this.links.get(store)?.commands.device(id),
      note: (note) => this.timeline.note(note),
      flags: (flags) => this.batcher.queue({ flags: [flags] }),
      configColors: (configColors) => this.batcher.queue({ configColors }),
    });
  }

  private onChange(link: StoreLink, change: InstanceChange, watchedAt?: number): void {
    const { store, commands } = link;
    const { id } = change.instance.record;
    const trace = watchedAt === undefined ? {} : { trace: { watched: [{ store, id, at: watchedAt }] } };
    const key = `${store}/${id}`;
    const now = Date.now();
    const previous = this.devices.get(key);
    if (!previous && link.overCap(change)) return;
    if (change.type === 'removed') {
      this.devices.delete(key);
      // Ran out (or reaped): measured, for the tile's "expired after 5.2 s (window 5 s)".
      const expired = previous ? link.expiredStamp(previous, now) : undefined;
      this.batcher.queue({ gone: [{ store, id, ...(expired ? { expired } : {}) }], ...trace });
      const reaped = link.liveness.reapAfterCriticalMs !== null && previous?.health === 'critical';
      this.timeline.removed({ store, commands, now, id, previous, reaped, expired });
      if (!previous) return;
      const next = link.left();
      if (next) this.onChange(link, { type: 'added', instance: next });
      return;
    }
    const view = link.deviceView(change.instance, previous, now);
    if (!previous) link.shows();
    this.devices.set(key, view);
    this.batcher.queue({ devices: [view], ...trace });
    if (previous) this.timeline.changed({ store, commands, now, previous, view });
    else this.timeline.joined({ store, commands, now, view });
  }
}
