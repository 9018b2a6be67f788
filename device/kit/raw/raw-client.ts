// The plain per-store operations of the kit (`node fleetkit.mjs etcd get KEY`, ...): what etcdctl,
// zkCli.sh and curl do in the labs, with the stores' own clients (bundled), for a laptop with only
// Node. Keys and paths are the stores' own, as typed: no namespace is added.

/** One change a watch saw. */
export interface RawEvent {
  /** put: a value written (created or changed); delete: the key/node went; children: a node's children changed. */
  type: 'put' | 'delete' | 'children';
  key: string;
  value?: string;
  children?: string[];
}

/** What each store's file implements; one per store: etcd.ts, zookeeper.ts, consul.ts. */
export interface RawClient {
  /** undefined: no such key / node. */
  get(key: string): Promise<string | undefined>;
  /** Creates or overwrites (ZooKeeper: a persistent node, its parents made as needed). */
  put(key: string, value: string): Promise<void>;
  /** etcd and Consul: every key starting with `prefix`; ZooKeeper: the children of the node `prefix`. */
  list(prefix: string): Promise<string[]>;
  /**
   * Tells every change of `key` (etcd: every key under it with `prefix`; ZooKeeper: its data and its
   * children) until `signal` aborts; rejects when the store cannot be reached. The store pushes the
   * changes (etcd watch, ZooKeeper watches re-armed, Consul blocking queries): nothing polls.
   */
  watch(
    key: string,
    options: { prefix: boolean },
    onEvent: (event: RawEvent) => void,
    signal: AbortSignal,
  ): Promise<void>;
  close(): Promise<void>;
}
