// Registry.pick against the real etcd, ZooKeeper and Consul: instances registered with different loads,
// the least loaded passing one chosen (Consul's critical one skipped, though its CPU is the lowest),
// and the choice moving as the loads change, a device leaves or joins, all from the pushed view.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  createRegistry,
  type InstanceSpec,
  type Registration,
  type Registry,
  type RegistryOptions,
  STORE_KINDS,
} from '../../lib/registry/index.ts';
import { machineLoad } from '../../lib/registry/load-kinds.ts';
import { eventually } from '../support/eventually.ts';
import { loadOf } from '../support/loads.ts';
import { freePort } from '../support/ports.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

// At least three times what this machine measured: from the write to the moved pick 6-69 ms in three
// runs (each store, each kind of change); the rest is room for a machine busy with other suites.
const MOVE_BOUND_MS = 3000;

describe('Registry.pick against the real stores', { timeout: 180_000 }, () => {
  let stores: ThreeStores;
  const registries: Registry[] = [];
  const namespace = `pick${process.pid}`;

  const open = (kind: (typeof STORE_KINDS)[number], extra: Partial<RegistryOptions> = {}) => {
    const registry = createRegistry({
      store: kind,
      endpoints: stores[kind].endpoints,
      namespace,
      // Long windows: nothing expires during the test; Consul's TTL check is passed by the registration.
      liveness: { consulCheck: 'ttl', checkTtlSeconds: 30, leaseTtlSeconds: 30, sessionTimeoutMs: 20_000 },
      // Every load-only update at once (Consul paces them to one per 15 s by default).
      consulLoadIntervalSeconds: 0,
      backoff: { initialMs: 100, maxMs: 1000 },
      ...extra,
    });
    registries.push(registry);
    return registry;
  };
  const spec = (id: string, cpu: number, port = 8100): InstanceSpec => ({
    service: 'web',
    id,
    host: '127.0.0.1',
    port,
    labels: { zone: 'pick-test' },
    load: loadOf(cpu),
    color: null,
  });
  const registered = async (registration: Registration) =>
    eventually(`${registration.record.id} registered`, () => registration.state === 'registered', {
      timeoutMs: 10_000,
    });

  before(async () => {
    stores = await startThreeStores();
  });

  after(async () => {
    await Promise.all(registries.map((r) => r.close()));
    await stores?.stop();
  });

  for (const kind of STORE_KINDS) {
    test(`${kind}: the lowest passing cpuPercent is picked, and the pick follows loads, leaving and joining`, async (t) => {
      const writer = open(kind);
      const devices = new Map<string, Registration>();
      for (const [id, cpu] of [
        ['pick-a', 40],
        ['pick-b', 8],
        ['pick-c', 25],
      ] as const) {
        devices.set(id, writer.register(spec(id, cpu)));
      }
      await Promise.all([...devices.values()].map(registered));

      let criticalSkipped = '';
      if (kind === 'consul') {
        // A dead device with the lowest CPU of all: Consul keeps it as critical; it must not be picked.
        const checked = open(kind, { liveness: { consulCheck: 'http', checkIntervalSeconds: 1 } });
        await registered(checked.register(spec('pick-dead', 0, await freePort())));
        const watch = open(kind).watchInstances('web');
        await eventually('pick-dead critical', () => watch.get('pick-dead')?.health === 'critical', {
          timeoutMs: 10_000,
        });
        watch.close();
        criticalSkipped = '; 1 critical skipped';
      }

      const picker = open(kind);
      const first = await picker.pick('web');
      assert.ok(first, 'a pick');
      assert.equal(first.picked.record.id, 'pick-b');
      assert.equal(first.picked.record.host, '127.0.0.1');
      assert.equal(first.picked.record.port, 8100);
      assert.equal(first.picked.health, 'passing');
      assert.deepEqual(
        first.candidates.map((c) => [c.record.id, machineLoad(c.record.load)?.cpuPercent]),
        [
          ['pick-b', 8],
          ['pick-c', 25],
          ['pick-a', 40],
        ],
      );
      assert.equal(first.reason, `least loaded of 3 passing${criticalSkipped}`);

      /** Does `act` and waits for the pick to be `id`, timed from before `act`. */
      const movesTo = async (what: string, id: string, act: () => Promise<unknown>) => {
        const from = Date.now();
        await act();
        await eventually(
          `the pick moves to ${id} (${what})`,
          async () => (await picker.pick('web'))?.picked.record.id === id,
          { timeoutMs: MOVE_BOUND_MS, intervalMs: 5 },
        );
        t.diagnostic(
          `${kind}: ${what}: the pick moved to ${id} ${Date.now() - from} ms after the write began`,
        );
      };
      await movesTo('pick-b loaded to 90 %', 'pick-c', () =>
        devices.get('pick-b')!.update({ load: loadOf(90) }),
      );
      await movesTo('pick-c left', 'pick-a', () => devices.get('pick-c')!.deregister());
      let newcomer: Registration | undefined;
      await movesTo('pick-new joined at 2 %', 'pick-new', async () => {
        newcomer = writer.register(spec('pick-new', 2));
      });
      await registered(newcomer!);

      const last = (await picker.pick('web'))!;
      assert.deepEqual(
        last.candidates.map((c) => c.record.id),
        ['pick-new', 'pick-a', 'pick-b'],
      );
      const turns = [];
      for (let i = 0; i < 4; i++) turns.push((await picker.pick('web', { strategy: 'round-robin' }))!.picked);
      assert.deepEqual(
        turns.map((p) => p.record.id),
        ['pick-a', 'pick-b', 'pick-new', 'pick-a'],
      );
      for (let i = 0; i < 20; i++) {
        const random = (await picker.pick('web', { strategy: 'random' }))!;
        assert.equal(random.picked.health, 'passing');
      }
    });
  }

  test('a store that is down: StoreUnavailableError within one request time, naming the store', async () => {
    const registry = createRegistry({
      store: 'etcd',
      endpoints: [`http://127.0.0.1:${await freePort()}`],
      namespace,
      requestTimeoutMs: 1000,
    });
    registries.push(registry);
    const startedAt = Date.now();
    await assert.rejects(registry.pick('web'), /etcd is unavailable: no list of web within 1000 ms/);
    const tookMs = Date.now() - startedAt;
    assert.ok(tookMs < 3000, `answered after ${tookMs} ms`);
  });
});
