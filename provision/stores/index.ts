// Run etcd, ZooKeeper and Consul as real child processes on free loopback ports, for tests,
// the demo and the control host. Install them first with `npm run stores:install`.
import { launchCluster } from './cluster.ts';
import { drivers } from './drivers.ts';
import { launchStore } from './process.ts';
import {
  type ClusterOptions,
  type StartOptions,
  type StoreCluster,
  type StoreKind,
  type StoreProcess,
  storeKinds,
} from './types.ts';

export { isStoreStartError, StoreStartError } from './errors.ts';
export { memoryRoot, stopAllStores } from './process.ts';
export type {
  ClusterOptions,
  StartOptions,
  StopOptions,
  StoreCluster,
  StoreDurability,
  StoreKind,
  StoreProcess,
} from './types.ts';
export { storeKinds } from './types.ts';

/** Start a store and resolve once it answers; rejects with StoreStartError. */
export function startStore(kind: StoreKind, opts?: StartOptions): Promise<StoreProcess> {
  return launchStore(drivers[kind], opts);
}

/**
 * Start a cluster of `members` (default 3) real processes of one store on free loopback ports, each with
 * its own data dir, and resolve once every member answers as part of the cluster (etcd: /health true on
 * each; ZooKeeper: each answers `srvr` as leader or follower; Consul: each knows the leader and all N
 * raft peers, and all N are voters, healthy in autopilot's eyes). A member's restart() rejoins the same cluster with its data dir. Rejects with
 * StoreStartError, stopping the members that did start.
 */
export function startCluster(kind: StoreKind, opts?: ClusterOptions): Promise<StoreCluster> {
  return launchCluster(drivers[kind], opts);
}

/**
 * Where each store's program is, or undefined when not installed.
 * etcd and consul: the binary; zookeeper: the server jar (run with java, which must be installed too).
 */
export async function storeBinaries(): Promise<Record<StoreKind, string | undefined>> {
  const [etcd, zookeeper, consul] = await Promise.all(
    storeKinds.map((kind) => drivers[kind].resolveBinary()),
  );
  return { etcd, zookeeper, consul };
}

/** One-line version of an installed store (runs the program), or undefined when not installed. */
export function storeVersion(kind: StoreKind): Promise<string | undefined> {
  return drivers[kind].version();
}
