// etcd: an instance is a key attached to a lease that the client keeps alive (TTL liveness).
// Pitfalls handled here: a lost lease is dead (a new one is granted by the next claim); after an etcd
// restart leases get a fresh TTL, so our own old key may still be there (recognised by incarnation);
// watches resync with a full read after every reconnect.
import {
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  isBrokenCircuitError,
  retry,
} from 'cockatiel';
import { Etcd3, type IKeyValue, isRecoverableError, type Lease, type Watcher } from 'etcd3';
import { Backoff, sleep } from '../backoff.ts';
import {
  ConflictError,
  isRegistryError,
  MalformedValueError,
  type RegistryError,
  StoreError,
  StoreUnavailableError,
} from '../errors.ts';
import { decodeRecord, encodeRecord } from '../record.ts';
import type { ClusterMember, InstanceRecord } from '../types.ts';
import {
  AdapterBase,
  type AdapterContext,
  type Claim,
  ClaimBase,
  type InstanceSink,
  type RawInstance,
  type StoreAdapter,
  type ValueSink,
} from './adapter.ts';
import { ConfigFanout } from './config-fanout.ts';

interface PrefixHandlers {
  reset(kvs: IKeyValue[]): void;
  put(kv: IKeyValue): void;
  remove(kv: IKeyValue): void;
  down(error: RegistryError): void;
}

export function etcdError(error: unknown): RegistryError {
  if (isRegistryError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (
    error instanceof Error &&
    (isRecoverableError(error) ||
      isBrokenCircuitError(error) ||
      /deadline|unavailable|connect|ECONNREFUSED/i.test(message))
  ) {
    return new StoreUnavailableError('etcd', message, error);
  }
  return new StoreError('etcd', message, error);
}

export class EtcdAdapter extends AdapterBase implements StoreAdapter {
  readonly kind = 'etcd' as const;
  readonly client: Etcd3;
  private readonly closing = new AbortController();
  /** Fed by the always-on watch of /<ns>/config/, which is also how this adapter knows it is connected. */
  private readonly config = new ConfigFanout();

  constructor(private readonly ctx: AdapterContext) {
    super();
    const timeout = ctx.requestTimeoutMs;
    this.client = new Etcd3({
      hosts: ctx.endpoints.map((e) => e.address),
      dialTimeout: timeout,
      // Deadlines for unary calls only: a deadline on the watch or keepalive stream would cut it.
      defaultCallOptions: (call) => (call.isStream ? {} : { deadline: new Date(Date.now() + timeout) }),
      faultHandling: {
        host: () =>
          circuitBreaker(handleWhen(isRecoverableError), {
            halfOpenAfter: 1000,
            breaker: new ConsecutiveBreaker(3),
          }),
        global: retry(handleWhen(isRecoverableError), { maxAttempts: Math.max(1, ctx.endpoints.length) }),
        watchBackoff: new ExponentialBackoff({
          initialDelay: ctx.backoff.initialMs ?? 250,
          maxDelay: ctx.backoff.maxMs ?? 3000,
        }).next(),
      },
    });
    void this.syncPrefix(ctx.layout.configPath(''), this.configHandlers(), this.closing.signal);
  }

  async claim(record: InstanceRecord): Promise<Claim> {
    const key = this.ctx.layout.instancePath(record.service, record.id);
    const lease = this.client.lease(this.ctx.liveness.leaseTtlSeconds, { autoKeepAlive: true });
    lease.on('lost', () => undefined); // reported through the claim once it exists
    try {
      const leaseId = await lease.grant();
      await this.putIfFree(key, record, leaseId);
      return new EtcdClaim(this, key, lease, leaseId);
    } catch (error) {
      lease.release();
      throw etcdError(error);
    }
  }

  /** Puts the record unless another incarnation holds the key; compare-and-swap against races. */
  private async putIfFree(key: string, record: InstanceRecord, leaseId: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = (await this.client.get(key).exec()).kvs[0];
      if (existing) {
        const held = decodeRecord('etcd', key, existing.value, { id: record.id, service: record.service });
        if (!(held instanceof MalformedValueError) && held.incarnation !== record.incarnation) {
          throw new ConflictError('etcd', record.id, `${held.host}:${held.port}, lease ${existing.lease}`);
        }
      }
      const guard = existing
        ? this.client.if(key, 'Mod', '==', existing.mod_revision)
        : this.client.if(key, 'Create', '==', 0);
      const result = await guard
        .then(this.client.put(key).value(encodeRecord(record)).lease(leaseId))
        .commit();
      if (result.succeeded) return;
    }
    throw new ConflictError('etcd', record.id, 'the key kept changing while registering');
  }

  watchInstances(service: string, sink: InstanceSink): () => void {
    const prefix = `${this.ctx.layout.servicePath(service)}/`;
    const toRaw = (kv: IKeyValue): RawInstance => {
      const key = kv.key.toString();
      const id = key.slice(prefix.length);
      return {
        id,
        key,
        record: decodeRecord('etcd', key, kv.value, { id, service }),
        health: 'passing',
        liveness: { model: 'lease', leaseId: kv.lease },
      };
    };
    const stop = new AbortController();
    void this.syncPrefix(
      prefix,
      {
        reset: (kvs) => sink.reset(kvs.map(toRaw)),
        put: (kv) => sink.upsert(toRaw(kv)),
        remove: (kv) => sink.remove(kv.key.toString().slice(prefix.length)),
        down: (error) => sink.down(error),
      },
      AbortSignal.any([stop.signal, this.closing.signal]),
    );
    return () => stop.abort();
  }

  async readConfig(key: string): Promise<string | undefined> {
    try {
      return (await this.client.get(this.ctx.layout.configPath(key)).string()) ?? undefined;
    } catch (error) {
      throw etcdError(error);
    }
  }

  async writeConfig(key: string, value: string): Promise<void> {
    try {
      await this.client.put(this.ctx.layout.configPath(key)).value(value);
    } catch (error) {
      throw etcdError(error);
    }
  }

  watchConfig(key: string, sink: ValueSink): () => void {
    return this.config.add(key, sink);
  }

  async members(): Promise<ClusterMember[]> {
    try {
      const [list, status] = await Promise.all([
        this.client.cluster.memberList({}),
        this.client.maintenance.status({}),
      ]);
      return list.members.map((m) => ({
        name: m.name || m.ID,
        endpoint: m.clientURLs[0] ?? '',
        role: m.ID === status.leader ? 'leader' : 'follower',
        healthy: m.clientURLs.length > 0,
      }));
    } catch (error) {
      throw etcdError(error);
    }
  }

  async close(): Promise<void> {
    this.closing.abort();
    this.setState('closed');
    this.client.close();
  }

  private configHandlers(): PrefixHandlers {
    const prefix = this.ctx.layout.configPath('');
    const keyOf = (kv: IKeyValue) => kv.key.toString().slice(prefix.length);
    return {
      reset: (kvs) => {
        this.setState('connected');
        this.config.reset(kvs.map((kv) => [keyOf(kv), kv.value.toString()]));
      },
      put: (kv) => this.config.set(keyOf(kv), kv.value.toString()),
      remove: (kv) => this.config.set(keyOf(kv), undefined),
      down: (error) => {
        this.setState('disconnected', { error });
        this.config.down(error);
      },
    };
  }

  /** Full read, then a watch from the next revision; again from the start after every disconnect. */
  private async syncPrefix(prefix: string, handlers: PrefixHandlers, signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(this.ctx.backoff);
    while (!signal.aborted) {
      let watcher: Watcher | undefined;
      try {
        const snapshot = await this.client.getAll().prefix(prefix).exec();
        if (signal.aborted) return;
        handlers.reset(snapshot.kvs);
        const next = (BigInt(snapshot.header.revision) + 1n).toString();
        watcher = await this.client.watch().prefix(prefix).startRevision(next).create();
        backoff.reset();
        await this.followUntilReconnect(watcher, handlers, signal);
      } catch (error) {
        if (signal.aborted) return;
        handlers.down(etcdError(error));
        await sleep(backoff.next(), signal);
      } finally {
        watcher?.cancel().catch(() => undefined);
      }
    }
  }

  private followUntilReconnect(
    watcher: Watcher,
    handlers: PrefixHandlers,
    signal: AbortSignal,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      let disconnected = false;
      const finish = () => {
        signal.removeEventListener('abort', finish);
        watcher.removeAllListeners();
        watcher.on('error', () => undefined);
        resolve();
      };
      watcher
        .on('put', (kv) => handlers.put(kv))
        .on('delete', (kv) => handlers.remove(kv))
        .on('disconnected', (error) => {
          disconnected = true;
          handlers.down(etcdError(error));
        })
        .on('connected', () => {
          if (disconnected) finish(); // resync: events may have been compacted away meanwhile
        })
        .on('error', (error) => {
          watcher.removeAllListeners();
          watcher.on('error', () => undefined);
          reject(error);
        });
      signal.addEventListener('abort', finish, { once: true });
    });
  }
}

class EtcdClaim extends ClaimBase {
  private keyWatcher: Watcher | undefined;

  constructor(
    private readonly adapter: EtcdAdapter,
    private readonly key: string,
    private readonly lease: Lease,
    readonly leaseId: string,
  ) {
    super();
    lease.removeAllListeners('lost');
    lease.on('keepaliveFailed', (response) =>
      this.connectionLost(etcdError(response instanceof Error ? response : 'keepalive failed')),
    );
    lease.on('keepaliveSucceeded', () => this.connectionBack());
    lease.on('lost', (error) => this.end(`lease ${leaseId} lost (${error.message})`));
    void this.watchOwnKey();
  }

  /** Someone deleted our key by hand (`etcdctl del`): report it so that the registration comes back. */
  private async watchOwnKey(): Promise<void> {
    try {
      const watcher = await this.adapter.client.watch().key(this.key).create();
      watcher.on('error', () => undefined);
      if (this.ended) {
        await watcher.cancel();
        return;
      }
      this.keyWatcher = watcher;
      watcher.on('delete', () => this.end('key deleted'));
    } catch {
      // etcd unreachable: the lease's keepalives say what happens next
    }
  }

  async write(record: InstanceRecord): Promise<void> {
    try {
      await this.adapter.client.put(this.key).value(encodeRecord(record)).lease(this.leaseId);
    } catch (error) {
      throw etcdError(error);
    }
  }

  async release(): Promise<void> {
    this.detach();
    try {
      await this.lease.revoke(); // deletes every key attached to the lease
    } catch (error) {
      this.lease.release();
      throw etcdError(error);
    }
  }

  abandon(): void {
    this.detach();
    this.lease.release();
  }

  protected override end(reason: string): void {
    if (!this.ended) this.lease.release();
    super.end(reason);
  }

  protected stopWatching(): void {
    this.keyWatcher?.cancel().catch(() => undefined);
    this.keyWatcher = undefined;
  }
}
