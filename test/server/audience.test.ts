// The audience's phones as devices, through the real `fleetkit server` and the real three stores:
// off by default (/join says how to turn it on, nothing registers); with --audience-devices each phone
// (a socket client doing what the phone page does, or Chromium on /join) is registered by the server in
// etcd, ZooKeeper and Consul under the service `audience` while it beats, let go as an unplugged device
// when it falls silent, removed at once when it leaves; a cap, and fuzzed traffic that registers nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { io } from 'socket.io-client';
import { livenessWindowMs, STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import { joinRequestSchema } from '../../server/audience/requests.ts';
import {
  AUDIENCE_OFF,
  AUDIENCE_SERVICE,
  audienceFull,
  JOINING_PAUSED,
  REMOVED_BY_PRESENTER,
  SILENT_AFTER_MS,
} from '../../server/audience-contract.ts';
import type { Ack } from '../../server/contract.ts';
import { READ_ONLY } from '../../server/http/sockets.ts';
import { TEST_LIVENESS } from '../support/agents.ts';
import { delay, eventually } from '../support/eventually.ts';
import { Fuzz, fuzzSeed } from '../support/fuzz.ts';
import { TestPhone } from '../support/phones.ts';
import { type RunningServer, startServer } from '../support/servers.ts';
import { type StoreViews, StoreWatcher } from '../support/store-views.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';
import { PageWatch } from '../workshop/page-watch.ts';

const CAP = 20;
/** A phone's window in each store: the server's liveness (the tests'), with a Consul TTL check. */
const PHONE_WINDOWS_MS = Object.fromEntries(
  STORE_KINDS.map((k) => [k, livenessWindowMs(k, { ...TEST_LIVENESS, consulCheck: 'ttl' })]),
) as Record<StoreKind, number>;
const LONGEST_WINDOW_MS = Math.max(...Object.values(PHONE_WINDOWS_MS));

describe('audience devices off (the default)', { timeout: 60_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({
      FLEET_ETCD: 'http://127.0.0.1:1',
      FLEET_ZOOKEEPER: '127.0.0.1:2',
      FLEET_CONSUL: 'http://127.0.0.1:3',
    });
  });
  after(() => server?.stop());

  test('/join answers 404 with the sentence that turns it on; a join over the socket is refused with it', async () => {
    for (const p of ['join', 'phone.js']) {
      const res = await fetch(new URL(p, server.url));
      assert.equal(res.status, 404, p);
      assert.equal((await res.text()).trim(), AUDIENCE_OFF, p);
    }
    const phone = await TestPhone.connect(server.url);
    try {
      const answer = await phone.join();
      assert.deepEqual(answer, { ok: false, error: AUDIENCE_OFF });
      assert.deepEqual(await phone.request('beat'), { ok: false, error: AUDIENCE_OFF });
    } finally {
      phone.close();
    }
    const page = await PageWatch.open(server.url);
    try {
      assert.equal(page.state.meta?.joinUrl, null, 'the page links to no /join');
    } finally {
      page.close();
    }
  });
});

describe(`audience devices on, cap ${CAP}: phones registered by the server in the three stores`, {
  timeout: 300_000,
}, () => {
  let stores: ThreeStores;
  let server: RunningServer;
  let views: StoreViews;
  const watcher = new StoreWatcher(() => stores);
  const namespace = `audience${process.pid}`;
  const phones: TestPhone[] = [];

  before(async () => {
    stores = await startThreeStores();
    server = await startServer({
      ...stores.env(),
      FLEET_NAMESPACE: namespace,
      FLEET_AUDIENCE_DEVICES: 'on',
      FLEET_AUDIENCE_CAP: String(CAP),
    });
    views = watcher.watch(namespace, AUDIENCE_SERVICE);
  });

  after(async () => {
    for (const phone of phones) phone.close();
    await server?.stop();
    await watcher.close();
    await stores?.stop();
  });

  test(`${CAP} phones join and are passing in every store, labelled kind=phone; the next is told the room is full`, async (t) => {
    const started = Date.now();
    for (let i = 0; i < CAP; i++) {
      const phone = await TestPhone.connect(server.url);
      phones.push(phone);
      const answer = await phone.join();
      assert.ok(answer.ok, `phone ${i + 1}: ${JSON.stringify(answer)}`);
      assert.match(answer.data.id, /^[a-z]+-[a-z]+-[0-9a-f]{2,6}$/);
      assert.match(answer.data.key, /^[A-Za-z0-9_-]{32}$/);
    }
    const ids = phones.map((p) => p.answer!.id);
    assert.equal(new Set(ids).size, CAP, 'every phone has its own id');
    const tookMs = await eventually(
      `all ${CAP} phones passing in etcd, ZooKeeper and Consul`,
      () => ids.every((id) => views.passingEverywhere(id)),
      { timeoutMs: 60_000 },
    );
    t.diagnostic(
      `${CAP} joins, all passing in every store ${Date.now() - started} ms after the first (${tookMs} ms after the last join)`,
    );
    for (const kind of STORE_KINDS) {
      const record = views.views[kind].get(ids[0]!)!.record;
      assert.equal(record.service, AUDIENCE_SERVICE, kind);
      assert.deepEqual(record.labels, { kind: 'phone' }, kind);
      assert.equal(record.host, '127.0.0.1', kind);
    }
    assert.equal(views.views.etcd.instances().length, CAP);

    const extra = await TestPhone.connect(server.url);
    try {
      assert.deepEqual(await extra.join(), { ok: false, error: audienceFull(CAP) });
    } finally {
      extra.close();
    }
    // Each phone hears how each store holds it.
    await eventually(
      'every phone told it is registered in the three stores',
      () => phones.every((p) => p.view?.stores.filter((s) => s.state === 'registered').length === 3),
      { timeoutMs: 10_000 },
    );
    // The main page holds them in each column's band, apart from the Pis' tiles, with the rates.
    const page = await PageWatch.open(server.url);
    try {
      await eventually(
        "every phone in each store's band on the page",
        () => STORE_KINDS.every((k) => ids.every((id) => page.state.phones.has(`${k}/${id}`))),
        { timeoutMs: 10_000 },
      );
      assert.equal(page.state.phones.size, CAP * STORE_KINDS.length);
      assert.deepEqual(
        [page.state.audience?.cap, page.state.audience?.joining, page.state.devices.size],
        [CAP, true, 0],
        'the cap, joining open, and no phone among the tiles',
      );
      await eventually(
        'joins per second counted in every band',
        () => page.state.audience?.bands.filter((b) => b.joinsPerSecond > 0).length === STORE_KINDS.length,
        { timeoutMs: 5000 },
      );
    } finally {
      page.close();
    }
  });

  test('a color set on the presenter page reaches every phone and is written back to its record in each store', async (t) => {
    const presenter = io(server.url, {
      transports: ['websocket'],
      forceNew: true,
      auth: { token: server.token },
    });
    try {
      await eventually('presenter connected', () => presenter.connected, { timeoutMs: 10_000 });
      const started = Date.now();
      const ack = (await presenter
        .timeout(10_000)
        .emitWithAck('setColor', { color: '#ff8800' })) as Ack<unknown>;
      assert.ok(ack.ok, JSON.stringify(ack));
      await eventually('every phone shows #ff8800', () => phones.every((p) => p.view?.color === '#ff8800'), {
        timeoutMs: 15_000,
      });
      const ids = phones.map((p) => p.answer!.id);
      await eventually(
        'every phone record holds #ff8800 in every store',
        () => ids.every((id) => STORE_KINDS.every((k) => views.views[k].get(id)?.record.color === '#ff8800')),
        { timeoutMs: 15_000 },
      );
      t.diagnostic(
        `color on ${ids.length} phones' records in all three stores ${Date.now() - started} ms after setColor`,
      );
    } finally {
      presenter.disconnect();
    }
  });

  test('a phone that falls silent is gone from etcd and ZooKeeper and critical in Consul when each window ends; its key brings back the same id', async (t) => {
    const phone = phones.shift()!;
    const { id, key } = phone.answer!;
    const silentAt = Date.now();
    phone.silence();
    // Not at once: the server waits for three missed heartbeats, then each store's own window runs.
    await delay(SILENT_AFTER_MS / 2);
    assert.ok(views.passingEverywhere(id), 'still a device 1.5 s after its last heartbeat');
    const bound = 3 * (SILENT_AFTER_MS + LONGEST_WINDOW_MS + 1000);
    const gone: Record<string, number> = {};
    await eventually(
      `${id} gone from every store`,
      () => {
        for (const kind of STORE_KINDS)
          if (gone[kind] === undefined && views.goneFrom(kind, id)) gone[kind] = Date.now() - silentAt;
        return Object.keys(gone).length === STORE_KINDS.length;
      },
      { timeoutMs: bound, intervalMs: 50 },
    );
    t.diagnostic(
      `silent at 0: gone from ${STORE_KINDS.map((k) => `${k} ${gone[k]} ms (window ${PHONE_WINDOWS_MS[k]})`).join(', ')}`,
    );
    for (const kind of STORE_KINDS)
      assert.ok(
        gone[kind]! >= SILENT_AFTER_MS,
        `${kind}: gone ${gone[kind]} ms after the last beat, before the server let it go`,
      );

    const back = await TestPhone.connect(server.url);
    phones.push(back);
    const answer = await back.join(key);
    assert.ok(answer.ok, JSON.stringify(answer));
    assert.equal(answer.data.id, id, 'the same device again');
    assert.equal(answer.data.resumed, false, 'it had been let go');
    await eventually(`${id} passing again`, () => views.passingEverywhere(id), { timeoutMs: 20_000 });
  });

  test('a reload within the silence keeps the same registration (resumed)', async () => {
    const phone = phones.shift()!;
    const { id, key } = phone.answer!;
    phone.silence();
    const again = await TestPhone.connect(server.url);
    phones.push(again);
    const answer = await again.join(key);
    assert.ok(answer.ok, JSON.stringify(answer));
    assert.deepEqual([answer.data.id, answer.data.resumed], [id, true]);
    await delay(SILENT_AFTER_MS + LONGEST_WINDOW_MS);
    assert.ok(views.passingEverywhere(id), 'never let go');
  });

  test('leave: gone from every store at once', async (t) => {
    const phone = phones.shift()!;
    const { id } = phone.answer!;
    const started = Date.now();
    const answer = await phone.request<{ left: boolean }>('leave');
    assert.deepEqual(answer, { ok: true, data: { left: true } });
    await eventually(`${id} absent everywhere`, () => views.absentEverywhere(id), { timeoutMs: 5000 });
    t.diagnostic(`gone from every store ${Date.now() - started} ms after leave`);
    assert.deepEqual(await phone.request('beat'), { ok: false, error: 'join first' });
    phone.close();
  });

  test("a phone's load (event-loop delay, battery) reaches its records; fuzzed loads are refused by name, nothing malformed written", async (t) => {
    const phone = phones[0]!;
    const { id } = phone.answer!;
    const load = { kind: 'browser', eventLoopDelayMs: 12, batteryPercent: 64 } as const;
    assert.deepEqual(await phone.request('beat', { load }), { ok: true, data: { registered: true } });
    await eventually(
      `${id}'s load in every store`,
      () =>
        STORE_KINDS.every(
          (k) => JSON.stringify(views.views[k].get(id)?.record.load) === JSON.stringify(load),
        ),
      { timeoutMs: 10_000 },
    );
    const seed = fuzzSeed();
    t.diagnostic(`FUZZ_SEED=${seed}`);
    const f = new Fuzz(seed, [32]);
    let refused = 0;
    // Paced under the connection's event limit (10 a second, with its own beats): the load's checks answer.
    for (let i = 0; i < 40; i++) {
      await delay(150);
      const garbage = f.pick([
        f.value(),
        {
          kind: 'browser',
          eventLoopDelayMs: f.pick([-1, 1e9, Number.NaN, '12', f.value()]),
          batteryPercent: 50,
        },
        { kind: 'browser', eventLoopDelayMs: 3, batteryPercent: f.pick([101, -5, '50', f.value()]) },
        { kind: f.pick(['machine', '<b>x</b>', f.string()]), eventLoopDelayMs: 3, batteryPercent: 1 },
        { ...load, extra: f.value() },
        { cpuPercent: 5, load1: 0.1, memUsedPercent: 3, temperatureC: null, uptimeSeconds: 9 },
      ]);
      // Over the page's 4 KB message limit the connection is cut (the other fuzz covers it): not here.
      if (Buffer.byteLength(JSON.stringify({ load: garbage }) ?? '') > 3000) continue;
      const answer = await phone.request<unknown>('beat', { load: garbage });
      if (answer.ok) continue; // the fuzz may make a valid load: it is written like any other
      refused++;
      assert.match(answer.error, /load/, JSON.stringify(garbage)?.slice(0, 100));
    }
    t.diagnostic(`${refused} of 40 fuzzed loads refused`);
    assert.ok(refused >= 20, `${refused} refused`);
    for (const kind of STORE_KINDS) {
      const record = views.views[kind].get(id)?.record;
      assert.ok(record, `${id} still in ${kind}`);
      assert.ok(record.load === null || 'kind' in record.load, `${kind}: a browser's load only`);
    }
    assert.equal(views.views.etcd.skipped().malformed, 0, 'nothing malformed under audience');
  });

  test('fuzzed joins, beats, applied and leaves: answered, the server up, nothing registered from garbage', async (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`FUZZ_SEED=${seed}`);
    const f = new Fuzz(seed, [32]);
    const before = views.views.etcd.instances().length;
    const sockets = await Promise.all([0, 1, 2].map(() => TestPhone.connect(server.url)));
    const known = ['join', 'beat', 'applied', 'leave'];
    let answered = 0;
    let sent = 0;
    let cut = 0;
    try {
      for (let i = 0; i < 150; i++) {
        const phone = f.pick(sockets);
        const event = f.chance(0.8)
          ? f.pick(known)
          : f.pick(['setColor', 'simulate', 'rotateToken', f.string(12)]);
        const payload = f.pick([
          f.value(),
          { key: f.string() },
          { key: f.string(32) },
          { color: f.pick(['#ff0000', '<b>x</b>', f.string()]) },
          f.object(0),
        ]);
        // A well-formed join registers a device (an unknown key gets a new one): the fuzz sends the others.
        if (event === 'join' && joinRequestSchema.safeParse(payload).success) continue;
        sent++;
        // The page's limit is 4 KB per message (its encoding included): a payload near it may be cut off.
        const large = Buffer.byteLength(JSON.stringify([event, payload ?? null]) ?? '') > 3000;
        const replace = async () => {
          cut++;
          phone.close();
          sockets[sockets.indexOf(phone)] = await TestPhone.connect(server.url);
        };
        if (!known.includes(event)) {
          phone.socket.emit(event, payload, () => undefined); // the page's events do not exist here
          await delay(large ? 200 : 0);
          if (!phone.socket.connected) {
            assert.ok(large, `cut off after an unknown event: ${JSON.stringify(payload)?.slice(0, 80)}`);
            await replace();
          }
          continue;
        }
        try {
          const answer = await phone.request<unknown>(event, payload);
          answered++;
          if (!answer.ok) assert.ok(answer.error.length <= 200, answer.error);
        } catch (error) {
          assert.ok(large, `${event} unanswered: ${(error as Error).message}`);
          await replace();
        }
      }
    } finally {
      for (const s of sockets) s.close();
    }
    t.diagnostic(
      `${sent} events sent: ${answered} phone events answered, ${cut} connections cut for an oversized message`,
    );
    assert.ok((await fetch(new URL('healthz', server.url))).ok, 'the server is up');
    assert.equal(views.views.etcd.instances().length, before, 'no device from garbage');
  });

  test("the presenter's audience controls: read-only pages refused; pause refuses new phones, a known one comes back; remove all: every phone told, gone at once", async (t) => {
    const reader = io(server.url, { transports: ['websocket'], forceNew: true });
    const presenter = io(server.url, {
      transports: ['websocket'],
      forceNew: true,
      auth: { token: server.token },
    });
    const ask = async <T>(socket: typeof reader, event: string, payload: unknown) =>
      (await socket.timeout(10_000).emitWithAck(event, payload)) as Ack<T>;
    try {
      await eventually('both connected', () => reader.connected && presenter.connected, {
        timeoutMs: 10_000,
      });
      assert.deepEqual(await ask(reader, 'audienceJoining', { joining: false }), {
        ok: false,
        error: READ_ONLY,
      });
      assert.deepEqual(await ask(reader, 'removeAudience', {}), { ok: false, error: READ_ONLY });
      const bad = await ask(presenter, 'audienceJoining', { joining: 'no' });
      assert.ok(!bad.ok && /joining/.test(bad.error), JSON.stringify(bad));

      // Paused: a new phone is told so; a phone this server knows (its key) comes back.
      assert.deepEqual(await ask(presenter, 'audienceJoining', { joining: false }), {
        ok: true,
        data: { joining: false },
      });
      const page = await PageWatch.open(server.url);
      try {
        await eventually('the page says joining is paused', () => page.state.audience?.joining === false, {
          timeoutMs: 5000,
        });
      } finally {
        page.close();
      }
      const stranger = await TestPhone.connect(server.url);
      phones.push(stranger);
      assert.deepEqual(await stranger.join(), { ok: false, error: JOINING_PAUSED });
      const known = phones[0]!;
      const { id, key } = known.answer!;
      known.silence();
      const again = await TestPhone.connect(server.url);
      phones.push(again);
      const back = await again.join(key);
      assert.ok(back.ok && back.data.id === id, JSON.stringify(back));
      assert.deepEqual(await ask(presenter, 'audienceJoining', { joining: true }), {
        ok: true,
        data: { joining: true },
      });

      // Remove all: each beating phone told (its page stops), every phone deregistered at once.
      const beating = phones.filter((p) => p.answer && p.socket.connected);
      const started = Date.now();
      const removed = await ask<{ removed: number }>(presenter, 'removeAudience', {});
      assert.ok(removed.ok && removed.data.removed >= beating.length, JSON.stringify(removed));
      await eventually(
        'no phone left in any store',
        () => STORE_KINDS.every((k) => views.views[k].instances().length === 0),
        {
          timeoutMs: 10_000,
        },
      );
      t.diagnostic(
        `${removed.data.removed} phones removed, the stores empty ${Date.now() - started} ms after`,
      );
      await eventually(
        'every beating phone told',
        () => beating.every((p) => p.removed === REMOVED_BY_PRESENTER),
        {
          timeoutMs: 5000,
        },
      );
    } finally {
      reader.disconnect();
      presenter.disconnect();
    }
  });
});
