// Three-member clusters of each store, real processes: a registration and writes survive the loss of
// the store's leader, seen through a watcher on another member, and the killed member rejoins.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createRegistry, type LivenessSettings, type Registry } from '../../lib/registry/index.ts';
import {
  type StoreKind,
  type StoreProcess,
  startCluster,
  stopAllStores,
} from '../../provision/stores/index.ts';
import { leaderIndex } from '../support/cluster-leader.ts';
import { delay, eventually } from '../support/eventually.ts';

/** Short windows: a registration that was not kept alive through the failover would vanish while we watch. */
const liveness: Record<StoreKind, Partial<LivenessSettings>> = {
  etcd: { leaseTtlSeconds: 3 },
  zookeeper: { sessionTimeoutMs: 4000 },
  consul: { consulCheck: 'ttl', checkTtlSeconds: 2 },
};
/** How long the registration must stay visible and passing after the leader is killed. */
const holdMs = 5_000;

const endpointsOf = (members: StoreProcess[]) => members.flatMap((member) => member.endpoints);

describe('store clusters (3 members, real processes)', { timeout: 150_000 }, () => {
  after(stopAllStores);

  for (const kind of ['etcd', 'zookeeper', 'consul'] as const) {
    test(`${kind}: registration and writes survive the leader's death; the member rejoins`, async (t) => {
      const registries: Registry[] = [];
      const registry = (endpoints: string[]) => {
        const r = createRegistry({
          store: kind,
          endpoints,
          namespace: `clusters${process.pid}`,
          liveness: liveness[kind],
        });
        registries.push(r);
        return r;
      };
      const started = Date.now();
      const cluster = await startCluster(kind);
      t.after(async () => {
        await Promise.all(registries.map((r) => r.close()));
        await cluster.stop({ removeData: true });
      });
      const startMs = Date.now() - started;
      assert.equal(cluster.members.length, 3);
      assert.equal(new Set(cluster.endpoints).size, 3);

      const leader = await leaderIndex(cluster);
      const victim = cluster.members[leader] as StoreProcess;
      const survivors = cluster.members.filter((member) => member !== victim);
      // Consul: a service belongs to the agent it was registered with, and that agent's death makes it
      // critical (the node fails). So register through a surviving agent; etcd and ZooKeeper get all.
      const writer = registry(
        kind === 'consul' ? endpointsOf(survivors) : endpointsOf([victim, ...survivors]),
      );
      const registration = writer.register({ service: 'web', id: 'pi-1', host: '127.0.0.1', port: 8080 });
      await eventually('registered', () => registration.state === 'registered', { timeoutMs: 15_000 });
      await writer.setConfig('color', 'red');

      // A watcher on another member than the one about to die.
      const watch = registry(
        endpointsOf(survivors.slice(1).concat(survivors[0] as StoreProcess)),
      ).watchInstances('web');
      await eventually('watcher sees pi-1', () => watch.get('pi-1')?.health === 'passing', {
        timeoutMs: 15_000,
      });

      const killed = Date.now();
      await victim.kill('SIGKILL');
      assert.equal(victim.running, false);
      for (let elapsed = 0; elapsed < holdMs; elapsed = Date.now() - killed) {
        const seen = watch.get('pi-1');
        assert.ok(seen, `pi-1 vanished ${elapsed} ms after the leader was killed`);
        assert.equal(seen.health, 'passing', `pi-1 ${seen.health} ${elapsed} ms after the leader was killed`);
        await delay(100);
      }
      // The store still takes writes (a new leader was elected), and the registration is still held.
      const writeMs = await eventually(
        'a write after the leader died',
        async () => {
          await writer.setConfig('color', 'blue');
          return (await writer.getConfig('color')) === 'blue';
        },
        { timeoutMs: 15_000, intervalMs: 200 },
      );
      assert.equal(registration.state, 'registered');
      const newLeader = await eventually('a new leader', () => leaderIndex(cluster).then(() => true), {
        timeoutMs: 10_000,
        intervalMs: 200,
      }).then(() => leaderIndex(cluster));
      assert.notEqual(newLeader, leader);

      const restarted = Date.now();
      await victim.restart();
      const restartMs = Date.now() - restarted;
      assert.equal(victim.running, true);
      // Rejoined: the restarted member alone serves the cluster's data, including what was written
      // while it was dead.
      const reader = registry(victim.endpoints);
      await eventually(
        'restarted member serves the new color',
        async () => (await reader.getConfig('color')) === 'blue',
        {
          timeoutMs: 15_000,
          intervalMs: 200,
        },
      );
      const rejoinedWatch = reader.watchInstances('web');
      await eventually(
        'restarted member sees pi-1 passing',
        () => rejoinedWatch.get('pi-1')?.health === 'passing',
        {
          timeoutMs: 15_000,
        },
      );
      t.diagnostic(
        `${kind}: start ${startMs} ms, killed m${leader + 1} (leader), write again after ${writeMs} ms, ` +
          `restart ${restartMs} ms, total ${Date.now() - started} ms`,
      );

      await registration.deregister();
      const pids = cluster.members.map((member) => member.pid);
      await Promise.all(registries.map((r) => r.close()));
      const stopping = Date.now();
      await cluster.stop({ removeData: true });
      t.diagnostic(`${kind}: cluster.stop ${Date.now() - stopping} ms`);
      assert.ok(cluster.members.every((member) => !member.running));
      for (const pid of pids) assert.throws(() => process.kill(pid ?? 0, 0), `pid ${pid} still alive`);
    });
  }
});
