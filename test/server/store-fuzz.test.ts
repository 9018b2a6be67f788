// Store contents fuzzed: seeded random garbage written by hand into every real store under the
// fleet's namespace (random keys and values: unicode, binary, JSON of every shape, records with one
// field wrong, values near each store's size limit; with and without a lease / session / check; in
// services/ and config/, the color key included) while the real `fleetkit server` and two real agents
// run. Afterwards the control host and the devices must still be up and correct: every column live,
// exactly the two devices, the garbage counted apart (not alive / malformed), the timeline short, and
// a color set on the page reaches both devices. Replay a failure with FUZZ_SEED=<seed>.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { newRecord, STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import type { FleetSnapshot } from '../../server/contract.ts';
import { type RunningAgent, startAgent } from '../support/agents.ts';
import { eventually } from '../support/eventually.ts';
import { Fuzz, fuzzSeed } from '../support/fuzz.ts';
import { type RawStore, rawStore } from '../support/raw-store.ts';
import { type RunningServer, startServer } from '../support/servers.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

const WRITES = Number(process.env.FUZZ_COUNT ?? 150); // per store
const TIME_LIMIT_MS = 40_000;
/** Near each store's own limit for one value (etcd 1.5 MiB a request, ZooKeeper 1 MB, Consul KV 512 KB). */
const BIG: Record<StoreKind, number> = { etcd: 1_400_000, zookeeper: 900_000, consul: 500_000 };
/** Consul's Meta values are at most 512 characters, its IDs travel in URLs: it gets plainer garbage. */
const PLAIN = 'abcdefghijklmnopqrstuvwxyz0123456789-_.';

/** A record that can never be valid: one field broken on purpose (the id never matches its key, etc.). */
function brokenRecord(fuzz: Fuzz, id: string): unknown {
  const record: Record<string, unknown> = {
    ...newRecord({ service: 'web', id: 'x', host: '10.0.0.1', port: 80 }, 'fuzz'),
  };
  const field = fuzz.pick([
    'id',
    'port',
    'host',
    'labels',
    'load',
    'color',
    'incarnation',
    'liveness',
    'extra',
  ]);
  record[field] =
    field === 'id'
      ? `${id}-not-its-key`
      : field === 'extra'
        ? fuzz.value()
        : fuzz.pick([fuzz.value(), -1, '<b>x</b>']);
  if (field !== 'id') record.id = `${id}-not-its-key`;
  return record;
}

function garbageValue(fuzz: Fuzz, kind: StoreKind, id: string): string {
  switch (fuzz.int(6)) {
    case 0:
      return JSON.stringify(brokenRecord(fuzz, id));
    case 1:
      return fuzz.chance(0.35) ? 'x'.repeat(BIG[kind]) : fuzz.string();
    case 2:
      return JSON.stringify(fuzz.value());
    case 3:
      return Buffer.from(Array.from({ length: fuzz.int(300) }, () => fuzz.int(256))).toString('latin1');
    default:
      return JSON.stringify(fuzz.object());
  }
}

function garbageId(fuzz: Fuzz, kind: StoreKind): string {
  if (kind === 'consul' || fuzz.chance(0.5)) {
    return `g-${Array.from({ length: 1 + fuzz.int(40) }, () => fuzz.pick([...PLAIN])).join('')}`;
  }
  // etcd takes any bytes; ZooKeeper refuses some paths (counted only when it accepts)
  return `g-${fuzz.wellFormed(fuzz.chance(0.05) ? 20_000 : 1 + fuzz.int(60)).replace(/\//g, '_')}`;
}

/** What every page gets stays small: the snapshot, each timeline text, the skipped entries named. */
function checkSmall(t: { diagnostic(message: string): void }, snapshot: FleetSnapshot): void {
  const size = JSON.stringify(snapshot).length;
  t.diagnostic(`snapshot ${size} bytes, timeline ${snapshot.timeline.length} entries`);
  assert.ok(size < 512 * 1024, `the snapshot stays small: ${size} bytes`);
  for (const entry of snapshot.timeline)
    assert.ok(entry.text.length <= 300, `short: ${entry.text.slice(0, 80)}`);
  for (const kind of STORE_KINDS) {
    const named = snapshot.timeline.filter((e) => e.store === kind && e.kind === 'invalid').length;
    assert.ok(named <= 12, `${kind}: ${named} skipped entries named, within the budget`);
  }
}

describe('the stores fuzzed by hand under the fleet namespace', { timeout: 240_000 }, () => {
  let stores: ThreeStores;
  const raws = {} as Record<StoreKind, RawStore>;
  const agents: RunningAgent[] = [];
  const sockets: Socket[] = [];
  let server: RunningServer;
  let fresh: RunningServer | undefined;
  const namespace = `sfuzz${process.pid}`;
  const env = () => ({ ...stores.env(), FLEET_NAMESPACE: namespace });

  /** To the server that watched the garbage arrive, or to one started after it (a full read of it all). */
  function connect(token?: string, to = server): Promise<{ socket: Socket; snapshot: FleetSnapshot }> {
    const socket = io(to.url, { auth: token ? { token } : {}, transports: ['websocket'] });
    sockets.push(socket);
    return new Promise((resolve) => socket.once('snapshot', (snapshot) => resolve({ socket, snapshot })));
  }

  before(async () => {
    stores = await startThreeStores();
    for (const kind of STORE_KINDS) raws[kind] = rawStore(kind, stores[kind].endpoints[0]!);
    server = await startServer(env());
    for (const id of ['fz-a', 'fz-b']) agents.push(await startAgent({ ...env(), FLEET_DEVICE_ID: id }));
  });

  after(async () => {
    for (const s of sockets) s.close();
    for (const a of agents) a.child.kill('SIGKILL');
    await server?.stop();
    await fresh?.stop();
    await Promise.all(Object.values(raws).map((r) => r.close()));
    await stores?.stop();
  });

  test('random garbage in every store: the page stays live and right, the color still reaches every device', async (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`FUZZ_SEED=${seed} (${WRITES} writes per store)`);
    const fuzz = new Fuzz(seed);
    const expected = {} as Record<StoreKind, Map<string, boolean>>;
    const startedAt = Date.now();
    let written = 0;
    await Promise.all(
      STORE_KINDS.map(async (kind) => {
        const mine = new Fuzz(fuzz.seed());
        const entries = new Map<string, boolean>(); // id -> alive
        expected[kind] = entries;
        for (let i = 0; i < WRITES && Date.now() - startedAt < TIME_LIMIT_MS; i++) {
          const raw = raws[kind];
          const action = mine.int(10);
          try {
            if (action < 6) {
              const id = garbageId(mine, kind);
              if (entries.has(id)) continue;
              const alive = mine.chance(0.5);
              if (await raw.writeEntry(namespace, 'web', id, garbageValue(mine, kind, id), alive)) {
                entries.set(id, alive);
                written++;
              }
            } else if (action < 8) {
              const key = mine.chance(0.3) ? 'color' : garbageId(mine, 'consul');
              await raw.writeConfig(namespace, key, garbageValue(mine, kind, key));
              written++;
            } else if (entries.size > 0) {
              const id = mine.pick([...entries.keys()]);
              await raw.deleteInstance(namespace, 'web', id);
              entries.delete(id);
            }
          } catch (error) {
            // ZooKeeper refuses some paths and bytes; nothing was written then
            if (!/path|invalid|BAD_ARGUMENTS|Bad Request|400/i.test(String(error))) throw error;
          }
        }
      }),
    );
    t.diagnostic(`${written} writes in ${Date.now() - startedAt} ms`);
    assert.equal(server.child.exitCode, null, `the server is up (output: ${server.output().slice(-500)})`);

    fresh = await startServer(env());
    const counts = (kind: StoreKind) => {
      const entries = [...expected[kind].values()];
      const notAlive = entries.filter((alive) => !alive).length;
      return { notAlive, malformed: entries.length - notAlive };
    };
    for (const [name, target] of [
      ['the server that watched it arrive', server],
      ['a server started after it', fresh],
    ] as const) {
      let last: FleetSnapshot | undefined;
      await eventually(
        `${name}: every column live, with exactly the two devices and the garbage counted apart`,
        async () => {
          last = (await connect(undefined, target)).snapshot;
          return STORE_KINDS.every((kind) => {
            const view = last!.stores.find((s) => s.store === kind)!;
            const ids = last!.devices
              .filter((d) => d.store === kind)
              .map((d) => d.id)
              .sort();
            return (
              view.watch === 'live' &&
              view.connection === 'connected' &&
              JSON.stringify(ids) === '["fz-a","fz-b"]' &&
              JSON.stringify(view.skipped) === JSON.stringify(counts(kind))
            );
          });
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      ).catch((error) => {
        const seen = last?.stores.map(
          (s) => `${s.store}: ${s.watch}/${s.connection} ${s.error ?? ''} ${JSON.stringify(s.skipped)}`,
        );
        const want = STORE_KINDS.map((k) => `${k}: ${JSON.stringify(counts(k))}`);
        throw new Error(
          `${(error as Error).message}\n seen ${seen?.join('; ')}\n expected ${want.join('; ')}`,
        );
      });
      checkSmall(t, last!);
    }
    for (const kind of STORE_KINDS) t.diagnostic(`${kind}: skipped ${JSON.stringify(counts(kind))}`);

    const presenter = await connect(server.token);
    const answer = await presenter.socket.timeout(5000).emitWithAck('setColor', { color: 'coral' });
    assert.deepEqual(answer, { ok: true, data: { stores: [...STORE_KINDS] } });
    const took = await eventually(
      'both devices in coral, as every column shows',
      async () => {
        const statuses = await Promise.all(agents.map((a) => a.status()));
        const page = (await connect()).snapshot;
        return (
          statuses.every(
            (s) => s.color === 'coral' && s.stores.every((st) => st.registration === 'registered'),
          ) &&
          page.devices.length === 6 &&
          page.devices.every((d) => d.color === 'coral')
        );
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    t.diagnostic(`color on both devices and the page ${took} ms after it was set`);
    for (const a of agents) assert.equal(a.child.exitCode, null, 'the agents are up');
    assert.doesNotMatch(server.output(), /Uncaught|TypeError|RangeError/);
  });
});
