// The socket.io contract between the control host and its page: a full snapshot on connect, then
// small batches of changes. Shared by server/ and server/page/ (types only: no runtime code here).
import type {
  BrowserLoad,
  ClusterMember,
  ConnectionState,
  HealthStatus,
  LivenessDetail,
  Load,
  MemberRole,
  SkippedCounts,
  StoreKind,
  WatchState,
} from '../lib/registry/index.ts';

export type {
  BrowserLoad,
  ClusterMember,
  ConnectionState,
  HealthStatus,
  LivenessDetail,
  Load,
  MemberRole,
  SkippedCounts,
  StoreKind,
  WatchState,
};

export interface LoadSample {
  /** Server clock, ms. */
  at: number;
  cpu: number;
  mem: number;
  temp: number | null;
}

/** One device as one store sees it (the page shows one tile per device per store column). */
export interface DeviceView {
  store: StoreKind;
  id: string;
  host: string;
  port: number;
  labels: Record<string, string>;
  /** The color the device says it applied. */
  color: string | null;
  load: Load | null;
  /** etcd and ZooKeeper: always 'passing' while present; Consul: its check. */
  health: HealthStatus;
  liveness: LivenessDetail;
  registeredAt: string;
  updatedAt: string;
  /** Server clock, ms: when this store last told us something new about the device. */
  seenAt: number;
  /** Consul: when its check turned critical (server clock, ms), else null. */
  criticalSince: number | null;
  /** Consul: when Consul will reap it (server clock, ms), else null. */
  reapAt: number | null;
  /** The last load samples, oldest first (at most 30), for the sparklines. */
  history: LoadSample[];
  /** The device's own liveness window in this store (its record's settings); absent: the column's. */
  window?: DeviceWindow;
}

/** A device's own liveness window, from the settings its record carries (InstanceRecord.liveness). */
export interface DeviceWindow {
  /** How long after the device dies this store says so, ms. */
  ms: number;
  /** In a few words: "lease TTL 5 s", "session timeout 8 s", "TTL check 5 s, reaped 60 s after critical". */
  text: string;
  /** false: the record carries none (an older agent): the server's own settings stand in. */
  own: boolean;
}

/**
 * What the store itself says of a shown device's remaining life, read about once a second (etcd: the
 * lease's remaining TTL; ZooKeeper: the session's last contact from `cons`); sent when it differs
 * from what the page works out from the last one. Consul's check is the device's health and reapAt.
 */
export interface LivenessView {
  store: StoreKind;
  id: string;
  /** Server clock, ms: when it was read. */
  at: number;
  /** ms left at `at`; the page counts down from it. */
  remainingMs: number;
  /** The whole window the store applies, ms (etcd: the granted TTL; ZooKeeper: the negotiated timeout). */
  windowMs: number;
  /** Where the figure comes from, in words ("etcd lease TTL", "ZooKeeper cons"). */
  source: string;
}

/** A device the store dropped when its window ran out (or Consul reaped): measured, for the page. */
export interface ExpiredStamp {
  kind: 'expired' | 'reaped';
  /** From the last contact the store reported (or, reaped, from critical) to the removal, ms. */
  afterMs: number;
  /** The window it had (reaped: the reap delay), ms. */
  windowMs: number;
  /** What the last contact was measured from ("etcd lease TTL", "ZooKeeper cons", "the last event"). */
  source: string;
}

/**
 * One audience phone as one store holds it (service `audience`): a cell in the column's audience band,
 * apart from the Pis' tiles.
 */
export interface PhoneCell {
  store: StoreKind;
  id: string;
  /** The color the phone says it shows. */
  color: string | null;
  /** etcd and ZooKeeper: passing while present; Consul: its TTL check. */
  health: HealthStatus;
  load: Load | null;
}

/** One store's audience band, apart from its cells: how fast phones arrive and go. */
export interface AudienceBand {
  store: StoreKind;
  /** Over the last AUDIENCE_RATE_WINDOW_MS, per second: phones added to / removed from this store. */
  joinsPerSecond: number;
  leavesPerSecond: number;
  /** Phones over the band's limit (entries under `audience` beyond MAX_AUDIENCE_CAP): counted, not sent. */
  hidden: number;
}

/** The audience's phones as devices (--audience-devices): the presenter's switch and each store's band. */
export interface AudienceState {
  /** The presenter's switch: new phones may join (true) or are told joining is paused. */
  joining: boolean;
  /** The most phones registered at once (--audience-cap). */
  cap: number;
  bands: AudienceBand[];
}

/** One store's column header. */
export interface StoreView {
  store: StoreKind;
  endpoints: string[];
  connection: ConnectionState;
  /** 'down' while the store is unreachable: its devices are the last known, shown as stale. */
  watch: WatchState;
  /** What is wrong, in words (null when all is well). */
  error: string | null;
  /** How long after a device dies this store says so, ms. */
  windowMs: number;
  /** The liveness model in a few words: "lease TTL 5 s", "session timeout 5 s", "HTTP check every 2 s". */
  windowText: string;
  /** Members and their roles where the store tells ([] when unknown). */
  members: ClusterMember[];
  /** The color this store's config holds (null: none set). */
  color: string | null;
  /** Entries under the service's folder that are not devices (written by hand, or malformed). */
  skipped: SkippedCounts;
  /** Devices over the page's cap: counted, not sent ("and 1,234 more"). */
  hidden: number;
  /**
   * The id of the device a least-loaded client would be handed now (chooseInstance over every device
   * this store lists, shown or over the cap; only passing ones), null when none passes.
   */
  pick: string | null;
  /**
   * The store's processes as the kit that started them reports them (store-control-contract.ts), for
   * the presenter's stop / kill / restart; null or absent: the kit did not start this store (read-only).
   */
  control?: KitStore | null;
}

// The stores the kit started (`npm run demo`, `fleetkit stores`): store-control-contract.ts.
export type StoreControlAction = 'stop' | 'kill' | 'restart';
/** killed: by the presenter's SIGKILL; stopped: by a stop; exited: it ended by itself. */
export type KitMemberState = 'running' | 'stopped' | 'killed' | 'exited';

/** One process of a store the kit runs (member 1 of 1 for a single store). */
export interface KitStoreMember {
  /** 1-based; shown as m1, m2, ... */
  member: number;
  /** Its client endpoint. */
  endpoint: string;
  /** Every port it uses, so that the store's own member list (by address) can be matched to it. */
  ports: number[];
  state: KitMemberState;
  pid: number | null;
  /** An action under way on it, else null. */
  busy: StoreControlAction | null;
}

export interface KitStore {
  store: StoreKind;
  members: KitStoreMember[];
  /** The last action's failure, in words with what to do next; null after a success. */
  error: string | null;
}

export interface StoreControlRequest {
  store: StoreKind;
  /** One member (1-based) of a cluster; absent: the whole store. */
  member?: number;
  action: StoreControlAction;
}

export type TimelineKind =
  | 'joined'
  | 'left'
  | 'expired'
  | 'critical'
  | 'recovered'
  | 'reaped'
  | 'updated-color'
  | 'color-set'
  | 'store-down'
  | 'store-up'
  // The store refuses the server's credentials (the registry's 'unauthorized' state).
  | 'store-unauthorized'
  // The presenter's store controls (server/store-control.ts): an action, then the election it caused.
  | 'store-control'
  | 'leader'
  | 'invalid'
  // The stores disagree (server/fleet/disagreement.ts): named when it lasts past a short grace.
  | 'missing'
  | 'conflict'
  | 'colors-differ'
  | 'config-differs'
  | 'agreed';

export interface TimelineEntry {
  seq: number;
  /** Server clock, ms. */
  at: number;
  store: StoreKind | null;
  deviceId: string | null;
  kind: TimelineKind;
  /** A sentence, with the measured latency in it where there is one ("gone from etcd 5.1 s after ..."). */
  text: string;
  latencyMs: number | null;
  /** The plain store operation behind it, as a learner could type it (etcdctl, zkCli.sh, curl). */
  command: string | null;
  /** Read back from the server's timeline file: it happened before the server's last restart. */
  beforeRestart?: boolean;
}

/**
 * Where the stores disagree about one device (server/fleet/disagreement.ts), once it lasted past a
 * short grace. A device the stores agree about has no entry.
 */
export interface DeviceFlags {
  id: string;
  /** Stores with a full list that do not hold it while another does. */
  missing: StoreKind[];
  /** Two processes claim this id, in words ("etcd holds 10.0.0.5:8080, consul holds 10.0.0.7:8080"); else null. */
  conflict: string | null;
  /** The color it applied, per store holding it, when they differ; else null. */
  colors: StoreColor[] | null;
}

export interface StoreColor {
  store: StoreKind;
  color: string | null;
}

// The simulated fleet (provision/sim implements what simulation-contract.ts asks of it).
/** stress: burn CPU in the device's own process (SimulateRequest's percent and seconds). */
export type SimAction = 'unplug' | 'replug' | 'kill' | 'stress';
export type SimulatedDeviceState = 'running' | 'unplugged' | 'killed' | 'exited' | 'stopped';
/** namespaces: unplug takes its link down; processes: unplug freezes it (SIGSTOP). */
export type SimMode = 'namespaces' | 'processes';

/** A load a simulated device was told to carry, while it lasts. */
export interface SimStress {
  /** % of one core. */
  percent: number;
  /** Server clock, ms: when the device goes back to its base load. */
  endsAt: number;
}

/** A device of the simulated fleet that the presenter can unplug, replug (or restart), kill and stress. */
export interface SimulatedDevice {
  id: string;
  state: SimulatedDeviceState;
  mode: SimMode;
  /** The load it was told to carry, until endsAt; null or absent: none. */
  stress?: SimStress | null;
}

export interface FleetSnapshot {
  /** Server clock, ms, when sent: the page corrects its countdowns by the difference to its own clock. */
  serverTime: number;
  namespace: string;
  service: string;
  /** This connection may use the presenter controls. */
  presenter: boolean;
  /** The URL for the audience (read-only), also shown as a QR code at /qr.svg. */
  audienceUrl: string;
  stores: StoreView[];
  devices: DeviceView[];
  /** Newest last, at most 200. */
  timeline: TimelineEntry[];
  /** The entry the presenter pinned above the list (null: none). */
  pinned?: TimelineEntry | null;
  /** Devices the stores disagree about (none: all agree). */
  flags?: DeviceFlags[];
  /** Each store's config color when they differ (null: they agree). */
  configColors?: StoreColor[] | null;
  palette: string[];
  /** The simulated fleet's devices, or null when no simulated fleet is attached to this server. */
  simulation: SimulatedDevice[] | null;
  /** With --classroom: where attendees get the kit (the header links to it); null when off. */
  classroom: { kitUrl: string } | null;
  /**
   * With --audience-devices: where a phone becomes a device (the header links to it), the presenter's
   * switch and each column's band; null when off.
   */
  audience?: ({ joinUrl: string } & AudienceState) | null;
  /** The audience's phones in every store (absent: none, or off). */
  phones?: PhoneCell[];
  /** The countdowns read from the stores for the devices shown (absent: none yet). */
  liveness?: LivenessView[];
}

/** Changes since the last batch; sent at most once per event-loop turn. */
export interface FleetChanges {
  serverTime: number;
  devices: DeviceView[];
  /** `expired`: the store dropped it when its window ran out, measured (absent: it left). */
  gone: { store: StoreKind; id: string; expired?: ExpiredStamp }[];
  stores: StoreView[];
  timeline: TimelineEntry[];
  /** Countdowns read from the stores since the last batch, newest per device. */
  liveness?: LivenessView[];
  /** Present only when the simulated fleet changed: its whole new list (null: it went away). */
  simulation?: SimulatedDevice[] | null;
  /** Present only when the pin changed: the pinned entry, or null (unpinned). */
  pinned?: TimelineEntry | null;
  /** Present only when flags changed: each device's new flags; an entry with nothing flagged clears it. */
  flags?: DeviceFlags[];
  /** Present only when it changed: each store's config color when they differ, null once they agree. */
  configColors?: StoreColor[] | null;
  /** Only with the bench's setting (FLEET_BENCH_TRACE): when this batch's parts happened. Never shown. */
  trace?: BatchTrace;
  /** Present only when it changed: the presenter's switch and the bands' rates. */
  audience?: AudienceState;
  /** Phones added or changed in a store, and phones gone from one (absent: none). */
  phones?: PhoneCell[];
  phonesGone?: { store: StoreKind; id: string }[];
}

/**
 * The server's stamps for the bench's per-hop figures (docs/performance.md, "Where the time goes"): the
 * wall clock in ms with sub-ms resolution (server/wall-clock.ts), the clock the bench and the page use.
 */
export interface BatchTrace {
  /** When the batch left for the pages. */
  sentAt: number;
  /** When the server's watch of `store` handed it the change of device `id` (the last of this batch). */
  watched: { store: StoreKind; id: string; at: number }[];
  /** Colors written since the last batch: when the request came, when each store acknowledged it. */
  colors?: ColorWriteTrace[];
}

export interface ColorWriteTrace {
  color: string;
  requestedAt: number;
  acked: { store: StoreKind; at: number }[];
}

export type Ack<T = null> = { ok: true; data: T } | { ok: false; error: string };

export interface SetColorRequest {
  color: string;
  /** Default: all stores. */
  store?: StoreKind | 'all';
}

export interface ServerToClientEvents {
  snapshot: (snapshot: FleetSnapshot) => void;
  changes: (changes: FleetChanges) => void;
}

export interface SimulateRequest {
  id: string;
  action: SimAction;
  /** stress only: % of one core to burn (0 to 100)... */
  percent?: number;
  /** ...for this many seconds (0: back to its base load now). */
  seconds?: number;
}

export interface ClientToServerEvents {
  setColor: (request: SetColorRequest, ack: (result: Ack<{ stores: StoreKind[] }>) => void) => void;
  /**
   * Presenter only: a new presenter token; every page with the old one turns read-only (a fresh
   * snapshot says so); the new URL is printed where the server runs, never sent to a page.
   */
  rotateToken: (request: unknown, ack: (result: Ack<{ where: string }>) => void) => void;
  /** Presenter only; refused when no simulated fleet is attached. */
  simulate: (request: SimulateRequest, ack: (result: Ack<SimulatedDevice>) => void) => void;
  /** Presenter only; refused when the stores were not started by the kit (no store control attached). */
  storeControl: (request: StoreControlRequest, ack: (result: Ack<KitStore>) => void) => void;
  /** Presenter only, with --audience-devices: lets new phones join, or pauses joining. */
  audienceJoining: (
    request: AudienceJoiningRequest,
    ack: (result: Ack<{ joining: boolean }>) => void,
  ) => void;
  /** Presenter only, with --audience-devices: every audience phone deregistered at once. */
  removeAudience: (request: unknown, ack: (result: Ack<{ removed: number }>) => void) => void;
  /** Presenter only: pins one timeline entry (by seq) above the list for everyone; seq null unpins. */
  pinTimeline: (request: PinTimelineRequest, ack: (result: Ack<{ pinned: number | null }>) => void) => void;
}

export interface AudienceJoiningRequest {
  joining: boolean;
}

export interface PinTimelineRequest {
  /** An entry's seq, or null to unpin. */
  seq: number | null;
}

/** What the page passes in the socket.io handshake: `io({ auth: { token } })`. */
export interface HandshakeAuth {
  token?: string;
}
