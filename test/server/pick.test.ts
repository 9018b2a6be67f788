// The live page's "next pick": each store's column header (StoreView.pick) names the device a
// least-loaded client would be handed now, read here through the page's socket from the real
// `fleetkit server`, with devices registered in the three real stores with loads of our choosing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import {
  createRegistry,
  type Registration,
  type Registry,
  type RegistryOptions,
  STORE_KINDS,
  type StoreKind,
} from '../../lib/registry/index.ts';
import type { ClientToServerEvents, ServerToClientEvents, StoreView } from '../../server/contract.ts';
import { eventually } from '../support/eventually.ts';
import { loadOf } from '../support/loads.ts';
import { freePort } from '../support/ports.ts';
import { type RunningServer, startServer } from '../support/servers.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

// At least three times what this machine measured: from the writes to the moved pick in every column
// 32-73 ms in three runs; the rest is room for a machine busy with other suites.
const MOVE_BOUND_MS = 5000;

describe('the page socket: StoreView.pick, the device each store would hand out next', {
  timeout: 180_000,
}, () => {
  let stores: ThreeStores;
  let server: RunningServer;
  let socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  const registries: Registry[] = [];
  const namespace = `pickpage${process.pid}`;
  /** Each store's column header as the page would hold it: the snapshot, then every batch. */
  const columns = new Map<StoreKind, StoreView>();
  const pickOf = (kind: StoreKind) => columns.get(kind)?.pick;

  const open = (kind: StoreKind, extra: Partial<RegistryOptions> = {}) => {
    const registry = createRegistry({
      store: kind,
      endpoints: stores[kind].endpoints,
      namespace,
      liveness: { consulCheck: 'ttl', checkTtlSeconds: 30, leaseTtlSeconds: 30, sessionTimeoutMs: 20_000 },
      consulLoadIntervalSeconds: 0,
      ...extra,
    });
    registries.push(registry);
    return registry;
  };
  const register = (registry: Registry, id: string, cpu: number, port = 8100) =>
    registry.register({
      service: 'web',
      id,
      host: '127.0.0.1',
      port,
      labels: {},
      load: loadOf(cpu),
      color: null,
    });
  const registered = (r: Registration) =>
    eventually(`${r.record.id} registered`, () => r.state === 'registered', { timeoutMs: 10_000 });

  before(async () => {
    stores = await startThreeStores();
    server = await startServer({ ...stores.env(), FLEET_NAMESPACE: namespace });
    socket = io(server.url, { transports: ['websocket'] });
    socket.on('snapshot', (snapshot) => {
      for (const view of snapshot.stores) columns.set(view.store, view);
    });
    socket.on('changes', (changes) => {
      for (const view of changes.stores) columns.set(view.store, view);
    });
    await eventually('the snapshot', () => columns.size === 3, { timeoutMs: 10_000 });
  });

  after(async () => {
    socket?.close();
    await Promise.all(registries.map((r) => r.close()));
    await server?.stop();
    await stores?.stop();
  });

  test('no device: pick is null in every column', () => {
    for (const kind of STORE_KINDS) assert.equal(pickOf(kind), null, kind);
  });

  test("the least loaded passing device in each column; it moves with the loads, a leaving and a joining device; Consul's critical one is never it", async (t) => {
    const devices = new Map<string, Registration>();
    await Promise.all(
      STORE_KINDS.map(async (kind) => {
        const writer = open(kind);
        for (const [id, cpu] of [
          ['pp-a', 35],
          ['pp-b', 6],
          ['pp-c', 18],
        ] as const) {
          const registration = register(writer, id, cpu);
          devices.set(`${kind}/${id}`, registration);
          await registered(registration);
        }
      }),
    );
    // A dead device with the lowest CPU of all: Consul keeps it, critical.
    const dead = register(
      open('consul', { liveness: { consulCheck: 'http', checkIntervalSeconds: 1 } }),
      'pp-dead',
      0,
      await freePort(),
    );
    await registered(dead);

    // Consul starts it passing (a registering device is alive) and turns it critical at its first check.
    const consul = open('consul').watchInstances('web');
    await eventually('pp-dead critical', () => consul.get('pp-dead')?.health === 'critical', {
      timeoutMs: 10_000,
    });
    consul.close();
    const startedAt = Date.now();
    await eventually(
      'pp-b picked in every column',
      () => STORE_KINDS.every((kind) => pickOf(kind) === 'pp-b'),
      { timeoutMs: 10_000 },
    );
    t.diagnostic(`pp-b the pick everywhere ${Date.now() - startedAt} ms after pp-dead turned critical`);
    // From now on the server knows pp-dead as critical (a passing one at 0 % would be the pick):
    // Consul's pick must never be it again.
    const consulPicks: (string | null | undefined)[] = [];
    const onChanges = () => consulPicks.push(pickOf('consul'));
    socket.on('changes', onChanges);

    /** Does `act` and waits for the pick to be `id` in every column, timed from before `act`. */
    const movesEverywhere = async (what: string, id: string, act: () => Promise<unknown>) => {
      const from = Date.now();
      await act();
      await eventually(
        `${id} picked in every column (${what})`,
        () => STORE_KINDS.every((kind) => pickOf(kind) === id),
        { timeoutMs: MOVE_BOUND_MS, intervalMs: 5 },
      );
      t.diagnostic(`${what}: ${id} the pick in every column ${Date.now() - from} ms after the write began`);
    };
    await movesEverywhere('pp-b loaded to 80 %', 'pp-c', () =>
      Promise.all(STORE_KINDS.map((kind) => devices.get(`${kind}/pp-b`)!.update({ load: loadOf(80) }))),
    );
    await movesEverywhere('pp-c left', 'pp-a', () =>
      Promise.all(STORE_KINDS.map((kind) => devices.get(`${kind}/pp-c`)!.deregister())),
    );
    await movesEverywhere('pp-new joined at 1 %', 'pp-new', async () => {
      for (const kind of STORE_KINDS) register(open(kind), 'pp-new', 1);
    });
    socket.off('changes', onChanges);
    assert.ok(
      !consulPicks.includes('pp-dead'),
      `Consul's pick was never the critical device: ${consulPicks}`,
    );
  });
});
