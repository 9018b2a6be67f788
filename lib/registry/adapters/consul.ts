// Consul: an instance is a service registered with a Consul agent, kept alive by a check: the agent
// polls the device's /health (HTTP check) or the device passes a TTL check. A dead instance stays as
// 'critical' until Consul reaps it (at least a minute). Discovery and config use blocking queries.
// What changes while a device runs (load, color) is a KV entry of its own, `<ns>/status/<service>/<id>`,
// not the service's Meta: a re-registration costs the agent ~5x a KV write in CPU (it rewrites the
// service and its check and syncs both to the catalog) and took 3 s p50 at 200/s with a data dir on
// disk; a KV write is one Raft write. The service is registered again only when what it holds changes
// (address, port, labels). The watch joins the two: the health of the service, the status entries.
// Pitfalls handled here: the agent forgets services when it restarts without its data dir (we watch our
// own service on the agent and re-register); an index that goes backwards resets to 0. With several
// agents (a cluster's members), an instance whose agent stays unreachable for the check window moves to
// the next agent; the copy left on the old agent is removed when that agent answers again (it would
// come back from its data dir, passing, with stale Meta).
import { sleep, withBackoff } from '../backoff.ts';
import { hostPort } from '../endpoints.ts';
import {
  ConflictError,
  isStoreUnavailableError,
  isUnauthorizedError,
  MalformedValueError,
  NotAliveError,
  type RegistryError,
} from '../errors.ts';
import { CONSUL_PASSES_PER_TTL } from '../liveness.ts';
import { livenessWindowMs } from '../schema.ts';
import type {
  ClusterMember,
  ConsulCheckType,
  HealthStatus,
  InstanceRecord,
  LivenessReading,
} from '../types.ts';
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
import { ConfigSync } from './config-sync.ts';
import {
  type Blocking,
  ConsulHttp,
  consulError,
  type HealthEntry,
  type KvItem,
  type ServiceDefinition,
} from './consul-http.ts';
import { type DeviceStatus, fromService, parseStatus, serviceMeta, statusOf } from './consul-meta.ts';

/** How long one blocking query waits for a change; a silent partition is noticed after this + 5 s. */
const WAIT_SECONDS = 15;
/**
 * After each answer of the instances watch, wait this long per entry (at most PAUSE_MAX_MS) before
 * asking again: every answer carries the whole service, so with many devices changing all the time an
 * unpaced watch makes Consul serialize the whole list back to back (a third of its CPU with 1,000
 * devices). 100 devices: 10 ms; 1,000: 100 ms (at most ~10 answers a second); 2,500 and more: 250 ms.
 * Changes made meanwhile come together in the next answer: a change waits at most this much longer. Consul's docs and consul-template rate-limit blocking
 * queries likewise.
 */
const PAUSE_PER_ENTRY_MS = 0.1;
const PAUSE_MAX_MS = 250;
/**
 * Consul 1.8 answers a blocking query on a key that does not exist whenever a write lands near it in
 * KV (its index is the table's): measured with 1,000 devices whose config key was missing, each
 * status write woke every device's config watch, 3,987 KV reads a second (483 with the key set). A
 * watch woken with the same value as before waits this long before asking again.
 */
const SAME_VALUE_PAUSE_MS = 1000;
/**
 * A Consul agent applies registrations and TTL passes one at a time, under one lock, each followed by a
 * sync of its whole local state; and it finishes a request its client gave up on. A client that gives
 * up after the usual request timeout and tries again only lengthens that queue: with 1,000 devices
 * arriving on one agent under load, 5,817 registrations and 3,902 passes were queued there (5 s
 * timeouts, retried), the agent answered nothing for minutes and every registration fell out. So a
 * registration waits this long; a pass waits until the check's TTL (a pass later than that is worth
 * nothing). A refused connection still fails at once.
 */
const AGENT_QUEUE_TIMEOUT_MS = 15_000;
const HEALTH_RANK: Record<HealthStatus, number> = { passing: 0, warning: 1, critical: 2 };

interface Follower<T> {
  value(value: T): void;
  down(error: RegistryError): void;
}

export class ConsulAdapter extends AdapterBase implements StoreAdapter {
  readonly kind = 'consul' as const;
  private readonly agents: ConsulHttp[];
  private active = 0;
  private readonly closing = new AbortController();
  /** The config keys in use, each a blocking query of its own; the kit's own keys' also tell the connection. */
  private readonly config: ConfigSync;

  constructor(private readonly ctx: AdapterContext) {
    super();
    const token = ctx.credentials.consul?.token || undefined;
    this.agents = ctx.endpoints.map((e) => new ConsulHttp(e, ctx.requestTimeoutMs, token));
    this.config = new ConfigSync(
      (key, to, signal) =>
        void this.follow(
          (agent, index, signal) =>
            agent.kvGetBlocking(ctx.layout.configKv(key), index, WAIT_SECONDS, signal),
          to,
          // A missing key's blocking query is woken by writes near it in KV (the devices' status
          // entries): 1,000 devices asked ~4,000 times a second. Woken with nothing new: wait a second.
          { signal, pauseIfSame: SAME_VALUE_PAUSE_MS },
        ),
      {
        value: () => this.setState('connected', { endpoint: this.agent.address }),
        down: (error) =>
          this.setState(isUnauthorizedError(error) ? 'unauthorized' : 'disconnected', {
            endpoint: this.agent.address,
            error,
          }),
      },
      this.closing.signal,
    );
  }

  /** Per agent, its token check (ConsulHttp.checkToken) since the last failure of a query to it. */
  private readonly tokenChecks = new Map<ConsulHttp, Promise<void>>();

  /**
   * Resolves once `agent` accepted this registry's token (asked once, then again after any failure:
   * a token deleted or a Consul restarted with other ACLs). Rejects with an UnauthorizedError.
   */
  authorized(agent: ConsulHttp): Promise<void> {
    let check = this.tokenChecks.get(agent);
    if (!check) {
      check = agent.checkToken();
      this.tokenChecks.set(agent, check);
      check.catch(() => {
        if (this.tokenChecks.get(agent) === check) this.tokenChecks.delete(agent);
      });
    }
    return check;
  }

  /** After a failure: ask `agent` about the token again before the next query. */
  recheck(agent: ConsulHttp): void {
    this.tokenChecks.delete(agent);
  }

  /** The agent this process talks to now; the next one after a failure. */
  get agent(): ConsulHttp {
    return this.agents[this.active % this.agents.length]!;
  }

  failover(from: ConsulHttp): void {
    if (this.agent === from) this.active = (this.active + 1) % this.agents.length;
  }

  async claim(record: InstanceRecord): Promise<Claim> {
    const agent = this.agent;
    const claimedAt = new Date().toISOString();
    try {
      await this.authorized(agent);
      await this.assertFree(agent, record);
      // The status first: the service appears with its load and color already there.
      await agent.kvSet(this.statusKey(record), statusOf(record));
      await agent.register(this.definition(record, claimedAt), this.registerTimeoutMs);
      if (this.ctx.liveness.consulCheck === 'ttl')
        await agent.passCheck(checkIdOf(record.id), this.passTimeoutMs);
    } catch (error) {
      if (isStoreUnavailableError(error)) this.failover(agent);
      throw consulError(error);
    }
    return new ConsulClaim(this, agent, record, claimedAt, this.ctx, this.closing.signal);
  }

  /** How long a registration waits for the agent (AGENT_QUEUE_TIMEOUT_MS). */
  get registerTimeoutMs(): number {
    return Math.max(this.ctx.requestTimeoutMs, AGENT_QUEUE_TIMEOUT_MS);
  }

  /** How long a TTL pass waits for the agent: until the check's TTL (a later pass is worth nothing). */
  get passTimeoutMs(): number {
    return Math.max(this.ctx.requestTimeoutMs, this.ctx.liveness.checkTtlSeconds * 1000);
  }

  /** Every agent of this registry but `agent`. */
  othersThan(agent: ConsulHttp): ConsulHttp[] {
    return this.agents.filter((other) => other !== agent);
  }

  /**
   * Another incarnation of this id that is not critical (alive somewhere) is a conflict. Asks for this
   * id only: reading the whole service on every registration made a fleet's start quadratic (1,000
   * devices starting took Consul's agent to a full core and 700 MB, and most registrations timed out).
   *
   * Except an incarnation at this record's own address (host and port): no other live process can
   * serve there, so it is this device's previous process (killed, restarted at once, as systemd does),
   * and its HTTP check passes only because this process answers it. Taken as a conflict, it never
   * turned critical and the device never registered again in Consul (the bench's config scenario
   * waited for the color of a device SIGKILLed and restarted: its Consul entry kept the old one).
   */
  private async assertFree(agent: ConsulHttp, record: InstanceRecord): Promise<void> {
    const { value: entries } = await agent.healthService(record.service, '0', 1, { onlyId: record.id });
    for (const entry of entries) {
      if (entry.Service.ID !== record.id) continue;
      const held = fromService(record.id, entry.Service);
      if (
        'incarnation' in held &&
        held.incarnation !== record.incarnation &&
        healthOf(entry) !== 'critical' &&
        !(held.host === record.host && held.port === record.port)
      ) {
        throw new ConflictError('consul', record.id, `${held.host}:${held.port} on node ${entry.Node.Node}`);
      }
    }
  }

  statusKey(record: InstanceRecord): string {
    return this.ctx.layout.statusKv(record.service, record.id);
  }

  /**
   * The service as registered with one agent. `claimedAt` (Meta fleet_claimed_at) is when this copy was
   * registered: of two copies of one ID after a failover, the one registered later is the live one (the
   * status entry, shared by both, cannot tell them apart).
   */
  definition(record: InstanceRecord, claimedAt: string): ServiceDefinition {
    const l = this.ctx.liveness;
    const common = {
      // A device that registers is alive: start passing rather than critical until the first check.
      status: 'passing',
      deregistercriticalserviceafter: `${l.deregisterCriticalAfterSeconds}s`,
    };
    return {
      name: record.service,
      id: record.id,
      address: record.host,
      port: record.port,
      meta: { ...serviceMeta(record), fleet_claimed_at: claimedAt },
      check:
        l.consulCheck === 'ttl'
          ? { ...common, ttl: `${l.checkTtlSeconds}s` }
          : {
              ...common,
              http: `http://${hostPort(record.host, record.port)}/health`,
              interval: `${l.checkIntervalSeconds}s`,
              timeout: `${l.checkTimeoutSeconds}s`,
            },
    };
  }

  /** Load-only updates are paced (consulLoadIntervalSeconds): each one is a KV write (Raft). */
  override get loadIntervalMs(): number {
    return this.ctx.consulLoadIntervalSeconds * 1000;
  }

  /**
   * Two blocking queries joined: the service's health (changes when a device registers, leaves or its
   * check changes status) and its status entries in KV (every load and color change). Nothing is
   * pushed until both answered once; then the whole joined set on every answer of either.
   */
  watchInstances(service: string, sink: InstanceSink): () => void {
    const stop = new AbortController();
    const decoded = { last: new Map() as Decoded };
    const prefix = this.ctx.layout.statusPrefix(service);
    let entries: HealthEntry[] | undefined;
    let statuses: Statuses | undefined;
    const push = () => {
      if (entries && statuses) sink.reset(toRawInstances(service, entries, statuses, decoded));
    };
    const pauseAfter = (list: unknown[]) => Math.min(PAUSE_MAX_MS, list.length * PAUSE_PER_ENTRY_MS);
    void this.follow(
      (agent, index, signal) => agent.healthService(service, index, WAIT_SECONDS, { signal }),
      {
        value: (value) => {
          entries = value;
          push();
        },
        down: (error) => sink.down(error),
      },
      { signal: stop.signal, pauseAfter },
    );
    void this.follow(
      (agent, index, signal) => agent.kvListBlocking(prefix, index, WAIT_SECONDS, signal),
      {
        value: (items) => {
          statuses = toStatuses(prefix, items, statuses);
          push();
        },
        down: (error) => sink.down(error),
      },
      { signal: stop.signal, pauseAfter },
    );
    return () => stop.abort();
  }

  async readConfig(key: string): Promise<string | undefined> {
    return this.withFailover((agent) => agent.kvGet(this.ctx.layout.configKv(key)));
  }

  async writeConfig(key: string, value: string): Promise<void> {
    await this.withFailover((agent) => agent.kvSet(this.ctx.layout.configKv(key), value));
  }

  watchConfig(key: string, sink: ValueSink): () => void {
    return this.config.add(key, sink);
  }

  async members(): Promise<ClusterMember[]> {
    const { members, leader } = await this.withFailover((agent) => agent.members());
    return members.map((m) => {
      const server = m.Tags.role === 'consul';
      const endpoint = `${m.Addr}:${m.Port}`;
      const serverAddress = `${m.Addr}:${m.Tags.port ?? ''}`;
      return {
        name: m.Name,
        endpoint,
        role: server ? (serverAddress === leader ? 'leader' : 'follower') : 'unknown',
        healthy: m.Status === 1,
      };
    });
  }

  /** The check is Consul's liveness, and it is pushed with the instances (health, output): nothing to read. */
  async readLiveness(): Promise<Map<string, LivenessReading>> {
    return new Map();
  }

  async close(): Promise<void> {
    this.closing.abort();
    this.setState('closed');
    for (const agent of this.agents) agent.destroy();
  }

  private async withFailover<T>(run: (agent: ConsulHttp) => Promise<T>): Promise<T> {
    const agent = this.agent;
    try {
      return await run(agent);
    } catch (error) {
      if (isStoreUnavailableError(error)) this.failover(agent);
      throw consulError(error);
    }
  }

  /**
   * A blocking-query loop: a value whenever the index moves, "down" and the next agent on failure.
   * `pauseAfter`: how long to wait after a value before asking again (rate-limits big answers).
   */
  async follow<T>(
    query: (agent: ConsulHttp, index: string, signal: AbortSignal) => Promise<Blocking<T>>,
    to: Follower<T>,
    {
      signal = this.closing.signal,
      agentOf = () => this.agent,
      pauseAfter,
      pauseIfSame,
    }: {
      signal?: AbortSignal;
      /** The agent to ask (default: the current one, with failover). */
      agentOf?: () => ConsulHttp;
      /** How long to wait after a value before asking again (rate-limits big answers). */
      pauseAfter?: (value: T) => number;
      /** Woken with a new index but the same value (===): not pushed, and wait this long. */
      pauseIfSame?: number;
    } = {},
  ): Promise<void> {
    const all = AbortSignal.any([signal, this.closing.signal]);
    let index = '0';
    let agent = agentOf();
    let last: { value: T } | undefined;
    await withBackoff(
      async (backoff) => {
        while (!all.aborted) {
          agent = agentOf();
          await this.authorized(agent);
          const result = await query(agent, index, all);
          if (all.aborted) return;
          backoff.reset();
          if (result.index === index) continue; // the wait ran out with no change
          index = nextIndex(index, result.index);
          if (pauseIfSame !== undefined && last && last.value === result.value) {
            await sleep(pauseIfSame, all);
            continue;
          }
          last = { value: result.value };
          to.value(result.value);
          const pauseMs = pauseAfter?.(result.value) ?? 0;
          if (pauseMs > 0) await sleep(pauseMs, all);
        }
      },
      {
        ...this.ctx.backoff,
        signal: all,
        onRetry: (error) => {
          const e = consulError(error);
          to.down(e);
          last = undefined; // after a failure the value is pushed again (the sink was told "down")
          this.recheck(agent);
          // A refusal is the same on every agent (ACLs are cluster-wide): no failover for it.
          if (!isUnauthorizedError(e)) this.failover(agent);
          index = '0';
          return undefined;
        },
      },
    ).catch(() => undefined); // thrown only once the signal aborted: the loop is over
  }
}

/** Consul's rules for blocking indexes: start again from 0 if it went backwards, never wait on 0. */
function nextIndex(previous: string, received: string): string {
  if (!/^\d+$/.test(received)) return received; // a content hash (agent endpoints)
  const next = BigInt(received);
  if (next <= 0n) return '1';
  return /^\d+$/.test(previous) && next < BigInt(previous) ? '0' : received;
}

const checkIdOf = (serviceId: string) => `service:${serviceId}`;

function healthOf(entry: HealthEntry): HealthStatus {
  let worst: HealthStatus = 'passing';
  for (const check of entry.Checks) {
    const status: HealthStatus =
      check.Status === 'passing' ? 'passing' : check.Status === 'warning' ? 'warning' : 'critical';
    if (HEALTH_RANK[status] > HEALTH_RANK[worst]) worst = status;
  }
  return worst;
}

/** One copy of a service ID, with when it was registered with its agent (Meta fleet_claimed_at). */
interface Copy {
  raw: RawInstance;
  claimedAt: string;
}

const copyOf = (raw: RawInstance, entry: HealthEntry): Copy => {
  const claimedAt = entry.Service.Meta?.fleet_claimed_at;
  return { raw, claimedAt: typeof claimedAt === 'string' ? claimedAt : '' };
};

/**
 * Of two copies of one ID (on two agents' nodes after a failover): the healthier; at equal health the
 * one registered later, since a copy left on an agent that came back is the one registered before the
 * move; without that stamp (a record written the old way), the more recently updated.
 */
function better(candidate: Copy, existing: Copy): boolean {
  const rank = HEALTH_RANK[candidate.raw.health] - HEALTH_RANK[existing.raw.health];
  if (rank !== 0) return rank < 0;
  if (candidate.claimedAt !== existing.claimedAt) return candidate.claimedAt > existing.claimedAt;
  const updated = (raw: RawInstance) => ('updatedAt' in raw.record ? raw.record.updatedAt : '');
  return updated(candidate.raw) > updated(existing.raw);
}

/** An entry decoded before, and the Consul indexes (service, checks, status) it was decoded at. */
type Decoded = Map<string, { stamp: string; raw: RawInstance }>;

/** A status entry of the watch, parsed (or found malformed) once per ModifyIndex. */
interface StatusEntry {
  index: number | undefined;
  value: DeviceStatus | MalformedValueError;
}
/** The status entries under a service's prefix, by device id. */
type Statuses = Map<string, StatusEntry>;

/**
 * The status entries of one answer, by id (the key's last segment). Untrusted: a key deeper than
 * `<prefix><id>` is not a device's and is skipped; a value that does not parse is kept as the
 * MalformedValueError that the device's entry will carry. Entries whose ModifyIndex did not move are
 * taken from `previous`, not parsed again.
 */
function toStatuses(prefix: string, items: KvItem[], previous: Statuses | undefined): Statuses {
  const next: Statuses = new Map();
  for (const item of items) {
    if (typeof item?.Key !== 'string' || !item.Key.startsWith(prefix)) continue;
    const id = item.Key.slice(prefix.length);
    if (id === '' || id.includes('/')) continue;
    const index = typeof item.ModifyIndex === 'number' ? item.ModifyIndex : undefined;
    const known = previous?.get(id);
    next.set(
      id,
      known && index !== undefined && known.index === index
        ? known
        : { index, value: parseStatus(item.Key, item.Value) },
    );
  }
  return next;
}

/**
 * What makes an entry's decoded form change: the node it is on, its service's and its checks'
 * ModifyIndex (Consul bumps them on every change of Meta, address, status or output). undefined when
 * Consul did not say (then it is decoded every time).
 */
function stampOf(entry: HealthEntry, status: StatusEntry | undefined): string | undefined {
  if (entry.Service.ModifyIndex === undefined) return undefined;
  if (status && status.index === undefined) return undefined;
  let stamp = `${entry.Node.Node}|${entry.Service.ModifyIndex}|${status?.index ?? '-'}`;
  for (const check of entry.Checks) {
    if (check.ModifyIndex === undefined) return undefined;
    stamp += `|${check.CheckID}:${check.ModifyIndex}`;
  }
  return stamp;
}

/** Consul's check Type in the kit's words; a value from the store is untrusted: anything else is 'unknown'. */
function checkTypeOf(type: unknown): ConsulCheckType {
  return type === 'http' || type === 'ttl' ? type : 'unknown';
}

function decode(service: string, entry: HealthEntry, status: StatusEntry | undefined): RawInstance {
  const id = entry.Service.ID;
  const key = `service ${service}/${id}`;
  const check = entry.Checks.find((c) => c.ServiceID === id) ?? entry.Checks[0];
  const statusValue = status?.value;
  return {
    id,
    key,
    record: !entry.Checks.some((c) => c.ServiceID === id)
      ? new NotAliveError('consul', key, 'no check')
      : statusValue instanceof MalformedValueError
        ? statusValue
        : fromService(key, entry.Service, statusValue),
    health: healthOf(entry),
    liveness: {
      model: 'check',
      node: entry.Node.Node,
      checkId: check?.CheckID ?? '',
      output: (check?.Output ?? '').slice(0, 300),
      checkType: checkTypeOf(check?.Type),
    },
  };
}

/**
 * One entry per service ID: the same ID may be on two agents' nodes after a failover; keep the best.
 * Every answer of the watch holds the whole service (1,000 entries for 1,000 devices) though one entry
 * changed: entries whose indexes did not move are taken from `decoded` (the same RawInstance object,
 * which also tells the core's view that nothing changed), not parsed and validated again. `decoded`
 * is replaced by this answer's entries, so that entries gone from Consul are forgotten.
 */
function toRawInstances(
  service: string,
  entries: HealthEntry[],
  statuses: Statuses,
  decoded: { last: Decoded },
): RawInstance[] {
  const byId = new Map<string, Copy>();
  const next: Decoded = new Map();
  for (const entry of entries) {
    const id = entry.Service.ID;
    const status = statuses.get(id);
    const stamp = stampOf(entry, status);
    const cacheKey = `${entry.Node.Node}\u0000${id}`;
    const known = decoded.last.get(cacheKey);
    const candidate =
      stamp !== undefined && known?.stamp === stamp ? known.raw : decode(service, entry, status);
    if (stamp !== undefined) next.set(cacheKey, { stamp, raw: candidate });
    const existing = byId.get(id);
    const copy = copyOf(candidate, entry);
    if (!existing || better(copy, existing)) byId.set(id, copy);
  }
  decoded.last = next;
  return [...byId.values()].map((copy) => copy.raw);
}

class ConsulClaim extends ClaimBase {
  private readonly stop = new AbortController();
  private lostSince = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly id: string;
  private readonly statusKey: string;
  /** The definition last registered (JSON): a write registers again only when it changed. */
  private registered: string;

  constructor(
    private readonly adapter: ConsulAdapter,
    private readonly agent: ConsulHttp,
    record: InstanceRecord,
    private readonly claimedAt: string,
    private readonly ctx: AdapterContext,
    closing: AbortSignal,
  ) {
    super();
    this.id = record.id;
    this.statusKey = adapter.statusKey(record);
    this.registered = JSON.stringify(adapter.definition(record, claimedAt));
    const signal = AbortSignal.any([this.stop.signal, closing]);
    for (const other of adapter.othersThan(agent))
      void this.removeStaleCopy(other, record.incarnation, signal);
    // The agent's own copy of our service: gone (404) when the agent restarted without it or someone
    // deregistered it by hand; then we register again.
    void adapter.follow(
      (agent, hash, signal) => agent.agentService(this.id, hash, WAIT_SECONDS, signal),
      {
        value: (service) =>
          service ? this.connectionBack() : this.end('the Consul agent no longer has the service'),
        down: (error) => this.unreachable(error),
      },
      { signal, agentOf: () => this.agent },
    );
    if (ctx.liveness.consulCheck === 'ttl') this.startHeartbeat();
  }

  /**
   * A change: the status entry (one KV write); the service again only when its definition changed
   * (address, port, labels: a load or color change never re-registers).
   */
  async write(record: InstanceRecord): Promise<void> {
    const definition = this.adapter.definition(record, this.claimedAt);
    const text = JSON.stringify(definition);
    if (text !== this.registered) {
      await this.agent.register(definition, this.adapter.registerTimeoutMs);
      this.registered = text;
    }
    await this.agent.kvSet(this.adapter.statusKey(record), statusOf(record));
  }

  async release(): Promise<void> {
    this.detach();
    await this.agent.deregister(this.id);
    await this.agent.kvDelete(this.statusKey).catch(() => undefined); // best effort: the service is gone
  }

  abandon(): void {
    this.detach();
  }

  private startHeartbeat(): void {
    const everyMs = Math.max(250, (this.ctx.liveness.checkTtlSeconds * 1000) / CONSUL_PASSES_PER_TTL);
    const beat = async () => {
      try {
        await this.agent.passCheck(checkIdOf(this.id), this.adapter.passTimeoutMs);
        this.connectionBack();
      } catch (error) {
        const e = consulError(error);
        if (/does not have associated TTL|unknown check/i.test(e.message))
          this.end('the Consul agent lost the TTL check');
        else this.unreachable(e);
      }
      if (!this.ended) this.heartbeat = setTimeout(beat, everyMs);
    };
    this.heartbeat = setTimeout(beat, everyMs);
  }

  private unreachable(error: RegistryError): void {
    if (!this.inOutage) {
      this.lostSince = performance.now();
      this.connectionLost(error);
      return;
    }
    // With other agents to go to, an agent unreachable for longer than the check's window (TTL, or
    // HTTP interval + timeout) has probably lost us already: register again elsewhere.
    const windowMs = livenessWindowMs('consul', this.ctx.liveness);
    if (this.ctx.endpoints.length > 1 && performance.now() - this.lostSince > windowMs)
      this.end('Consul agent unreachable');
  }

  /**
   * A copy of this instance, of this very incarnation, on another agent is one this process left
   * behind when it moved: that agent died, or was unreachable, and may come back with the copy (it
   * keeps services in its data dir) passing and frozen. Remove it, waiting for the agent if it is down.
   */
  private async removeStaleCopy(other: ConsulHttp, incarnation: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    await withBackoff(
      async () => {
        const { value: copy } = await other.agentService(this.id, '', 0, signal);
        // Only our own incarnation: another one is another process (a conflict is not ours to settle).
        if (copy?.Meta?.fleet_incarnation === incarnation) await other.deregister(this.id);
      },
      { ...this.ctx.backoff, signal },
    ).catch(() => undefined); // thrown only once the claim ended: nothing left to remove for
  }

  protected stopWatching(): void {
    this.stop.abort();
    clearTimeout(this.heartbeat);
  }
}
