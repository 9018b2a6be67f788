// The acceptance for cluster mode, with real agents: three `fleetkit agent` processes register
// in a 3-member cluster of each store; one member of each store is killed (etcd's and ZooKeeper's
// leader; Consul's leader too, which holds no registration) and no device ever leaves any store's
// watch, not even for one change event. The killed members restart and rejoin.
//
// Consul is different: a service belongs to the Consul agent (member) it was registered with, and
// that agent runs its check. Killing a member that holds no registration must remove nothing (first
// test). Killing the member that holds a device (second test) makes the device critical once the
// cluster sees that member fail; the registry then registers it with another member of its list,
// where it passes again, and removes the stale copy when the old member comes back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  createRegistry,
  type DiscoveredInstance,
  type InstanceWatch,
  type Registry,
  STORE_KINDS,
  type StoreKind,
} from '../../lib/registry/index.ts';
import {
  type StoreCluster,
  type StoreProcess,
  startCluster,
  stopAllStores,
} from '../../provision/stores/index.ts';
import { type RunningAgent, startAgent } from '../support/agents.ts';
import { consulNodePrefix, leaderIndex } from '../support/cluster-leader.ts';
import { delay, eventually } from '../support/eventually.ts';

const NS = `acceptance${process.pid}`;
const DEVICES = ['pi-1', 'pi-2', 'pi-3'];
/** Many times each store's window (2 s for the agents' test settings) and its leader election. */
const HOLD_MS = 20_000;

interface Seen {
  at: number;
  store: StoreKind;
  type: string;
  id: string;
  health: string;
  node?: string;
}

const nodeOf = (instance: DiscoveredInstance | undefined) =>
  instance?.liveness.model === 'check' ? instance.liveness.node : undefined;

/** A watch through the given members only, recording every change with the time it arrived. */
function recordingWatch(
  kind: StoreKind,
  endpoints: string[],
  log: Seen[],
  registries: Registry[],
): InstanceWatch {
  const registry = createRegistry({ store: kind, endpoints, namespace: NS });
  registries.push(registry);
  const watch = registry.watchInstances('web');
  watch.on('change', (change) =>
    log.push({
      at: Date.now(),
      store: kind,
      type: change.type,
      id: change.instance.record.id,
      health: change.instance.health,
      node: nodeOf(change.instance),
    }),
  );
  watch.on('state', (state) =>
    log.push({ at: Date.now(), store: kind, type: `watch ${state}`, id: '', health: '' }),
  );
  return watch;
}

const endpointsOf = (members: StoreProcess[]) => members.flatMap((member) => member.endpoints);

describe('cluster mode with real agents (3 members per store)', { timeout: 600_000 }, () => {
  const clusters = {} as Record<StoreKind, StoreCluster>;
  const agents: RunningAgent[] = [];
  const registries: Registry[] = [];

  before(async () => {
    for (const kind of STORE_KINDS) clusters[kind] = await startCluster(kind);
  });
  after(async () => {
    for (const agent of agents) if (agent.child.exitCode === null) agent.child.kill('SIGKILL');
    await Promise.all(registries.map((r) => r.close()));
    await stopAllStores();
  });

  test('killing one member of each store (the leader) removes no device from any store', async (t) => {
    // The members to kill: each store's leader. Consul's leader holds no registration: the agents
    // list it last, so they register with a follower.
    const victims = {} as Record<StoreKind, number>;
    for (const kind of STORE_KINDS) victims[kind] = await leaderIndex(clusters[kind]);
    const survivorsOf = (kind: StoreKind) => clusters[kind].members.filter((_, i) => i !== victims[kind]);
    const victimOf = (kind: StoreKind) => clusters[kind].members[victims[kind]] as StoreProcess;

    for (const [i, id] of DEVICES.entries()) {
      const consulSurvivors = survivorsOf('consul');
      const consulOrder = [
        ...consulSurvivors.slice(i % 2),
        ...consulSurvivors.slice(0, i % 2),
        victimOf('consul'),
      ];
      agents.push(
        await startAgent({
          FLEET_DEVICE_ID: id,
          FLEET_NAMESPACE: NS,
          // etcd and ZooKeeper: the leader first, so that the agents talk to the member that dies.
          FLEET_ETCD: endpointsOf([victimOf('etcd'), ...survivorsOf('etcd')]).join(','),
          FLEET_ZOOKEEPER: endpointsOf([victimOf('zookeeper'), ...survivorsOf('zookeeper')]).join(','),
          FLEET_CONSUL: endpointsOf(consulOrder).join(','),
        }),
      );
    }
    const log: Seen[] = [];
    const watches = {} as Record<StoreKind, InstanceWatch>;
    for (const kind of STORE_KINDS)
      watches[kind] = recordingWatch(kind, endpointsOf(survivorsOf(kind)), log, registries);
    const allPassing = (kind: StoreKind) =>
      DEVICES.every((id) => watches[kind].get(id)?.health === 'passing');
    await eventually('every device passing in every store', () => STORE_KINDS.every(allPassing), {
      timeoutMs: 60_000,
    });
    const victimNode = consulNodePrefix(victims.consul);
    for (const id of DEVICES) {
      assert.ok(
        !nodeOf(watches.consul.get(id))?.startsWith(victimNode),
        `${id} is not held by the Consul member to kill`,
      );
    }

    const killedAt = Date.now();
    await Promise.all(STORE_KINDS.map((kind) => victimOf(kind).kill('SIGKILL')));
    for (const kind of STORE_KINDS) {
      assert.equal(victimOf(kind).running, false);
      assert.equal(victimOf(kind).pid, undefined);
    }
    // Each store takes writes again once it has a leader: how long that took.
    const writable = {} as Record<StoreKind, number>;
    const writers = STORE_KINDS.map(async (kind) => {
      const writer = createRegistry({
        store: kind,
        endpoints: endpointsOf(survivorsOf(kind)),
        namespace: NS,
      });
      registries.push(writer);
      await eventually(
        `${kind} takes writes`,
        () => writer.setConfig('probe', String(Date.now())).then(() => true),
        {
          timeoutMs: HOLD_MS,
          intervalMs: 100,
        },
      );
      writable[kind] = Date.now() - killedAt;
    });
    // Sampled as well as recorded: every device present and passing in every store's view.
    while (Date.now() - killedAt < HOLD_MS) {
      for (const kind of STORE_KINDS) {
        for (const id of DEVICES) {
          const seen = watches[kind].get(id);
          assert.ok(seen, `${kind}: ${id} vanished ${Date.now() - killedAt} ms after the kill`);
          assert.equal(
            seen.health,
            'passing',
            `${kind}: ${id} ${seen.health} ${Date.now() - killedAt} ms after the kill`,
          );
        }
      }
      await delay(100);
    }
    await Promise.all(writers);
    const during = log.filter((e) => e.at >= killedAt);
    const lost = during.filter((e) => e.type === 'removed' || (e.id !== '' && e.health !== 'passing'));
    assert.deepEqual(lost, [], 'no device removed or unhealthy in any store while a member was dead');
    for (const kind of STORE_KINDS) {
      const mine = during.filter((e) => e.store === kind);
      const counts = [...new Set(mine.map((e) => e.type))].map(
        (type) => `${type} ${mine.filter((e) => e.type === type).length}`,
      );
      t.diagnostic(
        `${kind}: killed m${victims[kind] + 1} (leader); writes again after ${writable[kind]} ms; ` +
          `events in ${HOLD_MS / 1000} s: ${counts.join(', ') || 'none'}` +
          mine
            .filter((e) => e.type === 'added')
            .map((e) => ` (added: ${e.id}, ${e.at - killedAt} ms after the kill)`)
            .join(''),
      );
    }
    // The agents say so too: registered in every store.
    await eventually(
      'every agent registered in every store',
      async () => {
        const statuses = await Promise.all(agents.map((agent) => agent.status()));
        return statuses.every((s) => s.stores.every((store) => store.registration === 'registered'));
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );

    // The killed members restart, rejoin, and alone serve every device.
    for (const kind of STORE_KINDS) {
      const started = Date.now();
      await victimOf(kind).restart();
      const rejoinMs = Date.now() - started;
      const alone = recordingWatch(kind, victimOf(kind).endpoints, [], registries);
      const seenMs = await eventually(
        `${kind}: the restarted member serves every device`,
        () => DEVICES.every((id) => alone.get(id)?.health === 'passing'),
        { timeoutMs: 30_000 },
      );
      t.diagnostic(
        `${kind}: m${victims[kind] + 1} restarted in ${rejoinMs} ms, serves all devices ${seenMs} ms later`,
      );
    }
    const after = log.filter(
      (e) => e.at >= killedAt && (e.type === 'removed' || (e.id !== '' && e.health !== 'passing')),
    );
    assert.deepEqual(after, [], 'nothing lost while the member rejoined either');
  });

  test('Consul: killing the member that holds a device moves the device to another member', async (t) => {
    const cluster = clusters.consul;
    const leader = await leaderIndex(cluster);
    // A follower holds the device, so that raft keeps its leader and only the holding agent goes.
    const holderIndex = [0, 1, 2].find((i) => i !== leader) as number;
    const holder = cluster.members[holderIndex] as StoreProcess;
    const others = cluster.members.filter((m) => m !== holder);
    const agent = await startAgent({
      FLEET_DEVICE_ID: 'pi-held',
      FLEET_NAMESPACE: NS,
      FLEET_CONSUL: endpointsOf([holder, ...others]).join(','),
    });
    agents.push(agent);
    const log: Seen[] = [];
    const watch = recordingWatch('consul', endpointsOf(others), log, registries);
    const holderNode = consulNodePrefix(holderIndex);
    await eventually(
      'pi-held passing on the holder',
      () => {
        const seen = watch.get('pi-held');
        return seen?.health === 'passing' && nodeOf(seen)?.startsWith(holderNode);
      },
      { timeoutMs: 30_000 },
    );

    const killedAt = Date.now();
    await holder.kill('SIGKILL');
    const movedMs = await (async () => {
      try {
        return await eventually(
          'pi-held passing on another member',
          () => {
            const seen = watch.get('pi-held');
            return seen?.health === 'passing' && !nodeOf(seen)?.startsWith(holderNode);
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
      } catch (error) {
        t.diagnostic(`agent stdout: ${agent.stdout().slice(-3000)}\nstderr: ${agent.stderr().slice(-2000)}`);
        t.diagnostic(`events: ${JSON.stringify(log.slice(-30))}`);
        t.diagnostic(`status: ${JSON.stringify(await agent.status().catch((e) => String(e)))}`);
        throw error;
      }
    })();
    const mine = log.filter((e) => e.id === 'pi-held' && e.at >= killedAt);
    assert.deepEqual(
      mine.filter((e) => e.type === 'removed'),
      [],
      'never missing from the watch',
    );
    const critical = mine.find((e) => e.health !== 'passing');
    const back = mine.find((e) => e.health === 'passing' && !e.node?.startsWith(holderNode));
    assert.ok(back, 'a change event shows it passing on another member');
    t.diagnostic(
      `consul: killed m${holderIndex + 1} (holds pi-held); ` +
        (critical ? `critical after ${critical.at - killedAt} ms, ` : 'never seen critical, ') +
        `passing on ${back.node} after ${movedMs} ms` +
        (critical ? ` (critical for ${back.at - critical.at} ms)` : ''),
    );
    // The agent's HTTP check window (1 s interval + 1 s timeout), the registry's wait for the old member,
    // Serf noticing the dead member and a backoff step: well within 30 s even on a busy machine.
    assert.ok(movedMs < 30_000, `moved within 30 s (${movedMs} ms)`);
    const status = await agent.status();
    assert.equal(status.stores[0]?.registration, 'registered');

    // The holder comes back with its own copy of the service (from its data dir): the registry removes
    // that stale copy, so the device is one entry, held by the member it moved to.
    const restartedAt = Date.now();
    await holder.restart();
    const restartMs = Date.now() - restartedAt;
    const singleMs = await eventually(
      'one entry for pi-held in the catalog',
      async () => {
        const response = await fetch(`${others[0]?.endpoints[0]}/v1/health/service/web`, {
          signal: AbortSignal.timeout(2_000),
        });
        const entries = (await response.json()) as { Service: { ID: string }; Node: { Node: string } }[];
        const held = entries.filter((e) => e.Service.ID === 'pi-held');
        return held.length === 1 && !held[0]?.Node.Node.startsWith(holderNode);
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    t.diagnostic(
      `consul: m${holderIndex + 1} restarted in ${restartMs} ms; one entry for pi-held ${singleMs} ms later`,
    );
    // From the move on: never again critical or missing, never shown from the old member's stale copy.
    const lateLog = log.filter((e) => e.id === 'pi-held' && e.at >= back.at);
    assert.deepEqual(
      lateLog.filter((e) => e.type === 'removed' || e.health !== 'passing' || e.node?.startsWith(holderNode)),
      [],
      'no blip, and the stale copy never shows',
    );
    assert.equal(watch.get('pi-held')?.health, 'passing');
  });
});
