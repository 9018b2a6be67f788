// Consul by hand (what `curl http://host:8500/v1/kv/...` and `consul catalog services` do), with the
// consul package. Besides the key/value operations every store has: the services and their health.
import Consul from 'consul';
import { errorMessage, parseEndpoints, type StoreCredentials } from '../../../lib/registry/index.ts';
import type { RawClient, RawEvent } from './raw-client.ts';

const REQUEST_TIMEOUT_MS = 8000;

interface KvItem {
  Key: string;
  Value: string | null;
}

export interface ServiceHealth {
  id: string;
  address: string;
  port: number;
  node: string;
  /** The worst of its checks: passing, warning or critical. */
  status: string;
  checks: { id: string; status: string; type: string; output: string }[];
}

export interface ConsulRawClient extends RawClient {
  /** Every service in the catalog and its tags. */
  services(): Promise<Record<string, string[]>>;
  /** Each instance of `service` with its checks, as Consul's health endpoint tells. */
  health(service: string): Promise<ServiceHealth[]>;
}

type Loose = (options: Record<string, unknown>) => Promise<unknown>;

/** Consul's KV keys have no leading '/': given one (as in etcd), it is taken off, as curl's URL would. */
const kvKey = (key: string) => key.replace(/^\/+/, '');

export function consulClient(
  endpoints: readonly string[],
  credentials: StoreCredentials = {},
): ConsulRawClient {
  // One endpoint: Consul agents are not a failover list (each holds its own services).
  const [first] = parseEndpoints('consul', [...endpoints]);
  const token = credentials.consul?.token;
  const client = new Consul({
    host: first!.host,
    port: first!.port,
    secure: first!.secure,
    // The class's token (X-Consul-Token on every request, as curl -H would send it).
    ...(token ? { defaults: { token } } : {}),
  });
  const kv = client.kv as unknown as { get: Loose; set: Loose; keys: Loose };
  const limited = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `Consul at ${first!.address} did not answer ${what} within ${REQUEST_TIMEOUT_MS / 1000} s`,
            ),
          ),
        REQUEST_TIMEOUT_MS,
      );
    });
    try {
      return await Promise.race([call(), timeout]);
    } catch (error) {
      throw new Error(errorMessage(error).replace(/^consul: [\w.]+: /, ''));
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    async get(key) {
      const item = (await limited('kv get', () => kv.get({ key: kvKey(key) }))) as KvItem | undefined;
      return item ? (item.Value ?? '') : undefined;
    },
    async put(key, value) {
      const ok = await limited('kv put', () => kv.set({ key: kvKey(key), value }));
      if (ok !== true) throw new Error(`Consul did not store ${kvKey(key)}`);
    },
    async list(prefix) {
      try {
        return ((await limited('kv keys', () => kv.keys({ key: kvKey(prefix) }))) as string[]).sort();
      } catch (error) {
        // No key under the prefix is a 404 to Consul, and an empty list to a person.
        if (/not found/i.test(errorMessage(error))) return [];
        throw error;
      }
    },
    async watch(key, { prefix }, onEvent, signal) {
      // Blocking queries (the consul package's watch): Consul answers when the index moves. It also
      // moves for other keys, so values are compared and only real changes are told.
      const watch = client.watch({
        method: client.kv.get,
        options: { key: kvKey(key), ...(prefix ? { recurse: 'true' } : {}) },
        backoffFactor: 250,
        backoffMax: 4000,
      } as never);
      let known: Map<string, string> | undefined;
      await new Promise<void>((resolve, reject) => {
        let failures = 0;
        const stop = () => {
          watch.end();
          resolve();
        };
        watch.on('change', (data: KvItem | KvItem[] | undefined) => {
          failures = 0;
          const items = data === undefined ? [] : Array.isArray(data) ? data : [data];
          const now = new Map(items.map((i) => [i.Key, i.Value ?? '']));
          if (known) {
            for (const [k, v] of now)
              if (known.get(k) !== v) onEvent({ type: 'put', key: k, value: v } satisfies RawEvent);
            for (const k of known.keys()) if (!now.has(k)) onEvent({ type: 'delete', key: k });
          }
          known = now;
        });
        // The package retries with its backoff; three failures in a row without an answer end the command.
        watch.on('error', (error: unknown) => {
          if (++failures < 3) return;
          watch.end();
          reject(
            new Error(`Consul at ${first!.address}: ${errorMessage(error).replace(/^consul: [\w.]+: /, '')}`),
          );
        });
        if (signal.aborted) return stop();
        signal.addEventListener('abort', stop, { once: true });
      });
    },
    async services() {
      return (await limited('catalog services', () => client.catalog.service.list())) as Record<
        string,
        string[]
      >;
    },
    async health(service) {
      const entries = (await limited('health service', () =>
        (client.health as unknown as { service: Loose }).service({ service }),
      )) as {
        Node: { Node: string };
        Service: { ID: string; Address: string; Port: number };
        Checks: { CheckID: string; ServiceID: string; Status: string; Type?: string; Output: string }[];
      }[];
      const rank = ['passing', 'warning', 'critical'];
      return entries.map((e) => {
        // The node's own check (serfHealth) has no service and no type: "node".
        const checks = e.Checks.map((c) => ({
          id: c.CheckID,
          status: c.Status,
          type: c.Type || (c.ServiceID ? 'unknown' : 'node'),
          output: c.Output,
        }));
        const status = checks.reduce(
          (worst, c) => (rank.indexOf(c.status) > rank.indexOf(worst) ? c.status : worst),
          'passing',
        );
        return {
          id: e.Service.ID,
          address: e.Service.Address,
          port: e.Service.Port,
          node: e.Node.Node,
          status,
          checks,
        };
      });
    },
    async close() {
      client.destroy?.();
    },
  };
}
