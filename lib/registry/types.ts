// The one interface over etcd, ZooKeeper and Consul. Call sites use these types only and never
// branch on the store's name; what differs per store lives in registry/adapters/.
import type { EventEmitter } from 'node:events';
import type { StoreCredentials } from './credentials.ts';
import type { ConflictError, MalformedValueError, RegistryError } from './errors.ts';

import type { StoreKind } from './store-kinds.ts';

export { STORE_KINDS, type StoreKind } from './store-kinds.ts';

/** A device's load, as reported in its registration: a machine's (a Pi, a laptop) or a browser's (a phone). */
export type Load = MachineLoad | BrowserLoad;

/** What an agent measures of the machine it runs on. */
export interface MachineLoad {
  cpuPercent: number;
  load1: number;
  memUsedPercent: number;
  /** null where the board has no sensor (most laptops, VMs). */
  temperatureC: number | null;
  uptimeSeconds: number;
}

/**
 * What a phone's page can measure (the audience's phones): how late its timers fire (the event loop's
 * delay, a busy or throttled phone) and the battery where the Battery API exists; null otherwise.
 */
export interface BrowserLoad {
  kind: 'browser';
  eventLoopDelayMs: number | null;
  batteryPercent: number | null;
}

/** What a caller registers. */
export interface InstanceSpec {
  service: string;
  id: string;
  host: string;
  port: number;
  labels?: Record<string, string>;
  load?: Load | null;
  color?: string | null;
}

/** What can change on a live registration. */
export type InstancePatch = Partial<Pick<InstanceRecord, 'labels' | 'load' | 'color'>>;

/** What is stored: JSON in etcd and ZooKeeper, Address/Port/Meta in Consul (see docs/stores.md). */
export interface InstanceRecord {
  id: string;
  service: string;
  host: string;
  port: number;
  labels: Record<string, string>;
  load: Load | null;
  color: string | null;
  /** Random per registering process: tells our own stale record (old lease/session) from another process's. */
  incarnation: string;
  registeredAt: string;
  updatedAt: string;
  /**
   * The registering process's own liveness settings for this store (its lease TTL, session timeout or
   * check), so that a reader shows the device's own window, not its own defaults. Absent in records
   * of older agents: then the reader's settings stand in.
   */
  liveness?: DeviceLiveness;
}

/** A record's liveness settings: the knobs of the store it is written to (liveness.ts LIVENESS_KNOBS). */
export type DeviceLiveness = Partial<LivenessSettings>;

/**
 * What a store itself says, now, about how long an instance has left (Registry.readLiveness): a
 * countdown read from the store, not from the watch's events.
 * - 'expires': the store's own deadline (etcd: the lease's remaining TTL). etcd answers whole seconds
 *   (the lease ends between minMs and maxMs from `at`).
 * - 'contact': the store's last contact with the instance's owner (ZooKeeper: the session's last
 *   response, from the server's `cons`); the store drops it windowMs after that contact.
 */
export type LivenessReading =
  | { kind: 'expires'; at: number; minMs: number; maxMs: number; windowMs: number; source: string }
  | { kind: 'contact'; at: number; sinceMs: number; windowMs: number; source: string };

/** An instance whose liveness to read: its id and how the store keeps it (a DiscoveredInstance is one). */
export interface LivenessTarget {
  record: { id: string };
  liveness: LivenessDetail;
}

export type HealthStatus = 'passing' | 'warning' | 'critical';

/** How the store keeps this instance alive, for display and for measuring. */
export type LivenessDetail =
  | { model: 'lease'; leaseId: string }
  | { model: 'session'; sessionId: string }
  | { model: 'check'; node: string; checkId: string; output: string; checkType: ConsulCheckType };

/**
 * Which kind of Consul check keeps the instance alive, as Consul's health answer says (its check's
 * Type): 'http' = Consul's agent polls the device's /health; 'ttl' = the device itself tells Consul it
 * is alive (a laptop that refuses inbound connections); 'unknown' = another kind, or Consul did not say.
 */
export type ConsulCheckType = 'http' | 'ttl' | 'unknown';

export interface DiscoveredInstance {
  store: StoreKind;
  /** The store's own key/path/ID for this instance. */
  key: string;
  record: InstanceRecord;
  /** etcd and ZooKeeper hold only live instances (always 'passing'); Consul keeps dead ones as 'critical'. */
  health: HealthStatus;
  liveness: LivenessDetail;
}

/** Liveness settings of all three stores; each adapter reads its own. Defaults in schema.ts. */
export interface LivenessSettings {
  /** etcd: lease TTL; keepalives are sent every third of it. etcd rounds TTLs under 2 s up to 2 s. */
  leaseTtlSeconds: number;
  /** ZooKeeper: requested session timeout; the server clamps it to [2, 20] x its tickTime. */
  sessionTimeoutMs: number;
  /** Consul: 'http' = the agent polls the device's /health; 'ttl' = the device passes a TTL check. */
  consulCheck: 'http' | 'ttl';
  checkIntervalSeconds: number;
  checkTimeoutSeconds: number;
  checkTtlSeconds: number;
  /** Consul reaps a critical service after this (its minimum is 60 s; the reaper runs every 30 s). */
  deregisterCriticalAfterSeconds: number;
}

export interface RegistryOptions {
  store: StoreKind;
  /** etcd and Consul: http://host:port; ZooKeeper: host:port. Several for failover. */
  endpoints: string[];
  /** Top folder of every key (default 'fleet'). */
  namespace?: string;
  liveness?: Partial<LivenessSettings>;
  /** Time limit of one request to the store (default 5000 ms). */
  requestTimeoutMs?: number;
  /** Reconnect backoff (defaults: 250 ms doubling to 5 s, with jitter). */
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * Consul: at most one write per this many seconds for updates that change only the load (default
   * 15; 0 = every update). Each update re-registers the service with the agent, which a thousand
   * devices' loads every 5 s overwhelm. Updates that change anything else (the color) go at once and
   * carry the newest load. etcd and ZooKeeper write every update. See docs/stores.md.
   */
  consulLoadIntervalSeconds?: number;
  /**
   * The token of this process's records (default: a new one per registry). A process that replaces
   * its registry, as the device agent does when its address changes (the connections from the old
   * address hang until they time out), passes the old one's: its own records, still held by the old
   * lease, session or registration, are then taken over at once instead of being a conflict.
   */
  incarnation?: string;
  /**
   * The kit's credentials on the stores (only this registry's store's part is used): never logged,
   * never in an error message. See credentials.ts and docs/security.md.
   */
  credentials?: StoreCredentials;
}

/**
 * 'unauthorized': the store answers but refuses the kit's credentials (detail.error is an
 * UnauthorizedError saying what to do); the adapter keeps trying, as for 'disconnected'.
 */
export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'unauthorized' | 'closed';

export type MemberRole = 'leader' | 'follower' | 'standalone' | 'unknown';

/** A member of the store's own cluster, as the store tells. */
export interface ClusterMember {
  name: string;
  endpoint: string;
  role: MemberRole;
  healthy: boolean;
}

export interface StateDetail {
  endpoint?: string;
  error?: RegistryError;
}

export interface RegistryEvents {
  state: [state: ConnectionState, detail: StateDetail];
}

/** How Registry.pick and chooseInstance (core/pick.ts) choose among the passing instances. */
export type PickStrategy = 'least-loaded' | 'random' | 'round-robin';

/** What a strategy keeps between two picks of the same service. */
export interface PickState {
  /** round-robin: the id picked last; the next pick is the next id after it (in id order), wrapping. */
  lastId?: string;
  /** random: a number in [0, 1) (default Math.random), so that a test can fix the draw. */
  random?: () => number;
}

export interface PickResult {
  picked: DiscoveredInstance;
  /** The passing instances considered, in the strategy's order (least-loaded: lowest CPU first). */
  candidates: DiscoveredInstance[];
  /** Why this one, in words: "least loaded of 5 passing; 1 critical skipped". */
  reason: string;
}

export interface PickOptions {
  /** Default 'least-loaded'. */
  strategy?: PickStrategy;
}

export interface Registry extends EventEmitter<RegistryEvents> {
  readonly store: StoreKind;
  readonly namespace: string;
  readonly endpoints: readonly string[];
  readonly liveness: Readonly<LivenessSettings>;
  readonly state: ConnectionState;
  /** Validates at once (throws ValidationError); registers in the background, whenever the store is up. */
  register(spec: InstanceSpec): Registration;
  watchInstances(service: string): InstanceWatch;
  /** Throws StoreUnavailableError when the store is down (never answers "no value" for "down"). */
  getConfig(key: string): Promise<string | undefined>;
  setConfig(key: string, value: string): Promise<void>;
  watchConfig(key: string): ConfigWatch;
  /**
   * One passing instance of the service, chosen by the strategy, or undefined when none passes. From
   * the registry's own pushed view of the service (a watch kept open once asked, until close(); no
   * polling). The first call waits for the first sync, at most one request's time: then
   * StoreUnavailableError. While the store is down after a sync, the last known list is used and the
   * reason says so.
   */
  pick(service: string, options?: PickOptions): Promise<PickResult | undefined>;
  /** The store's cluster members and their roles (StoreUnavailableError when down). */
  members(): Promise<ClusterMember[]>;
  /**
   * What the store says of each instance's remaining life (see LivenessReading), by id; instances it
   * cannot tell about (a store whose liveness is pushed, like Consul's check; an unknown lease or
   * session; the store's answer refused) are left out. Never rejects: an unreachable store is an
   * empty map. Ask for the instances shown only: etcd is asked once per instance.
   */
  readLiveness(targets: readonly LivenessTarget[]): Promise<Map<string, LivenessReading>>;
  /**
   * Stops heartbeats and watches, and says goodbye where the store has one. Registrations not
   * deregistered expire at the end of their window in etcd (the lease) and Consul (a TTL check turns
   * critical; an HTTP check keeps passing while the device answers it); in ZooKeeper the session is
   * closed, so they go at once.
   */
  close(): Promise<void>;
  /**
   * Stops as if this process had been unplugged: no deregistration and no goodbye, so each store drops
   * its registrations at the end of its own window (etcd the lease's TTL, ZooKeeper the session
   * timeout, Consul the TTL check). For a process that holds registrations on behalf of devices it
   * cannot see (the audience's phones) and must let one go as a device that went away would.
   */
  drop(): Promise<void>;
}

export type RegistrationState = 'pending' | 'registered' | 'lost' | 'conflict' | 'deregistered';

export interface RegistrationEvents {
  state: [state: RegistrationState];
  /** The store holds the instance (first time and after every re-registration). */
  registered: [];
  /** The connection went while registered: the store may still hold it until its window ends. */
  lost: [error: RegistryError];
  /** The store dropped it (lease lost, session expired, service gone): re-registering. */
  expired: [reason: string];
  /** Waiting before the next attempt to register. */
  reconnecting: [info: { attempt: number; delayMs: number; error: RegistryError }];
  /** Another live process holds this id; retried until it goes away, never overwritten. */
  conflict: [error: ConflictError];
}

export interface Registration extends EventEmitter<RegistrationEvents> {
  readonly store: StoreKind;
  readonly state: RegistrationState;
  /** The record as it is (or will be) stored. */
  readonly record: Readonly<InstanceRecord>;
  /** Merges the patch; written at once when registered, else with the next registration. Validates first. */
  update(patch: InstancePatch): Promise<void>;
  /** Removes the instance from the store now (not at the end of its window) and stops. */
  deregister(): Promise<void>;
}

export type WatchState = 'syncing' | 'live' | 'down' | 'closed';

export type InstanceChange =
  | { type: 'added'; instance: DiscoveredInstance }
  | { type: 'updated'; instance: DiscoveredInstance; previous: DiscoveredInstance }
  | { type: 'removed'; instance: DiscoveredInstance };

export interface InstanceWatchEvents {
  /** 'down': the store is unreachable; instances() keeps the last known list, which may be stale. */
  state: [state: WatchState, error?: RegistryError];
  change: [change: InstanceChange];
  /** After every full (re)sync, the whole list. */
  synced: [instances: DiscoveredInstance[]];
  /**
   * A malformed value, or an entry nothing keeps alive (NotAliveError: written by hand), in the
   * store: named once, skipped, never counted as an instance; the watch goes on.
   */
  invalid: [error: MalformedValueError];
  /** The number of entries skipped changed. */
  skipped: [counts: SkippedCounts];
}

/** Entries under the service's folder that are not instances. */
export interface SkippedCounts {
  /** Nothing keeps them alive (no lease, no ephemeral owner, no check): written by hand. */
  notAlive: number;
  /** Their value is not an instance record (or is over the size limit). */
  malformed: number;
}

export interface InstanceWatch extends EventEmitter<InstanceWatchEvents> {
  readonly service: string;
  readonly state: WatchState;
  instances(): DiscoveredInstance[];
  get(id: string): DiscoveredInstance | undefined;
  /** How many entries are skipped now (see the 'invalid' event for each one). */
  skipped(): SkippedCounts;
  close(): void;
}

export interface ConfigWatchEvents {
  state: [state: WatchState, error?: RegistryError];
  /** A new valid value (undefined: the key was deleted). */
  value: [value: string | undefined];
  invalid: [error: MalformedValueError];
}

export interface ConfigWatch extends EventEmitter<ConfigWatchEvents> {
  readonly key: string;
  readonly state: WatchState;
  /** The last valid value; a malformed value written later does not replace it. */
  readonly value: string | undefined;
  close(): void;
}
