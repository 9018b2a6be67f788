// What each store adapter provides. The shared core (registry/core/) builds the public Registry on top
// of it, so registration retries, diffing and validation exist once, not once per store.
import { EventEmitter } from 'node:events';
import type { BackoffOptions } from '../backoff.ts';
import type { StoreCredentials } from '../credentials.ts';
import type { Endpoint } from '../endpoints.ts';
import type { MalformedValueError, RegistryError } from '../errors.ts';
import type { Layout } from '../layout.ts';
import type {
  ClusterMember,
  ConnectionState,
  HealthStatus,
  InstanceRecord,
  LivenessDetail,
  LivenessReading,
  LivenessSettings,
  LivenessTarget,
  StateDetail,
  StoreKind,
} from '../types.ts';

export interface AdapterContext {
  endpoints: readonly Endpoint[];
  layout: Layout;
  liveness: Readonly<LivenessSettings>;
  requestTimeoutMs: number;
  backoff: BackoffOptions;
  /** Consul's minimum interval between load-only updates (validated in index.ts). */
  consulLoadIntervalSeconds: number;
  /** Credentials for this store (credentials.ts); `{}` when none. */
  credentials: StoreCredentials;
}

export interface ClaimEvents {
  /** The connection is back and the store still holds the claim. */
  held: [];
  /** The connection went; the store may hold the claim until its window ends. */
  lost: [error: RegistryError];
  /** The store no longer holds it (lease lost, session expired, service gone, key deleted). Final. */
  expired: [reason: string];
}

/** One instance held in a store with that store's liveness. */
export interface Claim extends EventEmitter<ClaimEvents> {
  write(record: InstanceRecord): Promise<void>;
  /** Deletes it from the store now and stops the heartbeat. */
  release(): Promise<void>;
  /** Stops the heartbeat and leaves the store to expire it. */
  abandon(): void;
}

export interface RawInstance {
  id: string;
  key: string;
  record: InstanceRecord | MalformedValueError;
  health: HealthStatus;
  liveness: LivenessDetail;
}

/** Where an adapter pushes what its watch sees. */
export interface InstanceSink {
  /** The full current set (first sync, and every resync after a reconnect). */
  reset(entries: RawInstance[]): void;
  upsert(entry: RawInstance): void;
  remove(id: string): void;
  /** The store is unreachable; the sink keeps what it knew. */
  down(error: RegistryError): void;
}

export interface ValueSink {
  set(raw: string | undefined): void;
  down(error: RegistryError): void;
}

export interface AdapterEvents {
  state: [state: ConnectionState, detail: StateDetail];
}

export interface StoreAdapter extends EventEmitter<AdapterEvents> {
  readonly kind: StoreKind;
  readonly state: ConnectionState;
  /**
   * The shortest time between two writes of updates that change only the load: 0 where a write is
   * cheap (etcd, ZooKeeper), more where each write is costly for the store (Consul re-registers the
   * service). The core registration loop holds such updates back and coalesces them; other updates
   * are written at once.
   */
  readonly loadIntervalMs: number;
  /** Resolves once connected (at once if connected); never rejects: resolves on abort too. */
  whenConnected(signal: AbortSignal): Promise<void>;
  /** Writes the instance with the store's liveness; ConflictError if another live process holds the id. */
  claim(record: InstanceRecord): Promise<Claim>;
  watchInstances(service: string, sink: InstanceSink): () => void;
  readConfig(key: string): Promise<string | undefined>;
  writeConfig(key: string, value: string): Promise<void>;
  watchConfig(key: string, sink: ValueSink): () => void;
  members(): Promise<ClusterMember[]>;
  /**
   * What the store says now of these instances' remaining life (Registry.readLiveness), by id. A
   * store whose liveness is pushed with the instances (Consul's check) answers an empty map.
   */
  readLiveness(targets: readonly LivenessTarget[]): Promise<Map<string, LivenessReading>>;
  /**
   * Ends the connection. 'clean' says goodbye to the store where it has a goodbye (ZooKeeper closes the
   * session, so its ephemeral nodes go at once); 'unplugged' leaves as a pulled cable does (the
   * session is left to expire). The claims are abandoned first, so etcd's leases and Consul's TTL
   * checks run out at the end of their window either way.
   */
  close(how?: CloseHow): Promise<void>;
}

/** How a registry ends its connection: Registry.close() ('clean') or Registry.drop() ('unplugged'). */
export type CloseHow = 'clean' | 'unplugged';

/** Connection-state bookkeeping shared by the three adapters. */
export abstract class AdapterBase extends EventEmitter<AdapterEvents> {
  abstract readonly kind: StoreKind;
  private current: ConnectionState = 'connecting';

  get state(): ConnectionState {
    return this.current;
  }

  /** Every update written at once, unless the adapter says otherwise (see StoreAdapter). */
  get loadIntervalMs(): number {
    return 0;
  }

  protected setState(state: ConnectionState, detail: StateDetail = {}): void {
    if (this.current === 'closed' || state === this.current) return;
    this.current = state;
    this.emit('state', state, detail);
  }

  whenConnected(signal: AbortSignal): Promise<void> {
    if (this.current === 'connected' || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.off('state', onState);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const onState = (state: ConnectionState) => {
        if (state === 'connected' || state === 'closed') done();
      };
      this.on('state', onState);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * The liveness bookkeeping every claim shares: 'lost' once per outage, 'held' when it ends, 'expired'
 * once and last. Subclasses call connectionLost / connectionBack / end and stop their own timers and
 * watches in detach().
 */
export abstract class ClaimBase extends EventEmitter<ClaimEvents> implements Claim {
  protected ended = false;
  private outage = false;

  abstract write(record: InstanceRecord): Promise<void>;
  abstract release(): Promise<void>;
  abstract abandon(): void;
  /** Stops heartbeats and watches; called once the claim is over, whatever the reason. */
  protected abstract stopWatching(): void;

  protected get inOutage(): boolean {
    return this.outage;
  }

  protected connectionLost(error: RegistryError): void {
    if (this.ended || this.outage) return;
    this.outage = true;
    this.emit('lost', error);
  }

  protected connectionBack(): void {
    if (this.ended || !this.outage) return;
    this.outage = false;
    this.emit('held');
  }

  protected end(reason: string): void {
    if (this.ended) return;
    this.detach();
    this.emit('expired', reason);
  }

  protected detach(): void {
    this.ended = true;
    this.stopWatching();
  }
}
