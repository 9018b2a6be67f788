// ZooKeeper: an instance is an ephemeral znode that lives as long as the client's session (session
// timeout liveness). Watches are one-shot: every read re-arms its watch, and a reconnect or a new
// session resyncs everything.
import type { Event } from 'node-zookeeper-client';
import {
  ConflictError,
  MalformedValueError,
  NotAliveError,
  type RegistryError,
  StoreUnavailableError,
} from '../errors.ts';
import { decodeRecord, encodeRecord } from '../record.ts';
import type { ClusterMember, InstanceRecord, LivenessReading, LivenessTarget } from '../types.ts';
import {
  AdapterBase,
  type AdapterContext,
  type Claim,
  ClaimBase,
  type CloseHow,
  type InstanceSink,
  type RawInstance,
  type StoreAdapter,
  type ValueSink,
} from './adapter.ts';
import { parseCons } from './zookeeper-cons.ts';
import { fourLetterWord, ZK, ZooKeeperSession, zkCode, zookeeperError } from './zookeeper-session.ts';

export class ZooKeeperAdapter extends AdapterBase implements StoreAdapter {
  readonly kind = 'zookeeper' as const;
  readonly session: ZooKeeperSession;
  /** Per server (address): its monotonic clock to ours (performance.now()), ms (see readLiveness). */
  private readonly clockOffsets = new Map<string, number>();
  /** Per session asked about: its last contact (our performance.now()) and timeout, as `cons` said last. */
  private readonly contacts = new Map<string, { at: number; timeoutMs: number }>();

  constructor(private readonly ctx: AdapterContext) {
    super();
    this.session = new ZooKeeperSession(
      ctx.endpoints.map((e) => e.address).join(','),
      ctx.liveness.sessionTimeoutMs,
      ctx.requestTimeoutMs,
      {
        auth: ctx.credentials.zookeeper?.auth || undefined,
        // The namespace: '/<ns>' (its services folder's parent).
        probePath: ctx.layout.servicePath('x').replace(/\/services\/x$/, ''),
        backoff: ctx.backoff,
      },
    );
    this.session.on('connected', () => this.setState('connected'));
    this.session.on('unauthorized', (error) => this.setState('unauthorized', { error }));
    this.session.on('disconnected', (error) => this.setState('disconnected', { error }));
  }

  async claim(record: InstanceRecord): Promise<Claim> {
    const path = this.ctx.layout.instancePath(record.service, record.id);
    const generation = this.session.generation;
    await this.session.mkdirp(this.ctx.layout.servicePath(record.service));
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.session.create(path, Buffer.from(encodeRecord(record)), ZK.EPHEMERAL);
        return new ZooKeeperClaim(this.session, path, generation);
      } catch (error) {
        if (zkCode(error) !== ZK.NODE_EXISTS) throw error;
        await this.removeIfOurs(path, record);
      }
    }
    throw new ConflictError('zookeeper', record.id, 'the node kept reappearing while registering');
  }

  /** NODE_EXISTS may be our own node from the session that just expired: take it back, else conflict. */
  private async removeIfOurs(path: string, record: InstanceRecord): Promise<void> {
    let found: Awaited<ReturnType<ZooKeeperSession['getData']>>;
    try {
      found = await this.session.getData(path);
    } catch (error) {
      if (zkCode(error) === ZK.NO_NODE) return;
      throw error;
    }
    const held = decodeRecord('zookeeper', path, found.data, { id: record.id, service: record.service });
    if (!(held instanceof MalformedValueError) && held.incarnation !== record.incarnation) {
      const owner = found.stat.ephemeralOwner.toString('hex');
      throw new ConflictError('zookeeper', record.id, `${held.host}:${held.port}, session 0x${owner}`);
    }
    try {
      await this.session.remove(path, found.stat.version);
    } catch (error) {
      if (zkCode(error) !== ZK.NO_NODE && zkCode(error) !== ZK.BAD_VERSION) throw error;
    }
  }

  watchInstances(service: string, sink: InstanceSink): () => void {
    const parent = this.ctx.layout.servicePath(service);
    const dataWatchers = new Map<string, (event: Event) => void>();
    const read = async (id: string): Promise<RawInstance | undefined> => {
      const key = `${parent}/${id}`;
      let watcher = dataWatchers.get(id);
      if (!watcher) {
        watcher = (event) => {
          if (event.getType() === ZK.NODE_DELETED) return; // the child watch reports it
          // Asked now, applied in turn: a busy fleet's re-reads share one round trip instead of
          // queueing one behind the other.
          feed.pipeline(
            () => read(id),
            (entry) => {
              if (entry) sink.upsert(entry);
            },
          );
        };
        dataWatchers.set(id, watcher);
      }
      const found = await this.readWatched(key, watcher);
      if (!found) return undefined;
      return {
        id,
        key,
        record: found.stat.ephemeralOwner.every((byte) => byte === 0)
          ? new NotAliveError('zookeeper', key, 'a persistent node, no session owns it')
          : decodeRecord('zookeeper', key, found.data, { id, service }),
        health: 'passing',
        liveness: { model: 'session', sessionId: found.stat.ephemeralOwner.toString('hex') },
      };
    };
    const sync = async () => {
      const ids = await this.readChildren(parent, onChildren);
      const entries = (await Promise.all(ids.map(read))).filter((e): e is RawInstance => e !== undefined);
      for (const id of dataWatchers.keys()) if (!ids.includes(id)) dataWatchers.delete(id);
      sink.reset(entries);
    };
    const feed = new OrderedFeed(this.session, sync, (error) => sink.down(error));
    const onChildren = () => feed.run(sync);
    return feed.start();
  }

  async readConfig(key: string): Promise<string | undefined> {
    try {
      return (await this.session.getData(this.ctx.layout.configPath(key))).data?.toString();
    } catch (error) {
      if (zkCode(error) === ZK.NO_NODE) return undefined;
      throw error;
    }
  }

  async writeConfig(key: string, value: string): Promise<void> {
    const path = this.ctx.layout.configPath(key);
    const data = Buffer.from(value);
    try {
      await this.session.setData(path, data);
    } catch (error) {
      if (zkCode(error) !== ZK.NO_NODE) throw error;
      try {
        await this.session.mkdirp(this.ctx.layout.configPath('').replace(/\/$/, ''));
        await this.session.create(path, data, ZK.PERSISTENT);
      } catch (inner) {
        if (zkCode(inner) !== ZK.NODE_EXISTS) throw inner;
        await this.session.setData(path, data);
      }
    }
  }

  watchConfig(key: string, sink: ValueSink): () => void {
    const path = this.ctx.layout.configPath(key);
    const sync = async () => sink.set((await this.readWatched(path, onChange))?.data?.toString());
    const feed = new OrderedFeed(this.session, sync, (error) => sink.down(error));
    const onChange = () => feed.run(sync);
    return feed.start();
  }

  /** ZooKeeper tells each server's mode through its `srvr` four-letter word, one connection each. */
  async members(): Promise<ClusterMember[]> {
    const members = await Promise.all(
      this.ctx.endpoints.map(async (e): Promise<ClusterMember> => {
        const answer = await fourLetterWord(e.host, e.port, 'srvr', {
          timeoutMs: this.ctx.requestTimeoutMs,
        }).catch(() => undefined);
        const mode = answer ? /^Mode: (\w+)/m.exec(answer)?.[1] : undefined;
        const role = mode === 'leader' || mode === 'follower' || mode === 'standalone' ? mode : 'unknown';
        return { name: e.address, endpoint: e.address, role, healthy: answer !== undefined };
      }),
    );
    if (!members.some((m) => m.healthy))
      throw new StoreUnavailableError('zookeeper', 'no server answered srvr');
    return members;
  }

  /**
   * Each session's last contact, as the servers say in `cons` (zookeeper-cons.ts). Its `lresp` is on
   * the server's own monotonic clock: this registry's own session, answered just before, ties that
   * clock to ours (so a server where this session is not connected is not read). A device killed
   * drops its connection, and with it its `cons` line, while its session lives on to its timeout: its
   * last contact is then the last one seen. A server that refuses `cons` (not in its
   * 4lw.commands.whitelist) or does not answer gives no reading: the caller falls back to the events.
   */
  async readLiveness(targets: readonly LivenessTarget[]): Promise<Map<string, LivenessReading>> {
    const readings = new Map<string, LivenessReading>();
    const wanted = new Map<string, string[]>();
    for (const t of targets) {
      if (t.liveness.model !== 'session' || !/^[0-9a-f]{16}$/.test(t.liveness.sessionId)) continue;
      wanted.set(t.liveness.sessionId, [...(wanted.get(t.liveness.sessionId) ?? []), t.record.id]);
    }
    for (const sid of this.contacts.keys()) if (!wanted.has(sid)) this.contacts.delete(sid);
    if (wanted.size === 0 || !this.session.connected) return readings;
    const own = this.session.sessionId;
    try {
      await this.session.ping();
    } catch {
      return readings;
    }
    // Contacts are kept on the monotonic clock (a step of this host's wall clock moves no countdown);
    // only the reading's `at` is a wall timestamp, for those who show it.
    const pingedAt = performance.now();
    const timeoutMs = Math.min(this.ctx.requestTimeoutMs, 2000);
    const listed = new Set<string>();
    await Promise.all(
      this.ctx.endpoints.map(async (e) => {
        const answer = await fourLetterWord(e.host, e.port, 'cons', { timeoutMs }).catch(() => undefined);
        if (answer === undefined) return;
        const sessions = parseCons(answer);
        const ownLine = sessions.find((s) => s.sid === own);
        if (ownLine) this.clockOffsets.set(e.address, pingedAt - ownLine.lastResponse);
        const offset = this.clockOffsets.get(e.address);
        if (offset === undefined) return;
        for (const s of sessions) {
          if (!wanted.has(s.sid)) continue;
          listed.add(s.sid);
          this.contacts.set(s.sid, {
            at: Math.min(pingedAt, s.lastResponse + offset),
            timeoutMs: s.timeoutMs,
          });
        }
      }),
    );
    const now = performance.now();
    const wallNow = Date.now();
    for (const [sid, ids] of wanted) {
      const contact = this.contacts.get(sid);
      if (!contact) continue;
      const source = listed.has(sid) ? 'ZooKeeper cons' : 'ZooKeeper cons (connection closed)';
      for (const id of ids) {
        readings.set(id, {
          kind: 'contact',
          at: wallNow,
          sinceMs: Math.max(0, now - contact.at),
          windowMs: contact.timeoutMs,
          source,
        });
      }
    }
    return readings;
  }

  async close(how: CloseHow = 'clean'): Promise<void> {
    this.setState('closed');
    this.session.close(how);
  }

  /** getData with a watch; a missing node arms an existence watch instead and reads as undefined. */
  private async readWatched(path: string, watcher: (event: Event) => void) {
    for (;;) {
      try {
        return await this.session.getData(path, watcher);
      } catch (error) {
        if (zkCode(error) !== ZK.NO_NODE) throw error;
      }
      if (!(await this.session.exists(path, watcher))) return undefined;
      // created between the two calls: read it again
    }
  }

  private async readChildren(path: string, watcher: (event: Event) => void): Promise<string[]> {
    for (;;) {
      try {
        return await this.session.getChildren(path, watcher);
      } catch (error) {
        if (zkCode(error) !== ZK.NO_NODE) throw error;
      }
      if (!(await this.session.exists(path, watcher))) return [];
    }
  }
}

/**
 * Applies a watch's reads in the order they were asked, resyncs on every (re)connect and new session,
 * and reports failures as "down" (a failed read is retried by the next connect). ZooKeeper answers one
 * session's requests in order, so reads may be sent at once and still be applied in order.
 */
class OrderedFeed {
  private chain = Promise.resolve();
  private stopped = false;
  private readonly onConnected = () => this.run(this.resync);
  private readonly onDisconnected = (error: RegistryError) => this.down(error);
  private readonly onUnauthorized = (error: RegistryError) => {
    if (!this.stopped) this.down(error);
  };

  constructor(
    private readonly session: ZooKeeperSession,
    private readonly resync: () => Promise<void>,
    private readonly down: (error: RegistryError) => void,
  ) {}

  start(): () => void {
    this.session
      .on('connected', this.onConnected)
      .on('disconnected', this.onDisconnected)
      .on('unauthorized', this.onUnauthorized);
    if (this.session.connected) this.run(this.resync);
    // Told on the next tick, as etcd and Consul tell theirs: the caller listens once it has the watch.
    else
      queueMicrotask(() => {
        if (!this.stopped && !this.session.connected)
          this.down(this.session.refusal ?? new StoreUnavailableError('zookeeper', 'not connected'));
      });
    return () => {
      this.stopped = true;
      this.session
        .off('connected', this.onConnected)
        .off('disconnected', this.onDisconnected)
        .off('unauthorized', this.onUnauthorized);
    };
  }

  /** Sends `read` now; applies its result after every step asked before it. */
  pipeline<T>(read: () => Promise<T>, apply: (value: T) => void): void {
    if (this.stopped) return;
    const pending = read();
    pending.catch(() => undefined); // reported in turn, by run()
    this.run(async () => apply(await pending));
  }

  run(step: () => Promise<void>): void {
    this.chain = this.chain.then(async () => {
      if (this.stopped) return;
      try {
        await step();
      } catch (error) {
        if (!this.stopped) this.down(zookeeperError(error));
      }
    });
  }
}

class ZooKeeperClaim extends ClaimBase {
  private readonly onDisconnected = (error: RegistryError) => this.connectionLost(error);
  private readonly onConnected = () => this.connectionBack();
  private readonly onReplaced = (reason: string) => this.end(reason);

  constructor(
    private readonly session: ZooKeeperSession,
    private readonly path: string,
    generation: number,
  ) {
    super();
    session
      .on('disconnected', this.onDisconnected)
      .on('connected', this.onConnected)
      .on('replaced', this.onReplaced);
    if (session.generation !== generation)
      queueMicrotask(() => this.end('session replaced while registering'));
    else void this.watchOwnNode();
  }

  async write(record: InstanceRecord): Promise<void> {
    try {
      await this.session.setData(this.path, Buffer.from(encodeRecord(record)));
    } catch (error) {
      if (zkCode(error) === ZK.NO_NODE) this.end('node deleted');
      throw error;
    }
  }

  async release(): Promise<void> {
    this.detach();
    try {
      await this.session.remove(this.path);
    } catch (error) {
      if (zkCode(error) !== ZK.NO_NODE) throw error;
    }
  }

  abandon(): void {
    // An ephemeral node goes with its session: it expires when the registry closes its client.
    this.detach();
  }

  /** Someone deleted our node by hand (zkCli `delete`): report it so that the registration comes back. */
  private async watchOwnNode(): Promise<void> {
    if (this.ended) return;
    const onEvent = (event: Event) => {
      if (event.getType() === ZK.NODE_DELETED) this.end('node deleted');
      else void this.watchOwnNode();
    };
    try {
      if (!(await this.session.exists(this.path, onEvent))) this.end('node deleted');
    } catch {
      // disconnected: the session events say what happens next
    }
  }

  protected stopWatching(): void {
    this.session
      .off('disconnected', this.onDisconnected)
      .off('connected', this.onConnected)
      .off('replaced', this.onReplaced);
  }
}
