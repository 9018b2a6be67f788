// The few Consul HTTP calls the kit makes, typed, over the `consul` package (one client per endpoint).
// Its loosely typed options are cast once, here; its errors are converted once, here.
import { EventEmitter } from 'node:events';
import Consul from 'consul';
import type { Endpoint } from '../endpoints.ts';
import {
  isRegistryError,
  type RegistryError,
  StoreError,
  StoreUnavailableError,
  UnauthorizedError,
} from '../errors.ts';
import type { ConsulServiceFields } from './consul-meta.ts';

export interface HealthEntry {
  Node: { Node: string; Address: string };
  Service: ConsulServiceFields;
  /**
   * ModifyIndex: the Raft index of the check's last change (absent from agent-local answers). Type:
   * "http", "ttl", ... (Consul 1.8 and later; absent before).
   */
  Checks: {
    CheckID: string;
    ServiceID: string;
    Status: string;
    Output: string;
    Type?: string;
    ModifyIndex?: number;
  }[];
}

export interface AgentMember {
  Name: string;
  Addr: string;
  Port: number;
  /** 1 = alive (Serf's member status). */
  Status: number;
  Tags: Record<string, string>;
}

export interface KvItem {
  Key: string;
  Value: string | null;
  /** The Raft index of the entry's last change. */
  ModifyIndex?: number;
}

export interface ServiceDefinition {
  name: string;
  id: string;
  address: string;
  port: number;
  meta: Record<string, string>;
  check: Record<string, string>;
}

export interface Blocking<T> {
  index: string;
  value: T;
}

type Response = { statusCode: number; headers: Record<string, string | undefined>; body: unknown };
type Method = (options: Record<string, unknown>) => Promise<unknown>;
/** The part of the `consul` client used here, with the options its typings leave out. */
interface LooseClient {
  health: { service: Method };
  kv: { get: Method; set: Method; del: Method };
  agent: { service: { register: Method; deregister: Method }; check: { pass: Method }; members: Method };
  status: { leader: Method };
  _get: (req: Record<string, unknown>, next: unknown) => Promise<unknown>;
  destroy(): void;
}

const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504]);

/** The AccessorID of Consul's built-in anonymous token (what a request without a token acts as). */
const ANONYMOUS_ACCESSOR = '00000000-0000-0000-0000-000000000002';

/**
 * The library's error without what it carries of the request: papi's error keeps the response, whose
 * request keeps its headers, X-Consul-Token among them; a caller that logs the error with its cause
 * (util.inspect, console.error) would print the token. Only the message and the status are kept.
 */
function scrubbed(error: unknown): Error {
  const e = error as { message?: string; code?: string; response?: { statusCode?: number } } | undefined;
  const plain = new Error(String(e?.message ?? error));
  return Object.assign(plain, {
    ...(e?.code ? { code: e.code } : {}),
    ...(e?.response?.statusCode !== undefined ? { response: { statusCode: e.response.statusCode } } : {}),
  });
}

export function consulError(raw: unknown): RegistryError {
  if (isRegistryError(raw)) return raw;
  const error = scrubbed(raw);
  const e = error as {
    message?: string;
    code?: string;
    isPapi?: boolean;
    response?: { statusCode?: number };
  };
  // The client prefixes its own name and call ("consul: kv.get: ..."); our errors already name the store.
  const message = (e?.message ?? String(error)).replace(/^consul: [\w.]+: /, '');
  const status = e?.response?.statusCode;
  // 403: "ACL not found" (a token Consul does not know) or "Permission denied" (this token may not).
  if (status === 403) return new UnauthorizedError('consul', `${message} (HTTP 403)`, error);
  if (
    status === undefined ||
    TRANSIENT_STATUS.has(status) ||
    /timed out|no cluster leader|ECONN|EPIPE|socket/i.test(message)
  ) {
    return new StoreUnavailableError('consul', message, error);
  }
  return new StoreError('consul', `${message} (HTTP ${status})`, error);
}

export const isNotFound = (error: unknown) =>
  (error as { response?: { statusCode?: number } })?.response?.statusCode === 404;

export class ConsulHttp {
  readonly address: string;
  private readonly client: LooseClient;

  /** Sent as X-Consul-Token on every request (the package's `defaults`, and our own raw requests). */
  private readonly headers: Record<string, string>;

  constructor(
    endpoint: Endpoint,
    private readonly timeoutMs: number,
    token?: string,
  ) {
    this.address = endpoint.address;
    this.headers = token ? { 'x-consul-token': token } : {};
    this.client = new Consul({
      host: endpoint.host,
      port: endpoint.port,
      secure: endpoint.secure,
      ...(token ? { defaults: { token } } : {}),
    }) as unknown as LooseClient;
  }

  /**
   * Whether Consul accepts this client's token, asked once per connection (ConsulAdapter): with ACLs
   * on, reads are filtered, not refused, so a client with no token or a wrong one would see "no
   * devices". GET /v1/acl/token/self: 403 "ACL not found" for a token Consul does not know; the
   * anonymous token's own record for no token at all (the anonymous token reads nothing under default
   * deny); 401 "ACL support disabled" when ACLs are off (nothing to check).
   */
  async checkToken(): Promise<void> {
    let res: Response;
    try {
      res = await this.rawGet(undefined, {
        name: 'acl.token.self',
        path: '/acl/token/self',
        timeout: this.timeoutMs,
      });
    } catch (error) {
      const status = (error as { response?: { statusCode?: number } })?.response?.statusCode;
      if (status === 401 || status === 404) return; // ACLs off, or a Consul without this endpoint
      if (status === 403 && !this.headers['x-consul-token'])
        throw new UnauthorizedError('consul', 'no token, and Consul requires one (ACLs on)', scrubbed(error));
      if (status === 403)
        throw new UnauthorizedError(
          'consul',
          'Consul does not know this token (ACL not found)',
          scrubbed(error),
        );
      throw consulError(error);
    }
    const accessor = (res.body as { AccessorID?: unknown } | undefined)?.AccessorID;
    if (accessor === ANONYMOUS_ACCESSOR)
      throw new UnauthorizedError('consul', 'no token, and Consul requires one (ACLs on, default deny)');
  }

  /** `onlyId`: the entries of that one service ID (a filter in the agent: the answer stays small). */
  async healthService(
    service: string,
    index: string,
    waitSeconds: number,
    { signal, onlyId }: { signal?: AbortSignal; onlyId?: string } = {},
  ): Promise<Blocking<HealthEntry[]>> {
    const query = {
      service,
      index,
      wait: `${waitSeconds}s`,
      // IDs are letters, digits and _.:- (schema.ts): nothing to escape inside the quotes.
      ...(onlyId === undefined ? {} : { filter: `Service.ID == "${onlyId}"` }),
    };
    const [res, body] = await this.blocking((o) => this.client.health.service(o), query, waitSeconds, signal);
    return { index: indexOf(res), value: Array.isArray(body) ? (body as HealthEntry[]) : [] };
  }

  /** One key's value (undefined: no such key), as a blocking query. */
  async kvGetBlocking(
    key: string,
    index: string,
    waitSeconds: number,
    signal?: AbortSignal,
  ): Promise<Blocking<string | undefined>> {
    const query = { key, index, wait: `${waitSeconds}s` };
    const [res, body] = await this.blocking((o) => this.client.kv.get(o), query, waitSeconds, signal);
    const value = (body as KvItem | undefined)?.Value;
    return { index: indexOf(res), value: typeof value === 'string' ? value : undefined };
  }

  /** Every entry under `prefix` (values decoded from base64 by the package), as a blocking query. */
  async kvListBlocking(
    prefix: string,
    index: string,
    waitSeconds: number,
    signal?: AbortSignal,
  ): Promise<Blocking<KvItem[]>> {
    const query = { key: prefix, recurse: true, index, wait: `${waitSeconds}s` };
    const [res, body] = await this.blocking((o) => this.client.kv.get(o), query, waitSeconds, signal);
    return { index: indexOf(res), value: Array.isArray(body) ? (body as KvItem[]) : [] };
  }

  /** The agent's own copy of one service; blocks on its content hash. undefined: the agent does not have it. */
  async agentService(
    id: string,
    hash: string,
    waitSeconds: number,
    signal?: AbortSignal,
  ): Promise<Blocking<ConsulServiceFields | undefined>> {
    try {
      const res = await this.rawGet(signal, {
        name: 'agent.service.get',
        path: '/agent/service/{id}',
        params: { id },
        query: hash ? { hash, wait: `${waitSeconds}s` } : {},
        timeout: hash ? (waitSeconds + 5) * 1000 : this.timeoutMs,
      });
      return { index: res.headers['x-consul-contenthash'] ?? '', value: res.body as ConsulServiceFields };
    } catch (error) {
      if (isNotFound(error)) return { index: '', value: undefined };
      throw consulError(error);
    }
  }

  async kvGet(key: string): Promise<string | undefined> {
    const item = (await this.call((o) => this.client.kv.get(o), { key })) as KvItem | undefined;
    return item?.Value ?? undefined;
  }

  async kvSet(key: string, value: string): Promise<void> {
    await this.call((o) => this.client.kv.set(o), { key, value });
  }

  async kvDelete(key: string): Promise<void> {
    await this.call((o) => this.client.kv.del(o), { key });
  }

  /** `timeoutMs`: see ConsulAdapter.agentQueueTimeoutMs (the agent applies registrations one at a time). */
  async register(definition: ServiceDefinition, timeoutMs = this.timeoutMs): Promise<void> {
    await this.call((o) => this.client.agent.service.register(o), { ...definition }, timeoutMs);
  }

  async deregister(id: string): Promise<void> {
    await this.call((o) => this.client.agent.service.deregister(o), { id });
  }

  async passCheck(checkId: string, timeoutMs = this.timeoutMs): Promise<void> {
    await this.call((o) => this.client.agent.check.pass(o), { id: checkId }, timeoutMs);
  }

  /** The agent's view of the cluster's nodes, and the Raft leader's address. */
  async members(): Promise<{ members: AgentMember[]; leader: string }> {
    const [members, leader] = await Promise.all([
      this.call((o) => this.client.agent.members(o), {}),
      this.call((o) => this.client.status.leader(o), {}),
    ]);
    return { members: (members as AgentMember[]) ?? [], leader: typeof leader === 'string' ? leader : '' };
  }

  destroy(): void {
    this.client.destroy();
  }

  private async call(
    method: Method,
    options: Record<string, unknown>,
    timeoutMs = this.timeoutMs,
  ): Promise<unknown> {
    try {
      return await method({ ...options, timeout: timeoutMs });
    } catch (error) {
      throw isNotFound(error) ? scrubbed(error) : consulError(error);
    }
  }

  /**
   * A GET through the package's own request path (its base URL, TLS and timeout) that answers the whole
   * response (status, headers, body), with this client's token header; an error carries its response.
   */
  private async rawGet(
    signal: AbortSignal | undefined,
    request: { name: string; path: string; params?: object; query?: object; timeout: number },
  ): Promise<Response> {
    return (await cancellable(signal, (ctx) =>
      this.client._get(
        { ctx, ...request, headers: { ...this.headers } },
        (answer: { err?: Error; res: Response }, next: (...args: unknown[]) => void) => {
          if (answer.err) {
            (answer.err as Error & { response?: Response }).response = answer.res;
            return next(false, answer.err);
          }
          next(false, undefined, answer.res);
        },
      ),
    )) as Response;
  }

  /** A blocking query: the response too (for its index), a time limit past the wait, cancellable. */
  private async blocking(
    method: Method,
    options: Record<string, unknown>,
    waitSeconds: number,
    signal: AbortSignal | undefined,
  ): Promise<[Response, unknown]> {
    try {
      const timeout = (waitSeconds + 5) * 1000;
      const result = await cancellable(signal, (ctx) => method({ ...options, timeout, ctx }));
      return Array.isArray(result) ? [result[0] as Response, result[1]] : [result as Response, undefined];
    } catch (error) {
      throw consulError(error);
    }
  }
}

/**
 * papi takes an EventEmitter as request context: 'cancel' aborts the request. includeResponse asks
 * the consul package to return the response (for its index headers) with the body. The abort listener
 * goes when the request ends: a watch makes thousands of requests on one signal.
 */
async function cancellable<T>(
  signal: AbortSignal | undefined,
  run: (ctx: EventEmitter) => Promise<T>,
): Promise<T> {
  const ctx = Object.assign(new EventEmitter(), { includeResponse: true });
  const cancel = () => ctx.emit('cancel');
  signal?.addEventListener('abort', cancel, { once: true });
  try {
    return await run(ctx);
  } finally {
    signal?.removeEventListener('abort', cancel);
  }
}

function indexOf(res: Response): string {
  return res.headers['x-consul-index'] ?? '0';
}
