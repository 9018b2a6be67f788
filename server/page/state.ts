// The page's copy of the fleet: replaced by each snapshot, patched by each batch of changes. No DOM here:
// apply() tells the view what changed so it can touch only those elements.
import type {
  AudienceState,
  DeviceFlags,
  DeviceView,
  ExpiredStamp,
  FleetChanges,
  FleetSnapshot,
  LivenessView,
  PhoneCell,
  SimulatedDevice,
  StoreColor,
  StoreKind,
  StoreView,
  TimelineEntry,
} from '../contract.ts';

/** Column order on the page. */
export const STORE_ORDER: readonly StoreKind[] = ['etcd', 'zookeeper', 'consul'];

/** The server keeps 200 events; so does the page, and shows the newest few. */
const TIMELINE_KEPT = 200;

export const deviceKey = (store: StoreKind, id: string): string => `${store}/${id}`;

export interface FleetMeta {
  namespace: string;
  service: string;
  presenter: boolean;
  audienceUrl: string;
  palette: string[];
  /** With --classroom: the attendee kit's page (the header links to it); null when off. */
  kitUrl: string | null;
  /** With --audience-devices: the phones' /join (the header links to it); null when off. */
  joinUrl: string | null;
}

/** What one batch changed, for the view. */
export interface AppliedChanges {
  upserted: DeviceView[];
  /** `expired`: the store dropped it when its window ran out (the tile leaves a ghost saying so). */
  removed: { store: StoreKind; id: string; expired?: ExpiredStamp }[];
  /** Countdowns read from the stores, newest per device. */
  liveness: LivenessView[];
  /** Store views that differ from what the page had. */
  stores: StoreView[];
  /** New events, oldest first. */
  timeline: TimelineEntry[];
  /** Device ids whose set of stores changed (their "not in <store>" markers need a look). */
  presenceChanged: Set<string>;
  /** The simulated fleet changed (FleetState.simulation holds the new one). */
  simulation: boolean;
  /** Device ids whose disagreement flags changed. */
  flags: Set<string>;
  /** The pinned entry or the stores' config colors changed. */
  pinned: boolean;
  configColors: boolean;
  /** The audience's phones: cells added or changed, cells gone, the switch or the rates changed. */
  phones: PhoneCell[];
  phonesGone: { store: StoreKind; id: string }[];
  audience: boolean;
}

const simulationMap = (list: SimulatedDevice[] | null): Map<string, SimulatedDevice> | null =>
  list ? new Map(list.map((device) => [device.id, device])) : null;

export class FleetState {
  meta: FleetMeta | null = null;
  readonly stores = new Map<StoreKind, StoreView>();
  readonly devices = new Map<string, DeviceView>();
  /** store/id -> the newest countdown read from the store (liveness-bar.ts counts down from it). */
  readonly liveness = new Map<string, LivenessView>();
  /** Newest last. */
  timeline: TimelineEntry[] = [];
  /** The simulated fleet by device id; null when no simulated fleet is attached to the server. */
  simulation: Map<string, SimulatedDevice> | null = null;
  /** Where the stores disagree, per device id (server/fleet/disagreement.ts); absent: they agree. */
  readonly flags = new Map<string, DeviceFlags>();
  /** The timeline entry the presenter pinned (null: none). */
  pinned: TimelineEntry | null = null;
  /** Each store's config color when they differ; null when they agree. */
  configColors: StoreColor[] | null = null;
  /** With --audience-devices: the presenter's switch and each band's rates; null when off. */
  audience: AudienceState | null = null;
  /** store/id -> the audience phone as that store holds it. */
  readonly phones = new Map<string, PhoneCell>();
  /** serverTime - Date.now() at the last message: added to the local clock for countdowns. */
  clockOffsetMs = 0;
  /** id -> the stores that hold it. */
  private readonly presence = new Map<string, Set<StoreKind>>();

  serverNow(): number {
    return Date.now() + this.clockOffsetMs;
  }

  /** Server time to the viewer's clock. */
  toLocal(serverMs: number): number {
    return serverMs - this.clockOffsetMs;
  }

  replace(snapshot: FleetSnapshot): void {
    this.clockOffsetMs = snapshot.serverTime - Date.now();
    this.meta = {
      namespace: snapshot.namespace,
      service: snapshot.service,
      presenter: snapshot.presenter === true,
      audienceUrl: snapshot.audienceUrl,
      palette: snapshot.palette,
      kitUrl: snapshot.classroom?.kitUrl ?? null,
      joinUrl: snapshot.audience?.joinUrl ?? null,
    };
    this.stores.clear();
    for (const view of snapshot.stores) this.stores.set(view.store, view);
    this.devices.clear();
    this.presence.clear();
    for (const device of snapshot.devices) this.putDevice(device);
    this.liveness.clear();
    for (const view of snapshot.liveness ?? []) this.liveness.set(deviceKey(view.store, view.id), view);
    this.timeline = snapshot.timeline.slice(-TIMELINE_KEPT);
    this.simulation = simulationMap(snapshot.simulation ?? null);
    this.flags.clear();
    for (const flags of snapshot.flags ?? []) this.flags.set(flags.id, flags);
    this.pinned = snapshot.pinned ?? null;
    this.configColors = snapshot.configColors ?? null;
    this.audience = snapshot.audience ?? null;
    this.phones.clear();
    for (const cell of snapshot.phones ?? []) this.phones.set(deviceKey(cell.store, cell.id), cell);
  }

  apply(changes: FleetChanges): AppliedChanges {
    this.clockOffsetMs = changes.serverTime - Date.now();
    const applied: AppliedChanges = {
      upserted: [],
      removed: [],
      liveness: [],
      stores: [],
      timeline: [],
      presenceChanged: new Set(),
      simulation: false,
      flags: new Set(),
      pinned: changes.pinned !== undefined,
      configColors: changes.configColors !== undefined,
      phones: [],
      phonesGone: [],
      audience: false,
    };
    if (changes.pinned !== undefined) this.pinned = changes.pinned;
    if (changes.configColors !== undefined) this.configColors = changes.configColors;
    for (const flags of changes.flags ?? []) {
      const any = flags.missing.length > 0 || flags.conflict !== null || flags.colors !== null;
      if (any) this.flags.set(flags.id, flags);
      else this.flags.delete(flags.id);
      applied.flags.add(flags.id);
    }
    if (changes.simulation !== undefined) {
      const before = this.simulation ? JSON.stringify([...this.simulation.values()]) : 'null';
      applied.simulation = JSON.stringify(changes.simulation) !== before;
      this.simulation = simulationMap(changes.simulation);
    }
    for (const view of changes.stores) {
      const previous = this.stores.get(view.store);
      if (previous && JSON.stringify(previous) === JSON.stringify(view)) continue;
      this.stores.set(view.store, view);
      applied.stores.push(view);
    }
    for (const { store, id, expired } of changes.gone) {
      this.liveness.delete(deviceKey(store, id));
      if (!this.devices.delete(deviceKey(store, id))) continue;
      const stores = this.presence.get(id);
      stores?.delete(store);
      if (stores?.size === 0) this.presence.delete(id);
      applied.removed.push(expired ? { store, id, expired } : { store, id });
      applied.presenceChanged.add(id);
    }
    for (const view of changes.liveness ?? []) {
      this.liveness.set(deviceKey(view.store, view.id), view);
      applied.liveness.push(view);
    }
    for (const device of changes.devices) {
      if (this.putDevice(device)) applied.presenceChanged.add(device.id);
      applied.upserted.push(device);
    }
    for (const cell of changes.phones ?? []) this.phones.set(deviceKey(cell.store, cell.id), cell);
    for (const { store, id } of changes.phonesGone ?? []) this.phones.delete(deviceKey(store, id));
    applied.phones = changes.phones ?? [];
    applied.phonesGone = changes.phonesGone ?? [];
    if (changes.audience && this.audience) {
      this.audience = changes.audience;
      applied.audience = true;
    }
    const lastSeq = this.timeline.at(-1)?.seq ?? Number.NEGATIVE_INFINITY;
    for (const entry of changes.timeline) {
      if (entry.seq <= lastSeq) continue;
      applied.timeline.push(entry);
    }
    if (applied.timeline.length > 0) {
      this.timeline = this.timeline.concat(applied.timeline).slice(-TIMELINE_KEPT);
    }
    return applied;
  }

  /** A simulated device's new state from the answer to a `simulate` request; true when it changed. */
  putSimulated(device: SimulatedDevice): boolean {
    const previous = this.simulation?.get(device.id);
    if (!this.simulation || JSON.stringify(previous) === JSON.stringify(device)) return false;
    this.simulation.set(device.id, device);
    return true;
  }

  /** The stores that should hold this id but do not (only stores that have a list to compare). */
  missingFrom(id: string): StoreKind[] {
    const holders = this.presence.get(id);
    if (!holders || holders.size === 0) return [];
    return STORE_ORDER.filter((store) => !holders.has(store) && this.hasList(store));
  }

  /**
   * A store still syncing (or not configured) has no list yet, and one over the server's cap sends
   * only part of it: a device's absence from it means nothing.
   */
  private hasList(store: StoreKind): boolean {
    const view = this.stores.get(store);
    return (view?.watch === 'live' || view?.watch === 'down') && view.hidden === 0;
  }

  /** Returns true when the device is new to its store. */
  private putDevice(device: DeviceView): boolean {
    const key = deviceKey(device.store, device.id);
    const isNew = !this.devices.has(key);
    this.devices.set(key, device);
    if (isNew) {
      let stores = this.presence.get(device.id);
      if (!stores) {
        stores = new Set();
        this.presence.set(device.id, stores);
      }
      stores.add(device.store);
    }
    return isNew;
  }
}
