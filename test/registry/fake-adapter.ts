// A StoreAdapter in memory, for unit tests of the core's own logic (the registration loop, the views)
// with mock timers and no store process. A test drives it: the store comes up and goes down, the next
// claims fail or meet another holder of the id (conflict), a claim is lost and comes back or expires.
// What each real store does is tested against the real store (test/registry/contract.ts); this fake
// has only the behaviour the adapter interface promises.
import type {
  Claim,
  InstanceSink,
  RawInstance,
  StoreAdapter,
  ValueSink,
} from '../../lib/registry/adapters/adapter.ts';
import { AdapterBase, ClaimBase } from '../../lib/registry/adapters/adapter.ts';
import {
  ConflictError,
  type RegistryError,
  StoreError,
  StoreUnavailableError,
} from '../../lib/registry/errors.ts';
import type { ClusterMember, InstanceRecord, LivenessReading, StoreKind } from '../../lib/registry/types.ts';

/** Every write that reached the store, in order. */
export interface StoreWrite {
  op: 'claim' | 'write' | 'release';
  id: string;
  record: InstanceRecord | undefined;
  /** Date.now() when it was written (the mock clock in tests). */
  at: number;
}

export interface FakeAdapterOptions {
  kind?: StoreKind;
  /** As the adapter property: 0 writes every update at once, more paces load-only updates. */
  loadIntervalMs?: number;
  /** Start connected (default: connecting, until up()). */
  connected?: boolean;
  /** How long a claim takes to reach the store (on the test's clock). */
  claimDelayMs?: number;
}

export class FakeAdapter extends AdapterBase implements StoreAdapter {
  readonly kind: StoreKind;
  /** What the store holds now, by instance id. */
  readonly held = new Map<string, InstanceRecord>();
  readonly writes: StoreWrite[] = [];
  /** Every claim handed out, newest last. */
  readonly claims: FakeClaim[] = [];
  /** Calls of claim(), failed or not. */
  claimAttempts = 0;
  /** Ids another live process holds: claiming one is a ConflictError until it is freed. */
  readonly heldByOthers = new Set<string>();
  private readonly failures: RegistryError[] = [];
  private readonly config = new Map<string, string>();
  private readonly instanceSinks = new Map<InstanceSink, string>();
  private readonly valueSinks = new Map<ValueSink, string>();
  private readonly interval: number;
  private readonly claimDelayMs: number;

  constructor(options: FakeAdapterOptions = {}) {
    super();
    this.kind = options.kind ?? 'etcd';
    this.interval = options.loadIntervalMs ?? 0;
    this.claimDelayMs = options.claimDelayMs ?? 0;
    if (options.connected) this.up();
  }

  override get loadIntervalMs(): number {
    return this.interval;
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  /** The newest claim handed out. */
  get lastClaim(): FakeClaim {
    const claim = this.claims.at(-1);
    if (!claim) throw new Error('no claim yet');
    return claim;
  }

  // --- what a test does to the store ---

  up(): void {
    this.setState('connected');
    for (const claim of this.live()) claim.comeBack();
    for (const [sink, service] of this.instanceSinks) sink.reset(this.instancesOf(service));
    for (const [sink, key] of this.valueSinks) sink.set(this.config.get(key));
  }

  /** The connection goes: claims say 'lost', watches 'down'; the store keeps what it holds. */
  down(error: RegistryError = new StoreUnavailableError(this.kind, 'fake: connection refused')): void {
    this.setState('disconnected', { error });
    for (const claim of this.live()) claim.lose(error);
    for (const sink of [...this.instanceSinks.keys(), ...this.valueSinks.keys()]) sink.down(error);
  }

  /** The next claim() calls fail with these errors, in order (default: the store is unavailable). */
  failNextClaims(count = 1, error: RegistryError = new StoreError(this.kind, 'fake: claim refused')): void {
    for (let i = 0; i < count; i++) this.failures.push(error);
  }

  // --- StoreAdapter ---

  async claim(record: InstanceRecord): Promise<Claim> {
    this.claimAttempts++;
    if (this.claimDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.claimDelayMs));
    if (!this.connected) throw new StoreUnavailableError(this.kind, 'fake: not connected');
    const failure = this.failures.shift();
    if (failure) throw failure;
    if (this.heldByOthers.has(record.id))
      throw new ConflictError(this.kind, record.id, 'another fake process');
    const claim = new FakeClaim(this, record.id);
    this.claims.push(claim);
    this.store('claim', record);
    return claim;
  }

  watchInstances(service: string, sink: InstanceSink): () => void {
    this.instanceSinks.set(sink, service);
    if (this.connected) sink.reset(this.instancesOf(service));
    return () => this.instanceSinks.delete(sink);
  }

  async readConfig(key: string): Promise<string | undefined> {
    this.assertConnected();
    return this.config.get(key);
  }

  async writeConfig(key: string, value: string): Promise<void> {
    this.assertConnected();
    this.config.set(key, value);
    for (const [sink, watched] of this.valueSinks) if (watched === key) sink.set(value);
  }

  watchConfig(key: string, sink: ValueSink): () => void {
    this.valueSinks.set(sink, key);
    if (this.connected) sink.set(this.config.get(key));
    return () => this.valueSinks.delete(sink);
  }

  async members(): Promise<ClusterMember[]> {
    this.assertConnected();
    return [{ name: 'fake', endpoint: 'fake:0', role: 'standalone', healthy: true }];
  }

  /** The fake keeps no liveness of its own to read (like Consul, whose check is pushed). */
  async readLiveness(): Promise<Map<string, LivenessReading>> {
    return new Map();
  }

  async close(): Promise<void> {
    this.setState('closed');
  }

  // --- for FakeClaim ---

  /** Records a write that reached the store (the instance watches see it). */
  store(op: StoreWrite['op'], record: InstanceRecord): void {
    this.held.set(record.id, record);
    this.writes.push({ op, id: record.id, record, at: Date.now() });
    this.tellWatches(record.service, record.id);
  }

  drop(id: string, op?: 'release'): void {
    const record = this.held.get(id);
    this.held.delete(id);
    if (op) this.writes.push({ op, id, record, at: Date.now() });
    if (record) this.tellWatches(record.service, id);
  }

  assertConnected(): void {
    if (!this.connected) throw new StoreUnavailableError(this.kind, 'fake: not connected');
  }

  private live(): FakeClaim[] {
    return this.claims.filter((claim) => !claim.over);
  }

  private instancesOf(service: string): RawInstance[] {
    return [...this.held.values()].filter((r) => r.service === service).map((r) => this.raw(r));
  }

  private raw(record: InstanceRecord): RawInstance {
    return {
      id: record.id,
      key: `fake/${record.service}/${record.id}`,
      record,
      health: 'passing',
      liveness: { model: 'lease', leaseId: 'fake' },
    };
  }

  private tellWatches(service: string, id: string): void {
    if (!this.connected) return;
    for (const [sink, watched] of this.instanceSinks) {
      if (watched !== service) continue;
      const record = this.held.get(id);
      if (record) sink.upsert(this.raw(record));
      else sink.remove(id);
    }
  }
}

export class FakeClaim extends ClaimBase {
  /** The next write() calls fail (the connection drops mid-write). */
  failWrites = false;

  constructor(
    private readonly adapter: FakeAdapter,
    readonly id: string,
  ) {
    super();
  }

  get over(): boolean {
    return this.ended;
  }

  async write(record: InstanceRecord): Promise<void> {
    if (this.ended) throw new StoreError(this.adapter.kind, 'fake: the claim is over');
    if (this.failWrites || !this.adapter.connected)
      throw new StoreUnavailableError(this.adapter.kind, 'fake: write failed');
    this.adapter.store('write', record);
  }

  async release(): Promise<void> {
    this.detach();
    this.adapter.assertConnected();
    this.adapter.drop(this.id, 'release');
  }

  abandon(): void {
    this.detach();
  }

  // --- what a test does to the claim ---

  /** The connection went: the store may still hold it ('lost'). */
  lose(error: RegistryError = new StoreUnavailableError(this.adapter.kind, 'fake: connection lost')): void {
    this.connectionLost(error);
  }

  /** The connection is back and the store still holds it ('held'). */
  comeBack(): void {
    this.connectionBack();
  }

  /** The store no longer holds it (lease lost, session expired): 'expired', final. */
  expire(reason = 'fake: lease lost'): void {
    if (this.ended) return;
    this.adapter.drop(this.id);
    this.end(reason);
  }

  protected stopWatching(): void {}
}
