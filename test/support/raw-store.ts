// Reads and writes the stores with their plain clients, bypassing the registry: to check that what
// the registry stores is what docs/stores.md says, and to write garbage as a user with etcdctl would.
import { Etcd3 } from 'etcd3';
import zookeeper from 'node-zookeeper-client';
import type { StoreKind } from '../../lib/registry/index.ts';

export interface RawInstance {
  /**
   * The JSON document (etcd, ZooKeeper) or the service's fields (Consul), with `Status`: its status
   * entry in KV, parsed (undefined: none).
   */
  value: Record<string, unknown>;
  /** etcd: the lease id; ZooKeeper: the ephemeral owner session; Consul: the check definition's type. */
  liveness: string;
}

export interface RawStore {
  readInstance(ns: string, service: string, id: string): Promise<RawInstance | undefined>;
  writeConfig(ns: string, key: string, value: string): Promise<void>;
  /** As a learner would with `etcdctl del`, zkCli `delete` or Consul's deregister endpoint. */
  deleteInstance(ns: string, service: string, id: string): Promise<void>;
  /**
   * Writes an entry under the service's folder by hand, as someone with etcdctl, zkCli or curl would:
   * `alive` attaches it to a lease / makes it ephemeral / gives it a TTL check that the writer keeps
   * (until close()); otherwise nothing keeps it alive. `value`: etcd and ZooKeeper's data; in Consul,
   * one Meta value. False when the store refused it (a key it does not allow).
   */
  writeEntry(ns: string, service: string, id: string, value: string, alive: boolean): Promise<boolean>;
  /** Every key/path under the namespace (Consul: KV keys). */
  listNamespace(ns: string): Promise<string[]>;
  close(): Promise<void>;
}

function etcdRaw(endpoint: string): RawStore {
  const client = new Etcd3({ hosts: endpoint });
  let lease: ReturnType<Etcd3['lease']> | undefined;
  return {
    async writeEntry(ns, service, id, value, alive) {
      const put = client.put(`/${ns}/services/${service}/${id}`).value(value);
      if (alive) {
        lease ??= client.lease(60);
        put.lease(await lease.grant());
      }
      await put;
      return true;
    },
    async readInstance(ns, service, id) {
      const kv = (await client.get(`/${ns}/services/${service}/${id}`).exec()).kvs[0];
      return kv && { value: JSON.parse(kv.value.toString()), liveness: kv.lease };
    },
    async writeConfig(ns, key, value) {
      await client.put(`/${ns}/config/${key}`).value(value);
    },
    async deleteInstance(ns, service, id) {
      await client.delete().key(`/${ns}/services/${service}/${id}`);
    },
    listNamespace: (ns) => client.getAll().prefix(`/${ns}/`).keys(),
    async close() {
      await lease?.revoke().catch(() => undefined);
      client.close();
    },
  };
}

function zookeeperRaw(endpoint: string): RawStore {
  // The tests stop and restart stores: this client's session may expire meanwhile (then the client
  // object is dead: a new one is made), and a request may be lost with the connection (then it is sent
  // once more). No request waits longer than REQUEST_MS: a hung helper must not hang a test run.
  const REQUEST_MS = 10_000;
  let client: zookeeper.Client;
  let connected: Promise<void>;
  let closed = false;
  const open = () => {
    const fresh = zookeeper.createClient(endpoint, { sessionTimeout: 10_000 });
    client = fresh;
    connected = new Promise<void>((resolve) => fresh.once('connected', () => resolve()));
    fresh.on('state', (state) => {
      if (state === zookeeper.State.EXPIRED && !closed && client === fresh) {
        fresh.close();
        open();
      }
    });
    fresh.connect();
  };
  open();
  const once = <T>(run: (cb: (error: unknown, value: T) => void) => void) =>
    connected.then(
      () =>
        new Promise<T>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no answer within ${REQUEST_MS} ms`)), REQUEST_MS);
          run((error, value) => {
            clearTimeout(timer);
            if (error) reject(error);
            else resolve(value);
          });
        }),
    );
  const lost = (error: unknown) =>
    (error as { getCode?: () => number }).getCode?.() === zookeeper.Exception.CONNECTION_LOSS ||
    (error instanceof Error && error.message.startsWith('no answer within'));
  // A client that lost its connection may stay silent (seen on a loaded machine: three tests in a row
  // without an answer): the retry goes through a fresh client.
  const call = <T>(run: (cb: (error: unknown, value: T) => void) => void) =>
    once(run).catch((error) => {
      if (!lost(error)) return Promise.reject(error);
      client.close();
      open();
      return once(run);
    });
  const noNode = (error: unknown) =>
    (error as { getCode?: () => number }).getCode?.() === zookeeper.Exception.NO_NODE;
  const list = async (path: string): Promise<string[]> => {
    let children: string[];
    try {
      children = await call<string[]>((cb) => client.getChildren(path, cb));
    } catch (error) {
      if (noNode(error)) return [];
      throw error;
    }
    const nested = await Promise.all(children.map((c) => list(`${path}/${c}`)));
    return [...children.map((c) => `${path}/${c}`), ...nested.flat()];
  };
  return {
    async writeEntry(ns, service, id, value, alive) {
      const parent = `/${ns}/services/${service}`;
      await call((cb) => client.mkdirp(parent, cb));
      const mode = alive ? zookeeper.CreateMode.EPHEMERAL : zookeeper.CreateMode.PERSISTENT;
      try {
        await call((cb) => client.create(`${parent}/${id}`, Buffer.from(value), mode, cb));
        return true;
      } catch (error) {
        if ((error as { getCode?: () => number }).getCode?.() === zookeeper.Exception.NODE_EXISTS)
          return true;
        if (error instanceof Error && /path|Invalid/i.test(error.message)) return false;
        throw error;
      }
    },
    async readInstance(ns, service, id) {
      try {
        const { data, stat } = await call<{ data: Buffer; stat: zookeeper.Stat }>((cb) =>
          client.getData(`/${ns}/services/${service}/${id}`, (e, data, stat) => cb(e, { data, stat })),
        );
        return { value: JSON.parse(data.toString()), liveness: stat.ephemeralOwner.toString('hex') };
      } catch (error) {
        if (noNode(error)) return undefined;
        throw error;
      }
    },
    async writeConfig(ns, key, value) {
      const path = `/${ns}/config/${key}`;
      await call((cb) => client.mkdirp(path, cb));
      await call((cb) => client.setData(path, Buffer.from(value), cb));
    },
    async deleteInstance(ns, service, id) {
      // NO_NODE: gone already (a remove sent again after a lost connection may find its own work done).
      await call((cb) => client.remove(`/${ns}/services/${service}/${id}`, (e) => cb(e, undefined))).catch(
        (error) => {
          if (!noNode(error)) throw error;
        },
      );
    },
    listNamespace: (ns) => list(`/${ns}`),
    async close() {
      closed = true;
      client.close();
    },
  };
}

function consulRaw(endpoint: string): RawStore {
  const api = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${endpoint}/v1${path}`, init);
    if (res.status === 404) return undefined;
    const text = await res.text();
    if (!res.ok) throw new Error(`consul ${path}: HTTP ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  return {
    async writeEntry(_ns, service, id, value, alive) {
      const res = await fetch(`${endpoint}/v1/agent/service/register`, {
        method: 'PUT',
        body: JSON.stringify({
          Name: service,
          ID: id,
          Address: '10.0.0.9',
          Port: 80,
          Meta: { fleet_by_hand: value },
          ...(alive ? { Check: { TTL: '300s', Status: 'passing' } } : {}),
        }),
      });
      await res.text();
      return res.ok;
    },
    async readInstance(ns, service, id) {
      const entries = (await api(`/health/service/${service}`)) as
        | {
            Service: Record<string, unknown>;
            Checks: { ServiceID: string; Type?: string; CheckID: string }[];
          }[]
        | undefined;
      const entry = entries?.find((e) => e.Service.ID === id);
      if (!entry) return undefined;
      const checks = (await api('/agent/checks')) as Record<string, { Type: string }> | undefined;
      // The device's status entry (load, color, update time), as `curl .../v1/kv/<key>?raw` shows it.
      const res = await fetch(`${endpoint}/v1/kv/${ns}/status/${service}/${id}?raw`);
      const status = res.status === 200 ? JSON.parse(await res.text()) : undefined;
      return {
        value: { ...entry.Service, Status: status },
        liveness: checks?.[`service:${id}`]?.Type ?? 'none',
      };
    },
    async writeConfig(ns, key, value) {
      await api(`/kv/${ns}/config/${key}`, { method: 'PUT', body: value });
    },
    async deleteInstance(_ns, _service, id) {
      await api(`/agent/service/deregister/${id}`, { method: 'PUT' });
    },
    // Consul's services are not namespaced (namespaces are an Enterprise feature): only KV is.
    listNamespace: async (ns) => ((await api(`/kv/${ns}/?keys`)) as string[] | undefined) ?? [],
    async close() {},
  };
}

const RAW: Record<StoreKind, (endpoint: string) => RawStore> = {
  etcd: etcdRaw,
  zookeeper: zookeeperRaw,
  consul: consulRaw,
};

export const rawStore = (kind: StoreKind, endpoint: string): RawStore => RAW[kind](endpoint);
