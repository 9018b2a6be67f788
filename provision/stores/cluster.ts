// Clusters: N members of one store, each a normal StoreProcess run by the generic runner, with the
// driver told its member index and where its peers are (StoreContext.cluster).
import { randomBytes } from 'node:crypto';
import { StoreStartError } from './errors.ts';
import { allocatePorts } from './ports.ts';
import { connectHostFor, launchStore } from './process.ts';
import type {
  ClusterMembership,
  ClusterOptions,
  ClusterPeer,
  StopOptions,
  StoreCluster,
  StoreDriver,
  StoreKind,
  StoreProcess,
} from './types.ts';

const defaultMembers = 3;
/** Members wait for each other (quorum), and a 2-core machine starts three JVMs slowly. */
const defaultClusterStartTimeoutMs = 60_000;

export async function launchCluster(
  driver: StoreDriver,
  options: ClusterOptions = {},
): Promise<StoreCluster> {
  const count = options.members ?? defaultMembers;
  if (!Number.isInteger(count) || count < 1 || count > 9) {
    throw new StoreStartError(driver.kind, `a ${driver.kind} cluster has 1 to 9 members, not ${count}.`);
  }
  const host = options.host ?? '127.0.0.1';
  const connectHost = connectHostFor(host);
  const portNames = [...driver.portNames, ...(driver.clusterPortNames ?? [])];
  // One call for every member's ports, so no two members are handed the same port.
  const flat = await allocatePorts(
    host,
    Array.from({ length: count }, (_, i) => portNames.map((name) => `${i + 1}.${name}`)).flat(),
  );
  const peers: ClusterPeer[] = Array.from({ length: count }, (_, i) => ({
    index: i + 1,
    connectHost,
    ports: Object.freeze({
      ...driver.defaultPorts,
      ...Object.fromEntries(portNames.map((name) => [name, flat[`${i + 1}.${name}`] as number])),
    }),
  }));
  const token = `fleetkit-${randomBytes(6).toString('hex')}`;
  const log = options.log;
  const results = await Promise.allSettled(
    peers.map((peer) => {
      const membership: ClusterMembership = Object.freeze({ index: peer.index, token, members: peers });
      return launchStore(
        driver,
        {
          host,
          ports: { ...peer.ports },
          startTimeoutMs: options.startTimeoutMs ?? defaultClusterStartTimeoutMs,
          ...(options.secure ? { secure: options.secure } : {}),
          ...(options.durable ? { durable: true } : {}),
          ...(log ? { log: (line: string) => log(`m${peer.index} ${line}`) } : {}),
        },
        membership,
      );
    }),
  );
  const members = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) {
    await Promise.all(members.map((member) => member.stop({ removeData: true })));
    throw failed.reason;
  }
  return new ManagedCluster(driver.kind, members);
}

class ManagedCluster implements StoreCluster {
  readonly endpoints: string[];

  constructor(
    readonly kind: StoreKind,
    readonly members: StoreProcess[],
  ) {
    this.endpoints = members.flatMap((member) => member.endpoints);
  }

  /**
   * One member after another: etcd members stopped together with SIGTERM wait for each other (a leader
   * hands over leadership before it exits) until the 5 s grace runs out and they are killed.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    for (const member of this.members) await member.stop(options);
  }
}
