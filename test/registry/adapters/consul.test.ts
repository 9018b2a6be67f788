import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { toMeta } from '../../../lib/registry/adapters/consul-meta.ts';
import {
  createRegistry,
  type InstanceSpec,
  type Load,
  type Registry,
  type RegistryOptions,
  ValidationError,
} from '../../../lib/registry/index.ts';
import { machineLoad } from '../../../lib/registry/load-kinds.ts';
import { newRecord } from '../../../lib/registry/record.ts';
import { type StoreProcess, startStore } from '../../../provision/stores/index.ts';
import { delay, eventually } from '../../support/eventually.ts';
import { registryContract } from '../contract.ts';

registryContract({
  name: 'consul (HTTP check)',
  store: 'consul',
  liveness: { consulCheck: 'http', checkIntervalSeconds: 1, checkTimeoutSeconds: 1 },
});
registryContract({
  name: 'consul (TTL check)',
  store: 'consul',
  liveness: { consulCheck: 'ttl', checkTtlSeconds: 2 },
});

const load = (cpuPercent: number): Load => ({
  cpuPercent,
  load1: 0.5,
  memUsedPercent: 40,
  temperatureC: null,
  uptimeSeconds: 100,
});

// Consul-only: load-only updates are paced (consulLoadIntervalSeconds); a load or color change is the
// device's status entry in KV (`<ns>/status/<service>/<id>`), never a re-registration; every watch
// answer holds the whole service and every status entry, so unchanged entries are not decoded again.
describe('consul: load interval and watch cost', { timeout: 180_000 }, () => {
  let store: StoreProcess;
  let endpoint: string;
  let port: number;
  const registries: Registry[] = [];
  const health = createServer((_req, res) => res.end('ok'));
  let services = 0;

  const open = (extra: Partial<RegistryOptions> = {}) => {
    const registry = createRegistry({
      store: 'consul',
      endpoints: [endpoint],
      liveness: { consulCheck: 'ttl', checkTtlSeconds: 30 },
      backoff: { initialMs: 100, maxMs: 1000 },
      ...extra,
    });
    registries.push(registry);
    return registry;
  };
  /** Each test its own service, so that tests do not see each other's instances. */
  const newService = () => `li${process.pid}-${++services}`;
  const spec = (service: string, id: string, extra: Partial<InstanceSpec> = {}): InstanceSpec => ({
    service,
    id,
    host: '127.0.0.1',
    port,
    labels: { zone: 'stage' },
    load: load(10),
    color: null,
    ...extra,
  });
  /** The service's Meta as Consul has it now (not through the registry). */
  const meta = async (id: string): Promise<Record<string, string> | undefined> => {
    const res = await fetch(`${endpoint}/v1/agent/service/${id}`);
    if (res.status === 404) return undefined;
    return ((await res.json()) as { Meta: Record<string, string> }).Meta;
  };
  /** The service's ModifyIndex in the catalog (moves on every registration). */
  const serviceIndex = async (service: string, id: string): Promise<number | undefined> => {
    const res = await fetch(`${endpoint}/v1/catalog/service/${service}`);
    const entries = (await res.json()) as { ServiceID: string; ModifyIndex: number }[];
    return entries.find((e) => e.ServiceID === id)?.ModifyIndex;
  };
  /** The device's status entry in KV as Consul has it now (fleet/status/<service>/<id>). */
  const status = async (
    id: string,
  ): Promise<{ color: string | null; load: Load | null; incarnation: string } | undefined> => {
    const service = lastService.get(id);
    const res = await fetch(`${endpoint}/v1/kv/fleet/status/${service}/${id}?raw`);
    if (res.status === 404) return undefined;
    return (await res.json()) as { color: string | null; load: Load | null; incarnation: string };
  };
  const cpuOf = async (id: string) => String(machineLoad((await status(id))?.load)?.cpuPercent);
  const lastService = new Map<string, string>();
  const registered = async (service: string, id: string, extra: Partial<RegistryOptions> = {}) => {
    lastService.set(id, service);
    const registration = open(extra).register(spec(service, id));
    await eventually(`${id} registered`, () => registration.state === 'registered', { timeoutMs: 5000 });
    return registration;
  };

  before(async () => {
    store = await startStore('consul');
    endpoint = store.endpoints[0]!;
    health.listen(0, '127.0.0.1');
    await once(health, 'listening');
    port = (health.address() as AddressInfo).port;
  });

  after(async () => {
    await Promise.all(registries.map((r) => r.close()));
    health.close();
    await store?.stop({ removeData: true });
  });

  test('a load-only update within the interval reaches Consul when it ends, the newest one only', async (t) => {
    const registration = await registered(newService(), 'li-a', { consulLoadIntervalSeconds: 3 });
    const startedAt = Date.now();
    const written: [number, number][] = [];
    const first = registration.update({ load: load(20) }).then(() => written.push([20, Date.now()]));
    await delay(300);
    const second = registration.update({ load: load(30) }).then(() => written.push([30, Date.now()]));
    await delay(1200);
    assert.equal(await cpuOf('li-a'), '10', 'not written within the interval');
    assert.deepEqual(written, [], 'the updates are not reported written yet');
    await Promise.all([first, second]);
    const tookMs = Date.now() - startedAt;
    assert.equal(await cpuOf('li-a'), '30', 'the newest load is in Consul');
    assert.ok(tookMs >= 2500, `written ${tookMs} ms after the interval began (3 s after registering)`);
    assert.ok(tookMs <= 4500, `written ${tookMs} ms after the interval began: not much after its end`);
    assert.ok(
      Math.abs(written[0]![1] - written[1]![1]) < 50,
      'both updates were written together, in one write',
    );
    t.diagnostic(`load-only updates written together ${tookMs} ms after the registration`);

    // The next load-only update waits a whole interval after that write.
    const third = registration.update({ load: load(40) });
    await delay(1500);
    assert.equal(await cpuOf('li-a'), '30');
    await third;
    assert.equal(await cpuOf('li-a'), '40');
  });

  test('the default interval is 15 s: a load-only update is not in Consul 2 s later', async () => {
    const registration = await registered(newService(), 'li-default');
    void registration.update({ load: load(55) }).catch(() => undefined);
    await delay(2000);
    assert.equal(await cpuOf('li-default'), '10');
  });

  test('a color update is written at once, within the interval, and carries the newest load', async (t) => {
    const registration = await registered(newService(), 'li-color', { consulLoadIntervalSeconds: 30 });
    const loadWritten = registration.update({ load: load(66) });
    await delay(300);
    assert.equal(await cpuOf('li-color'), '10', 'the load-only update waits');
    const startedAt = Date.now();
    await registration.update({ color: '#00ff00' });
    await loadWritten; // written with the color
    const tookMs = Date.now() - startedAt;
    const stored = await status('li-color');
    assert.equal(stored?.color, '#00ff00');
    assert.equal(machineLoad(stored?.load)?.cpuPercent, 66, 'the newest load went with the color');
    assert.ok(tookMs < 1000, `color written after ${tookMs} ms`);
    t.diagnostic(`color (and the waiting load) written after ${tookMs} ms`);

    // The same color again with a new load is a load-only update: it waits.
    void registration.update({ color: '#00ff00', load: load(77) }).catch(() => undefined);
    await delay(500);
    assert.equal(await cpuOf('li-color'), '66');
    // New labels are not load-only: at once.
    await registration.update({ labels: { zone: 'hall' } });
    assert.equal((await meta('li-color'))?.zone, 'hall');
    assert.equal(await cpuOf('li-color'), '77');
  });

  test('interval 0: every load-only update is written at once', async () => {
    const registration = await registered(newService(), 'li-zero', { consulLoadIntervalSeconds: 0 });
    for (const cpu of [21, 22, 23]) {
      const startedAt = Date.now();
      await registration.update({ load: load(cpu) });
      assert.ok(Date.now() - startedAt < 1000);
      assert.equal(await cpuOf('li-zero'), String(cpu));
    }
  });

  test('the watch does not decode unchanged entries again; a garbage entry is reported once', async (t) => {
    const service = newService();
    const quiet = await registered(service, 'li-quiet', { consulLoadIntervalSeconds: 0 });
    const busy = await registered(service, 'li-busy', { consulLoadIntervalSeconds: 0 });
    // Written by hand, as a learner might: no fleet_* Meta at all.
    const res = await fetch(`${endpoint}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ Name: service, ID: 'li-garbage', Address: '10.0.0.9', Port: 80 }),
    });
    assert.equal(res.status, 200);

    const watch = open().watchInstances(service);
    const invalid: string[] = [];
    watch.on('invalid', (error) => invalid.push(error.key));
    await eventually('both devices seen', () => watch.get('li-quiet') && watch.get('li-busy'), {
      timeoutMs: 3000,
    });
    await eventually('the garbage reported', () => invalid.length > 0, { timeoutMs: 3000 });
    const quietRecord = watch.get('li-quiet')!.record;
    const updates: string[] = [];
    watch.on('change', (c) => updates.push(`${c.type} ${c.instance.record.id}`));

    for (const cpu of [31, 32, 33, 34]) {
      await busy.update({ load: load(cpu) });
      await eventually(
        `load ${cpu} seen`,
        () => machineLoad(watch.get('li-busy')?.record.load)?.cpuPercent === cpu,
        {
          timeoutMs: 2000,
        },
      );
    }
    assert.equal(watch.get('li-quiet')!.record, quietRecord, 'the unchanged entry was not decoded again');
    assert.deepEqual(updates, Array(4).fill('updated li-busy'));
    assert.deepEqual(invalid, [`service ${service}/li-garbage`], 'reported once, not on every answer');
    assert.equal(watch.get('li-garbage'), undefined, 'never shown as a device');

    assert.deepEqual(watch.skipped(), { notAlive: 1, malformed: 0 }, 'no check: not alive');

    // A change of the quiet one is decoded, of course; the garbage rewritten the same way is not named
    // again, but rewritten with a check (alive now, still no fleet_* Meta) it is: malformed.
    await quiet.update({ color: 'teal' });
    await eventually('quiet change seen', () => watch.get('li-quiet')?.record.color === 'teal', {
      timeoutMs: 2000,
    });
    await fetch(`${endpoint}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ Name: service, ID: 'li-garbage', Address: '10.0.0.10', Port: 81 }),
    });
    await busy.update({ load: load(35) });
    await eventually(
      'load 35 seen',
      () => machineLoad(watch.get('li-busy')?.record.load)?.cpuPercent === 35,
      {
        timeoutMs: 2000,
      },
    );
    assert.equal(invalid.length, 1, 'the same problem is named once');
    await fetch(`${endpoint}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({
        Name: service,
        ID: 'li-garbage',
        Address: '10.0.0.10',
        Port: 81,
        Check: { TTL: '300s' },
      }),
    });
    await eventually('the rewritten garbage reported', () => invalid.length === 2, { timeoutMs: 2000 });
    assert.deepEqual(watch.skipped(), { notAlive: 0, malformed: 1 });
    t.diagnostic(`invalid reports: ${invalid.length}`);
  });

  test('a load or color change is one status write: the service is not registered again; new labels are', async (t) => {
    const service = newService();
    const registration = await registered(service, 'st-a', { consulLoadIntervalSeconds: 0 });
    const fields = Object.keys((await meta('st-a')) ?? {});
    for (const gone of ['fleet_cpu', 'fleet_color', 'fleet_updated_at'])
      assert.ok(!fields.includes(gone), `${gone} is not in the service's Meta`);
    assert.equal(
      machineLoad((await status('st-a'))?.load)?.cpuPercent,
      10,
      'the status entry is written with the claim',
    );
    const before = await serviceIndex(service, 'st-a');
    assert.ok(before);
    const watch = open().watchInstances(service);
    await eventually('seen', () => watch.get('st-a'), { timeoutMs: 3000 });
    const startedAt = Date.now();
    await registration.update({ color: '#123456' });
    await registration.update({ load: load(44) });
    await eventually(
      'color and load seen',
      () =>
        watch.get('st-a')?.record.color === '#123456' &&
        machineLoad(watch.get('st-a')?.record.load)?.cpuPercent === 44,
      { timeoutMs: 3000 },
    );
    t.diagnostic(`color and load written and seen by the watch in ${Date.now() - startedAt} ms`);
    assert.equal(await serviceIndex(service, 'st-a'), before, 'no registration for a color or load change');
    await registration.update({ labels: { zone: 'hall' } });
    assert.equal((await meta('st-a'))?.zone, 'hall');
    assert.notEqual(await serviceIndex(service, 'st-a'), before, 'new labels: registered again');
    await eventually('labels seen', () => watch.get('st-a')?.record.labels.zone === 'hall', {
      timeoutMs: 3000,
    });
    assert.equal(watch.get('st-a')?.record.color, '#123456', 'the status still joined');
    await registration.deregister();
    assert.equal(await status('st-a'), undefined, 'a clean stop deletes the status entry');
  });

  test('an agent slower than the request timeout but within the TTL: the pass waits for it, nothing is lost', async (t) => {
    // A Consul agent applies passes one at a time and finishes those a client gave up on: a client
    // that gave up after its 1 s request timeout would say "lost" and pass again, lengthening the
    // agent's queue. Frozen (SIGSTOP) for 3.5 s, with passes due every 2 s (TTL 6 s).
    const service = newService();
    const registration = await registered(service, 'slow-1', {
      requestTimeoutMs: 1000,
      liveness: { consulCheck: 'ttl', checkTtlSeconds: 6 },
    });
    const lost: string[] = [];
    registration.on('lost', (error) => lost.push(error.message));
    const pid = store.pid!;
    const frozenAt = Date.now();
    process.kill(pid, 'SIGSTOP');
    try {
      await delay(3500);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await delay(3000); // the passes sent meanwhile are answered
    t.diagnostic(
      `Consul frozen 3.5 s; ${Date.now() - frozenAt} ms later: ${registration.state}, lost ${lost.length} times`,
    );
    assert.deepEqual(lost, []);
    assert.equal(registration.state, 'registered');
    const checks = (await (await fetch(`${endpoint}/v1/agent/checks`)).json()) as Record<
      string,
      { ServiceID: string; Status: string }
    >;
    assert.equal(Object.values(checks).find((c) => c.ServiceID === 'slow-1')?.Status, 'passing');
  });

  test('a device restarted at its own address takes its entry over at once; another live address is a conflict', async (t) => {
    // What a SIGKILLed agent leaves behind: its service, of its incarnation, with an HTTP check on its
    // address. The new process at that address answers the check, so the old entry stays passing.
    const service = newService();
    const leftBehind = (id: string, checkPort: number) => {
      const old = newRecord(spec(service, id), `inc-killed-${id}`, new Date());
      return fetch(`${endpoint}/v1/agent/service/register`, {
        method: 'PUT',
        body: JSON.stringify({
          Name: service,
          ID: id,
          Address: old.host,
          Port: checkPort,
          Meta: { ...toMeta({ ...old, port: checkPort }) },
          Check: { HTTP: `http://127.0.0.1:${checkPort}/health`, Interval: '1s', Status: 'passing' },
        }),
      });
    };
    const other = createServer((_req, res) => res.end('ok'));
    other.listen(0, '127.0.0.1');
    await once(other, 'listening');
    const otherPort = (other.address() as AddressInfo).port;
    try {
      assert.equal((await leftBehind('re-same', port)).status, 200);
      assert.equal((await leftBehind('re-other', otherPort)).status, 200);
      await delay(1500); // both checks pass: each address answers /health
      const liveness = { consulCheck: 'http', checkIntervalSeconds: 1, checkTimeoutSeconds: 1 } as const;
      const startedAt = Date.now();
      const same = open({ liveness }).register(spec(service, 're-same'));
      const elsewhere = open({ liveness }).register(spec(service, 're-other'));
      await eventually('re-same registered', () => same.state === 'registered', { timeoutMs: 5000 });
      t.diagnostic(`re-same registered ${Date.now() - startedAt} ms after it started`);
      assert.equal((await meta('re-same'))?.fleet_incarnation, same.record.incarnation);
      await eventually('re-other in conflict', () => elsewhere.state === 'conflict', { timeoutMs: 5000 });
      assert.equal((await meta('re-other'))?.fleet_incarnation, 'inc-killed-re-other');
    } finally {
      other.close();
    }
  });

  test('a record written the old way (load and color in Meta, no status entry) is still read', async () => {
    const service = newService();
    const old = newRecord(
      { ...spec(service, 'st-old'), load: load(12), color: '#abcdef' },
      'inc-old',
      new Date('2026-11-22T10:00:00Z'),
    );
    const res = await fetch(`${endpoint}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({
        Name: service,
        ID: 'st-old',
        Address: old.host,
        Port: old.port,
        Meta: toMeta(old),
        Check: { TTL: '300s', Status: 'passing' },
      }),
    });
    assert.equal(res.status, 200);
    const watch = open().watchInstances(service);
    await eventually('the old record seen', () => watch.get('st-old'), { timeoutMs: 3000 });
    assert.deepEqual(watch.get('st-old')!.record, old);
  });

  test('status entries are untrusted: garbage is reported and skips its device; keys that are no device are ignored', async (t) => {
    const service = newService();
    const registration = await registered(service, 'st-b', { consulLoadIntervalSeconds: 0 });
    const put = (key: string, body: string) =>
      fetch(`${endpoint}/v1/kv/fleet/status/${service}/${key}`, { method: 'PUT', body });
    // A device nobody registered, a key deeper than a device's: not devices.
    await put(
      'ghost',
      JSON.stringify({ incarnation: 'x', updatedAt: new Date().toISOString(), color: null, load: null }),
    );
    await put('st-b/extra', 'whatever');
    const watch = open().watchInstances(service);
    const invalid: string[] = [];
    watch.on('invalid', (error) => invalid.push(error.key));
    await eventually('seen', () => watch.get('st-b'), { timeoutMs: 3000 });
    assert.equal(watch.get('ghost'), undefined);
    assert.deepEqual(invalid, []);
    for (const garbage of [
      'not json',
      '{"color":"#fff"}',
      JSON.stringify({ incarnation: 1, updatedAt: 'x', color: null, load: null }),
      'x'.repeat(5000),
    ]) {
      await put('st-b', garbage);
      await eventually('skipped', () => watch.get('st-b') === undefined, { timeoutMs: 3000 });
      assert.equal(invalid.at(-1), `fleet/status/${service}/st-b`);
      await registration.update({ load: load(50 + invalid.length) });
      await eventually(
        'back',
        () => machineLoad(watch.get('st-b')?.record.load)?.cpuPercent === 50 + invalid.length,
        {
          timeoutMs: 3000,
        },
      );
    }
    // Well-formed, but a color the schema refuses: the whole record is malformed.
    const current = await status('st-b');
    await put(
      'st-b',
      JSON.stringify({ ...current, updatedAt: new Date().toISOString(), color: 'javascript:alert(1)' }),
    );
    await eventually('skipped', () => watch.get('st-b') === undefined, { timeoutMs: 3000 });
    // Another incarnation's entry (a leftover): not this device's status; its Meta says no load yet.
    await put('st-b', JSON.stringify({ ...current, incarnation: 'someone-else' }));
    await eventually('back, without a load', () => watch.get('st-b')?.record.load === null, {
      timeoutMs: 3000,
    });
    t.diagnostic(`reported: ${invalid.length}`);
  });

  test('bad consulLoadIntervalSeconds values are refused, naming the field', () => {
    for (const bad of [-1, 1.5, 3601, Number.NaN, '15' as unknown as number]) {
      assert.throws(
        () => createRegistry({ store: 'consul', endpoints: [endpoint], consulLoadIntervalSeconds: bad }),
        (e: unknown) =>
          e instanceof ValidationError &&
          e.fields.includes('consulLoadIntervalSeconds') &&
          /consulLoadIntervalSeconds: a (whole )?number of seconds from 0 to 3600/.test(e.message),
        `consulLoadIntervalSeconds ${String(bad)} is refused`,
      );
    }
  });
});
