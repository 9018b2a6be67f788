// etcd: an instance is a key attached to a lease that the client keeps alive (TTL liveness).
// Pitfalls handled here: a lost lease is dead (a new one is granted by the next claim); after an etcd
// restart leases get a fresh TTL, so our own old key may still be there (recognised by incarnation);
// watches resync with a full read after every reconnect.

import { AsyncLocalStorage } from 'node:async_hooks';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  isBrokenCircuitError,
  retry,
} from 'cockatiel';
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  GRPCResourceExhastedError,
  GRPCUnauthenticatedError,
  type IKeyValue,
  type IOptions,
  isRecoverableError,
  type Lease,
  Range,
  type Watcher,
} from 'etcd3';
import { withBackoff } from '../backoff.ts';
import type { EtcdCredentials } from '../credentials.ts';
import type { Endpoint } from '../endpoints.ts';
import {
  ConflictError,
  errorMessage,
  isRegistryError,
  isStoreUnavailableError,
  isUnauthorizedError,
  MalformedValueError,
  NotAliveError,
  type RegistryError,
  StoreError,
  StoreUnavailableError,
  UnauthorizedError,
} from '../errors.ts';
import { decodeRecord, encodeRecord } from '../record.ts';
import type { ClusterMember, InstanceRecord, LivenessReading, LivenessTarget } from '../types.ts';
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
import { ConfigSync, type KeyFollower } from './config-sync.ts';

/** What a sync loop does with what it reads and sees; `T` is what one key-value becomes (decoded once). */
interface RangeHandlers<T> {
  decode(kv: IKeyValue): T;
  reset(entries: T[]): void;
  put(entry: T): void;
  remove(kv: IKeyValue): void;
  down(error: RegistryError): void;
}

/** A key range read page by page: a prefix (the services folder) or one key (a config key). */
type Target = { prefix: string } | { key: string };

/**
 * Keys per page of a prefix read. grpc-js refuses answers over 4 MiB: three 1.4 MB values written by
 * hand under the folder made one whole-prefix read fail for good and the column stay DOWN. etcd's
 * default request limit (1.5 MiB) keeps one key and its value under that, so a page that is refused
 * is read again with fewer keys, down to one.
 */
const PAGE_KEYS = 256;

/**
 * Not a sign that etcd is down: the answer was too large. Neither retried nor counted by the breaker.
 * The breaker sees the library's error; readRange sees it converted, as its cause.
 */
const isTooLarge = (error: unknown) =>
  error instanceof GRPCResourceExhastedError ||
  (isRegistryError(error) && error.cause instanceof GRPCResourceExhastedError);
const isTransient = (error: Error) => isRecoverableError(error) && !isTooLarge(error);

/**
 * etcd's refusals of the kit's credentials (none, wrong, or this user may not do that). Their messages
 * name no secret: etcd says "authentication failed, invalid user ID or password", never which.
 */
const REFUSED =
  /user name is empty|authentication failed|permission denied|auth: revision|role is not granted|user name not found/i;

/**
 * A token etcd no longer takes: expired (JWT ttl), or made before the users or roles last changed
 * ("revision of auth store is old": etcd3 does not authenticate again for that one by itself). Not a
 * refusal: the adapter drops the token and the next request authenticates again (reauthenticate()).
 */
const STALE_TOKEN = /invalid auth token|revision of auth store is old/i;

/** The host policies a call is running inside (see reentrant()). */
const insidePolicies = new AsyncLocalStorage<ReadonlySet<object>>();

/**
 * The host's circuit breaker, made safe to enter again from inside itself. etcd3 retries a call that
 * etcd answered "invalid auth token" (an expired JWT) from inside that call's own run of the host
 * policy; when that run was the breaker's half-open test, the retry waited for the test and the test
 * for the retry: every later call to that host hung for good (measured: a root client after an etcd
 * restart, tokens of 3 s). A call made from inside the policy's own run goes straight through.
 */
function reentrant<P extends { execute: (fn: never, signal?: AbortSignal) => Promise<unknown> }>(
  policy: P,
): P {
  const execute = policy.execute.bind(policy) as (
    fn: (context: { signal: AbortSignal }) => unknown,
    signal?: AbortSignal,
  ) => Promise<unknown>;
  return Object.assign(Object.create(policy) as P, {
    execute(fn: (context: { signal: AbortSignal }) => unknown, signal?: AbortSignal) {
      const inside = insidePolicies.getStore();
      if (inside?.has(policy))
        return Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal }));
      return insidePolicies.run(new Set([...(inside ?? []), policy]), () => execute(fn, signal));
    },
  });
}

/** What the watch stream is closed with when the adapter renews its token (reauthenticate). */
const TOKEN_RENEWED = new Error('etcd auth token renewed');

/**
 * grpc-js names the TLS failure behind "No connection established" only sometimes ("Last error:
 * Error: unable to verify the first certificate"); when it does, it is a refusal, not an outage.
 */
const TLS_FAILURE = /Last error: .*(certificate|handshake|alert|SSL routines|self.signed)/i;

export function etcdError(error: unknown): RegistryError {
  if (isRegistryError(error)) return error;
  const message = errorMessage(error);
  if (
    error instanceof EtcdAuthenticationFailedError ||
    error instanceof EtcdPermissionDeniedError ||
    error instanceof GRPCUnauthenticatedError ||
    REFUSED.test(message)
  ) {
    return new UnauthorizedError('etcd', message.replace(/^\d+ [A-Z_]+: /, ''), error);
  }
  if (STALE_TOKEN.test(message))
    return new StoreUnavailableError(
      'etcd',
      'the auth token is no longer valid; authenticating again',
      error,
    );
  if (TLS_FAILURE.test(message))
    return new UnauthorizedError(
      'etcd',
      `TLS refused (${/Last error: (?:Error: )?([^.]{1,120})/.exec(message)?.[1] ?? 'handshake failed'})`,
      error,
    );
  if (
    error instanceof Error &&
    (isTransient(error) ||
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
  /** The config keys in use, each synced on its own; the kit's own keys' sync also tells the connection. */
  private readonly config: ConfigSync;
  /** The TLS check of the endpoints under way (connectionDown). */
  private probe: Promise<UnauthorizedError | undefined> | undefined;
  /** Values read of the kit's own keys: a TLS check that ends after one was read is stale. */
  private reads = 0;
  /** Why etcd refuses this client, while it does: what every watch says when it is down. */
  private refusal: UnauthorizedError | undefined;

  /** A user name and password are given: etcd3 authenticates, and may retry inside the host policy. */
  private readonly authenticates: boolean;

  constructor(private readonly ctx: AdapterContext) {
    super();
    const timeout = ctx.requestTimeoutMs;
    this.authenticates = Boolean(ctx.credentials.etcd?.username && ctx.credentials.etcd?.password);
    this.client = new Etcd3({
      hosts: ctx.endpoints.map((e) => e.address),
      ...etcdCredentialOptions(ctx.credentials.etcd),
      dialTimeout: timeout,
      // Deadlines for unary calls only: a deadline on the watch or keepalive stream would cut it.
      defaultCallOptions: (call) => (call.isStream ? {} : { deadline: new Date(Date.now() + timeout) }),
      faultHandling: {
        host: () => {
          const breaker = circuitBreaker(handleWhen(isTransient), {
            halfOpenAfter: 1000,
            breaker: new ConsecutiveBreaker(3),
          });
          // Only a client that authenticates re-enters the policy (see reentrant()); without auth the
          // AsyncLocalStorage is never run, so Node installs no promise hooks: every promise of the
          // process (the other stores' clients too) would pay for them.
          return this.authenticates ? reentrant(breaker) : breaker;
        },
        global: retry(handleWhen(isTransient), { maxAttempts: Math.max(1, ctx.endpoints.length) }),
        watchBackoff: new ExponentialBackoff({
          initialDelay: ctx.backoff.initialMs ?? 250,
          maxDelay: ctx.backoff.maxMs ?? 3000,
        }).next(),
      },
    });
    this.config = new ConfigSync(
      (key, to, signal) =>
        void this.syncRange({ key: ctx.layout.configPath(key) }, valueHandlers(to), signal),
      {
        value: () => {
          this.reads++;
          this.refusal = undefined;
          this.setState('connected');
        },
        down: (error) => void this.connectionDown(error),
      },
      this.closing.signal,
    );
  }

  /**
   * The kit's own keys could not be read. A refusal (auth failed, permission denied) says
   * 'unauthorized'. grpc-js says the same "UNAVAILABLE: No connection established" for an etcd that is
   * down and for one that refuses our TLS (no client certificate, one from another CA, a server
   * certificate we do not trust): a TLS handshake of our own tells them apart (tlsRefusal).
   */
  private async connectionDown(error: RegistryError): Promise<void> {
    const reads = this.reads;
    if (isUnauthorizedError(error)) {
      this.refusal = error;
      return this.setState('unauthorized', { error });
    }
    if (isStoreUnavailableError(error) && this.ctx.endpoints.some((e) => e.secure)) {
      // One check at a time; a "down" told meanwhile waits for its answer.
      this.probe ??= tlsRefusal(
        this.ctx.endpoints,
        this.ctx.credentials.etcd,
        this.ctx.requestTimeoutMs,
      ).finally(() => {
        this.probe = undefined;
      });
      const refusal = await this.probe;
      // A value read meanwhile (etcd came back during the handshake) is the news, not this.
      if (this.closing.signal.aborted || this.reads !== reads) return;
      this.refusal = refusal;
      if (refusal) return this.setState('unauthorized', { error: refusal });
    }
    this.setState('disconnected', { error });
  }

  /**
   * Every request to etcd goes through here: the one place where the client library's errors become
   * RegistryErrors (events of watches and leases are converted where they are heard).
   */
  async call<T>(request: (client: Etcd3) => PromiseLike<T>): Promise<T> {
    try {
      return await request(this.client);
    } catch (error) {
      const raw = isRegistryError(error) ? (error.cause ?? error) : error;
      if (!STALE_TOKEN.test(errorMessage(raw))) throw this.converted(error);
      // etcd checks the token before it does anything (a restart, or a token older than its users):
      // nothing was applied, so the request goes once more with a new token.
      this.reauthenticate(false);
      try {
        return await request(this.client);
      } catch (again) {
        throw this.converted(again);
      }
    }
  }

  /**
   * etcdError(), and a stale token dropped so that the next request authenticates again; `watch`: the
   * error came from a watch, whose stream carries the token it was opened with.
   */
  converted(error: unknown, watch = false): RegistryError {
    const raw = isRegistryError(error) ? error.cause : error; // call() converted it already
    if (STALE_TOKEN.test(errorMessage(raw ?? error))) this.reauthenticate(watch);
    return etcdError(error);
  }

  /**
   * Forgets the auth token: the next request authenticates again. etcd3 does it by itself only for
   * "invalid auth token" on unary calls; a watch refused for it, or "revision of auth store is old",
   * would otherwise keep the dead token for ever. (etcd3 keeps it in its connection pool's authenticator.)
   */
  private reauthenticate(watch: boolean): void {
    const client = this.client as unknown as {
      pool?: { authenticator?: { invalidateMetadata?(): void } };
      watchManager?: { state?: number; handleError?(error: Error): void };
    };
    client.pool?.authenticator?.invalidateMetadata?.();
    // etcd checks a watch's token when the stream opens: every watch created later on that stream is
    // refused once the token expired (a new page's watch, a resync), however often the client
    // authenticates again. The one stream of etcd3's watch manager is closed so that it opens again
    // with the new token (its watches are told 'disconnected', and resync). State 2: connected.
    if (watch) this.reopenWatchStream();
  }

  /** Closes etcd3's one watch stream (if open): it opens again, its watches are told and resync. */
  private reopenWatchStream(): void {
    const manager = (
      this.client as unknown as {
        watchManager?: { state?: number; handleError?(error: Error): void };
      }
    ).watchManager;
    // State 2: connected (etcd3's WatchManager). Closed while connecting, it would open two streams.
    if (manager?.state === 2) manager.handleError?.(TOKEN_RENEWED);
  }

  async claim(record: InstanceRecord): Promise<Claim> {
    const key = this.ctx.layout.instancePath(record.service, record.id);
    const lease = this.client.lease(this.ctx.liveness.leaseTtlSeconds, { autoKeepAlive: true });
    lease.on('lost', () => undefined); // reported through the claim once it exists
    try {
      const leaseId = await this.call(() => lease.grant());
      await this.putIfFree(key, record, leaseId);
      return new EtcdClaim(this, key, lease, leaseId);
    } catch (error) {
      lease.release(); // no keepalives for a claim that was not made
      throw error;
    }
  }

  /** Puts the record unless another incarnation holds the key; compare-and-swap against races. */
  private async putIfFree(key: string, record: InstanceRecord, leaseId: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = (await this.call((c) => c.get(key).exec())).kvs[0];
      if (existing) {
        const held = decodeRecord('etcd', key, existing.value, { id: record.id, service: record.service });
        if (!(held instanceof MalformedValueError) && held.incarnation !== record.incarnation) {
          throw new ConflictError('etcd', record.id, `${held.host}:${held.port}, lease ${existing.lease}`);
        }
      }
      const result = await this.call((c) =>
        (existing ? c.if(key, 'Mod', '==', existing.mod_revision) : c.if(key, 'Create', '==', 0))
          .then(c.put(key).value(encodeRecord(record)).lease(leaseId))
          .commit(),
      );
      if (result.succeeded) return;
    }
    throw new ConflictError('etcd', record.id, 'the key kept changing while registering');
  }

  watchInstances(service: string, sink: InstanceSink): () => void {
    const prefix = `${this.ctx.layout.servicePath(service)}/`;
    const stop = new AbortController();
    void this.syncRange(
      { prefix },
      {
        decode: (kv): RawInstance => {
          const key = kv.key.toString();
          const id = key.slice(prefix.length);
          return {
            id,
            key,
            record:
              kv.lease === '0'
                ? new NotAliveError('etcd', key, 'no lease')
                : decodeRecord('etcd', key, kv.value, { id, service }),
            health: 'passing',
            liveness: { model: 'lease', leaseId: kv.lease },
          };
        },
        reset: (entries) => sink.reset(entries),
        put: (entry) => sink.upsert(entry),
        remove: (kv) => sink.remove(kv.key.toString().slice(prefix.length)),
        down: (error) => sink.down(error),
      },
      AbortSignal.any([stop.signal, this.closing.signal]),
    );
    return () => stop.abort();
  }

  async readConfig(key: string): Promise<string | undefined> {
    return (await this.call((c) => c.get(this.ctx.layout.configPath(key)).string())) ?? undefined;
  }

  async writeConfig(key: string, value: string): Promise<void> {
    await this.call((c) => c.put(this.ctx.layout.configPath(key)).value(value));
  }

  watchConfig(key: string, sink: ValueSink): () => void {
    return this.config.add(key, sink);
  }

  async members(): Promise<ClusterMember[]> {
    const [list, status] = await this.call((c) =>
      Promise.all([c.cluster.memberList({}), c.maintenance.status({})]),
    );
    return list.members.map((m) => ({
      name: m.name || m.ID,
      endpoint: m.clientURLs[0] ?? '',
      role: m.ID === status.leader ? 'leader' : 'follower',
      healthy: m.clientURLs.length > 0,
    }));
  }

  /**
   * Each lease's remaining TTL, as etcd says (LeaseTimeToLive): whole seconds, truncated, so the lease
   * ends between TTL and TTL + 1 s from the answer. A few requests at a time (LEASE_READS_AT_ONCE).
   * A lease etcd no longer knows (TTL -1) is left out: its key is gone or going.
   */
  async readLiveness(targets: readonly LivenessTarget[]): Promise<Map<string, LivenessReading>> {
    const readings = new Map<string, LivenessReading>();
    const leases = targets.flatMap((t) =>
      t.liveness.model === 'lease' && /^[1-9]\d{0,19}$/.test(t.liveness.leaseId)
        ? [{ id: t.record.id, leaseId: t.liveness.leaseId }]
        : [],
    );
    await eachAtMost(LEASE_READS_AT_ONCE, leases, async ({ id, leaseId }) => {
      if (this.closing.signal.aborted) return;
      const answer = await this.call((c) => c.leaseClient.leaseTimeToLive({ ID: leaseId })).catch(
        () => undefined,
      );
      const ttl = Number(answer?.TTL);
      const granted = Number(answer?.grantedTTL);
      if (!answer || !Number.isFinite(ttl) || ttl < 0 || !Number.isFinite(granted) || granted <= 0) return;
      readings.set(id, {
        kind: 'expires',
        at: Date.now(),
        minMs: ttl * 1000,
        maxMs: (ttl + 1) * 1000,
        windowMs: granted * 1000,
        source: 'etcd lease TTL',
      });
    });
    return readings;
  }

  async close(): Promise<void> {
    this.closing.abort();
    this.setState('closed');
    this.client.close();
  }

  /**
   * Read the range (page by page), then watch it from the next revision; again from the start after
   * every disconnect (at once), and after a failure (with backoff, "down" told first). The watch is
   * cancelled as soon as its stream drops rather than resumed by the client from its last revision:
   * that catch-up comes as one answer of up to 1,000 revisions, which has no size bound; a fresh paged
   * read has.
   */
  private async syncRange<T>(target: Target, handlers: RangeHandlers<T>, signal: AbortSignal): Promise<void> {
    await withBackoff(
      async (backoff) => {
        while (!signal.aborted) {
          let watcher: Watcher | undefined;
          try {
            const { entries, revision } = await this.readRange(target, handlers.decode);
            if (signal.aborted) return;
            handlers.reset(entries);
            const next = (BigInt(revision) + 1n).toString();
            // The watcher is kept from the start (create() hides it until etcd confirms it): closed in
            // the meantime, it is still cancelled below; else etcd3 retries its stream on the closed
            // client for ever, and its timers keep the process alive.
            const builder = this.client.watch();
            watcher = ('prefix' in target ? builder.prefix(target.prefix) : builder.key(target.key))
              .startRevision(next)
              .watcher();
            await this.call(() => confirmed(watcher!, signal, this.ctx.requestTimeoutMs));
            backoff.reset();
            await this.followUntilDisconnect(watcher, handlers, signal);
          } finally {
            watcher?.cancel().catch(() => undefined);
          }
        }
      },
      {
        ...this.ctx.backoff,
        signal,
        onRetry: (error) => {
          const raw = isRegistryError(error) ? error.cause : error;
          if (raw instanceof WatchNotConfirmed) this.reopenWatchStream();
          const converted = this.converted(error, true);
          // A token renewed (expired, or older than etcd's users and roles): the next try is a resync
          // with a new one, nothing was down.
          if (!STALE_TOKEN.test(errorMessage(isRegistryError(error) ? (error.cause ?? error) : error)))
            handlers.down(this.refined(converted));
          return undefined;
        },
      },
    ).catch(() => undefined); // thrown only once the signal aborted: the sync is over
  }

  /** "Unavailable" said as the refusal it is, while etcd refuses this client (see connectionDown). */
  private refined(error: RegistryError): RegistryError {
    return this.refusal && isStoreUnavailableError(error) ? this.refusal : error;
  }

  /** One consistent read of the range (one revision), decoded page by page (see PAGE_KEYS). */
  private async readRange<T>(
    target: Target,
    decode: (kv: IKeyValue) => T,
  ): Promise<{ entries: T[]; revision: string }> {
    if ('key' in target) {
      const answer = await this.call((c) => c.get(target.key).exec());
      return { entries: answer.kvs.map(decode), revision: answer.header.revision };
    }
    const { end } = Range.prefix(target.prefix);
    let start = Buffer.from(target.prefix);
    let limit = PAGE_KEYS;
    let revision: string | undefined;
    const entries: T[] = [];
    for (;;) {
      const query = this.client.getAll().inRange(new Range(start, end)).limit(limit);
      if (revision !== undefined) query.revision(revision);
      let page: Awaited<ReturnType<typeof query.exec>>;
      try {
        page = await this.call(() => query.exec());
      } catch (error) {
        if (!isTooLarge(error) || limit === 1) throw error;
        limit = Math.max(1, limit >> 2);
        continue;
      }
      revision ??= page.header.revision;
      for (const kv of page.kvs) entries.push(decode(kv));
      const last = page.kvs.at(-1);
      if (!page.more || !last) return { entries, revision };
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  private followUntilDisconnect<T>(
    watcher: Watcher,
    handlers: RangeHandlers<T>,
    signal: AbortSignal,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const finish = () => {
        signal.removeEventListener('abort', finish);
        watcher.removeAllListeners();
        watcher.on('error', () => undefined);
        resolve();
      };
      watcher
        .on('put', (kv) => handlers.put(handlers.decode(kv)))
        .on('delete', (kv) => handlers.remove(kv))
        .on('disconnected', (error) => {
          // Our own renewal of the stream's token (reauthenticate): resync at once, nothing was down.
          if (error !== TOKEN_RENEWED) handlers.down(this.refined(this.converted(error)));
          finish();
        })
        .on('error', (error) => {
          watcher.removeAllListeners();
          watcher.on('error', () => undefined);
          reject(error);
        });
      // Closed while the watch was being created: an abort listener added now would never fire, and
      // the watcher, never cancelled, kept its stream and so the process alive.
      if (signal.aborted) finish();
      else signal.addEventListener('abort', finish, { once: true });
    });
  }
}

/**
 * etcd3's options for the kit's credentials: `auth` (user/password: the client authenticates, keeps
 * the token and authenticates again when etcd says it expired) and `credentials` (TLS: the CA that
 * signed etcd's certificate, this client's certificate and key), as Buffers of the PEM text.
 */
function etcdCredentialOptions(etcd: EtcdCredentials | undefined): Partial<IOptions> {
  if (!etcd) return {};
  const options: Partial<IOptions> = {};
  if (etcd.username && etcd.password) options.auth = { username: etcd.username, password: etcd.password };
  if (etcd.ca || etcd.cert || etcd.key) {
    options.credentials = {
      // null: the system's roots (grpc-js createSsl), for an etcd whose certificate a public CA signed.
      rootCertificate: (etcd.ca ? Buffer.from(etcd.ca) : null) as Buffer,
      ...(etcd.cert && etcd.key
        ? { certChain: Buffer.from(etcd.cert), privateKey: Buffer.from(etcd.key) }
        : {}),
    };
  }
  return options;
}

/**
 * Whether etcd refuses our TLS: a handshake with each https endpoint, with the CA, certificate and key
 * the client uses. An UnauthorizedError saying what was refused (never the PEM text) when at least one
 * endpoint answered and refused and none accepted; undefined when one accepted or none answered (down).
 * With TLS 1.3 a server refuses a client certificate after the client's side of the handshake ends:
 * a refusal arrives within a round trip of `secureConnect`, so each accepted handshake waits a little.
 */
export async function tlsRefusal(
  endpoints: readonly Endpoint[],
  etcd: EtcdCredentials | undefined,
  timeoutMs: number,
): Promise<UnauthorizedError | undefined> {
  const answers = await Promise.all(
    endpoints.filter((e) => e.secure).map((e) => handshake(e, etcd, Math.min(timeoutMs, 3000))),
  );
  if (answers.includes('accepted')) return undefined;
  const refused = answers.find((a): a is { refused: string } => typeof a === 'object');
  return refused ? new UnauthorizedError('etcd', `TLS refused: ${refused.refused}`) : undefined;
}

type Handshake = 'accepted' | 'unreachable' | { refused: string };

function handshake(
  endpoint: Endpoint,
  etcd: EtcdCredentials | undefined,
  timeoutMs: number,
): Promise<Handshake> {
  return new Promise((resolve) => {
    let secured = false;
    const socket = tlsConnect({
      host: endpoint.host,
      port: endpoint.port,
      ...(isIP(endpoint.host) ? {} : { servername: endpoint.host }),
      ca: etcd?.ca || undefined,
      cert: etcd?.cert || undefined,
      key: etcd?.key || undefined,
      ALPNProtocols: ['h2'],
    });
    const done = (answer: Handshake) => {
      clearTimeout(timer);
      clearTimeout(settle);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done('unreachable'), timeoutMs);
    let settle: NodeJS.Timeout | undefined;
    socket.on('secureConnect', () => {
      secured = true;
      settle = setTimeout(() => done('accepted'), Math.min(500, timeoutMs));
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const code = String(error.code ?? '');
      if (/^(ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)$/.test(code))
        return done('unreachable');
      if (/CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|HANDSHAKE_FAILURE/.test(code))
        return done({
          refused: `etcd at ${endpoint.address} refused this client's certificate (${code}): set FLEET_ETCD_CERT and FLEET_ETCD_KEY to a certificate its CA signed`,
        });
      if (/CERT|SELF_SIGNED|VERIFY|ALTNAME|ISSUER/.test(code))
        return done({
          refused: `the certificate of etcd at ${endpoint.address} is not trusted (${code}): set FLEET_ETCD_CA to the CA that signed it`,
        });
      // A reset before the handshake ended: a plain-HTTP etcd, or something else listening.
      done(secured ? 'accepted' : 'unreachable');
    });
    socket.on('close', () => done(secured ? 'accepted' : 'unreachable'));
  });
}

/** LeaseTimeToLive requests in flight at once, per registry: a page of tiles, without a burst. */
const LEASE_READS_AT_ONCE = 8;

/** Runs `work` on every item, at most `limit` at a time; never rejects (each item's failure is its own). */
async function eachAtMost<T>(limit: number, items: readonly T[], work: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item).catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A watch etcd did not confirm in time (see confirmed()). */
class WatchNotConfirmed extends Error {}

/**
 * Resolves once etcd confirms the watch (rejects with its error), or at once when `signal` aborts.
 * Rejects with WatchNotConfirmed after `timeoutMs`: after an etcd restart with auth, etcd3's watch
 * stream was seen open and silent, the create request never answered (measured: 8 s and counting, the
 * config watch of a device dead while its reads worked); the caller then reopens the stream.
 */
function confirmed(watcher: Watcher, signal: AbortSignal, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(
      () => done(new WatchNotConfirmed(`etcd did not confirm the watch within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const done = (error?: Error) => {
      clearTimeout(timer);
      watcher.off('connected', onConnected);
      watcher.off('error', done);
      signal.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onConnected = () => done();
    const onAbort = () => done();
    watcher.on('connected', onConnected);
    watcher.on('error', done);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A config key's sync, told to its ConfigSync follower. */
function valueHandlers(to: KeyFollower): RangeHandlers<string> {
  return {
    decode: (kv) => kv.value.toString(),
    reset: (values) => to.value(values[0]),
    put: (value) => to.value(value),
    remove: () => to.value(undefined),
    down: (error) => to.down(error),
  };
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
      // Deletes only: our own writes would each come back as a put event to decode and drop.
      const watcher = await this.adapter.client.watch().key(this.key).only('delete').create();
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
    await this.adapter.call((c) => c.put(this.key).value(encodeRecord(record)).lease(this.leaseId));
  }

  async release(): Promise<void> {
    this.detach();
    try {
      await this.adapter.call(() => this.lease.revoke()); // deletes every key attached to the lease
    } catch (error) {
      this.lease.release(); // stop its keepalives all the same: the lease ends with its TTL
      throw error;
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
