// The three real stores most tests and the bench stand on: one process each of etcd, ZooKeeper and
// Consul on free loopback ports, started together, named for a fleetkit command, stopped with their data.
import {
  type StartOptions,
  type StoreKind,
  type StoreProcess,
  startStore,
  storeKinds,
} from '../../provision/stores/index.ts';
import { storeEnv } from './agents.ts';

export interface ThreeStores extends Readonly<Record<StoreKind, StoreProcess>> {
  /** FLEET_ETCD, FLEET_ZOOKEEPER and FLEET_CONSUL naming the three, for a fleetkit command's environment. */
  env(): Record<string, string>;
  /** Stop the three (each SIGTERM, SIGKILL after 5 s) and remove their data dirs. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Start etcd, ZooKeeper and Consul in parallel and resolve once all three answer. Without fsync unless
 * options.durable (the runner's default: etcd --unsafe-no-fsync, ZooKeeper forceSync=no, Consul's
 * state on tmpfs), as the demo and the bench run them; a restart() keeps the data all the same. If one fails to start,
 * the others are stopped (data removed) before the first failure is thrown, so that a failed `before`
 * leaves no store behind for the rest of the run.
 */
export async function startThreeStores(options?: StartOptions): Promise<ThreeStores> {
  const settled = await Promise.allSettled(
    storeKinds.map((kind) => startStore(kind, { durable: false, ...options })),
  );
  const started = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s) => s.status === 'rejected');
  const stop = () =>
    Promise.all(started.map((store) => store.stop({ removeData: true }))).then(() => undefined);
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const byKind = Object.fromEntries(started.map((store) => [store.kind, store])) as Record<
    StoreKind,
    StoreProcess
  >;
  return { ...byKind, env: () => storeEnv(byKind), stop };
}
