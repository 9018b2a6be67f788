// Choosing an instance (core/pick.ts) on hand-made lists, and Registry.pick on the fake adapter: one
// pushed view per service, the first sync awaited, the store down, close(). What the real stores push
// is tested in test/registry/pick.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseInstance, noPickReason, PICK_STRATEGIES } from '../../../lib/registry/core/pick.ts';
import { StoreRegistry } from '../../../lib/registry/core/store-registry.ts';
import { ClosedError, StoreUnavailableError, ValidationError } from '../../../lib/registry/errors.ts';
import { layout } from '../../../lib/registry/layout.ts';
import { newRecord } from '../../../lib/registry/record.ts';
import { DEFAULT_LIVENESS } from '../../../lib/registry/schema.ts';
import type { DiscoveredInstance, HealthStatus, PickState } from '../../../lib/registry/types.ts';
import { FakeAdapter } from '../fake-adapter.ts';

const loadOf = (cpuPercent: number) => ({
  cpuPercent,
  load1: 0,
  memUsedPercent: 10,
  temperatureC: null,
  uptimeSeconds: 1,
});

function instance(id: string, cpu: number | null, health: HealthStatus = 'passing'): DiscoveredInstance {
  return {
    store: 'consul',
    key: `service web/${id}`,
    record: newRecord(
      { service: 'web', id, host: '10.0.0.5', port: 8100, load: cpu === null ? null : loadOf(cpu) },
      'i',
      new Date(0),
    ),
    health,
    liveness: { model: 'check', node: 'n', checkId: `service:${id}`, output: '', checkType: 'ttl' },
  };
}

const ids = (list: readonly DiscoveredInstance[]) => list.map((i) => i.record.id);

test('least-loaded: the lowest CPU among the passing ones, whatever the order of the list', () => {
  const list = [
    instance('pi-c', 40),
    instance('pi-a', 12),
    instance('pi-b', 3),
    instance('pi-d', 70),
    instance('pi-e', 25),
  ];
  for (const order of [list, [...list].reverse(), [list[2]!, ...list.slice(0, 2), ...list.slice(3)]]) {
    const result = chooseInstance(order, 'least-loaded')!;
    assert.equal(result.picked.record.id, 'pi-b');
    assert.deepEqual(ids(result.candidates), ['pi-b', 'pi-a', 'pi-e', 'pi-c', 'pi-d']);
    assert.equal(result.reason, 'least loaded of 5 passing');
  }
});

test('least-loaded: ties go to the first id, so the same loads always give the same choice', () => {
  const a = chooseInstance([instance('pi-9', 5), instance('pi-10', 5), instance('pi-2', 5)], 'least-loaded')!;
  const b = chooseInstance([instance('pi-2', 5), instance('pi-9', 5), instance('pi-10', 5)], 'least-loaded')!;
  assert.equal(a.picked.record.id, 'pi-10', 'plain code-unit order, not numeric or the locale');
  assert.equal(b.picked.record.id, 'pi-10');
  assert.equal(a.reason, 'least loaded of 3 passing; tied at 5 % with 2 others, first by id');
});

test('least-loaded: critical and warning are skipped and counted, an instance without a load comes last', () => {
  const result = chooseInstance(
    [
      instance('dead', 0, 'critical'),
      instance('flaky', 1, 'warning'),
      instance('new', null),
      instance('busy', 90),
      instance('calm', 30),
    ],
    'least-loaded',
  )!;
  assert.equal(result.picked.record.id, 'calm');
  assert.deepEqual(ids(result.candidates), ['calm', 'busy', 'new']);
  assert.equal(
    result.reason,
    'least loaded of 3 passing; 1 without a load counted last; 1 critical, 1 warning skipped',
  );

  const noLoads = chooseInstance([instance('b', null), instance('a', null)], 'least-loaded')!;
  assert.equal(noLoads.picked.record.id, 'a');
  assert.equal(noLoads.reason, 'none of 2 passing reports a load: first by id');

  const only = chooseInstance([instance('x', 50), instance('y', 1, 'critical')], 'least-loaded')!;
  assert.equal(only.picked.record.id, 'x');
  assert.equal(only.reason, 'the only one passing; 1 critical skipped');
});

test('round-robin: each passing id in turn from the cursor in the state, wrapping; a newcomer takes its turn', () => {
  const state: PickState = {};
  const list = [instance('c', 1), instance('a', 1), instance('dead', 1, 'critical'), instance('b', 1)];
  const turns = Array.from({ length: 5 }, () => chooseInstance(list, 'round-robin', state)!.picked.record.id);
  assert.deepEqual(turns, ['a', 'b', 'c', 'a', 'b']);
  assert.equal(state.lastId, 'b');
  // 'b' left and 'bb' joined: the cursor is an id, not an index, so nobody is skipped or picked twice.
  const changed = [instance('a', 1), instance('bb', 1), instance('c', 1)];
  assert.equal(chooseInstance(changed, 'round-robin', state)!.picked.record.id, 'bb');
  assert.equal(chooseInstance(changed, 'round-robin', state)!.picked.record.id, 'c');
  assert.match(chooseInstance(changed, 'round-robin', state)!.reason, /^next in turn of 3 passing$/);
  // Without a state every call starts again at the first id.
  assert.equal(chooseInstance(list, 'round-robin')!.picked.record.id, 'a');
  assert.equal(chooseInstance(list, 'round-robin')!.picked.record.id, 'a');
});

test('random: only passing ones, each reachable, the draw taken from the state', () => {
  const list = [
    instance('a', 1, 'critical'),
    instance('b', 99),
    instance('c', 1),
    instance('d', 1, 'warning'),
  ];
  const seen = new Set<string>();
  for (const draw of [0, 0.25, 0.49, 0.5, 0.75, 0.999999, 1, -3, Number.NaN]) {
    const result = chooseInstance(list, 'random', { random: () => draw })!;
    assert.ok(['b', 'c'].includes(result.picked.record.id), `draw ${draw} picked a passing one`);
    seen.add(result.picked.record.id);
    assert.equal(result.reason, 'at random among 2 passing; 1 critical, 1 warning skipped');
  }
  assert.deepEqual([...seen].sort(), ['b', 'c']);
  for (let i = 0; i < 200; i++) {
    assert.notEqual(chooseInstance(list, 'random')!.picked.health, 'critical');
  }
});

test('nothing to choose: undefined for every strategy, and the reason in words', () => {
  for (const strategy of PICK_STRATEGIES) {
    assert.equal(chooseInstance([], strategy), undefined);
    assert.equal(chooseInstance([instance('a', 1, 'critical')], strategy), undefined);
  }
  assert.equal(noPickReason([]), 'no device registered');
  assert.equal(
    noPickReason([instance('a', 1, 'critical'), instance('b', 1, 'critical')]),
    'no passing device (2 critical skipped)',
  );
});

// --- Registry.pick on the fake adapter ---

function registry(adapter: FakeAdapter, requestTimeoutMs = 300) {
  let watches = 0;
  const watchInstances = adapter.watchInstances.bind(adapter);
  adapter.watchInstances = (service, sink) => {
    watches++;
    return watchInstances(service, sink);
  };
  const r = new StoreRegistry(adapter, {
    namespace: 'fleet',
    endpoints: ['fake:0'],
    liveness: DEFAULT_LIVENESS,
    layout: layout('fleet'),
    backoff: { initialMs: 10, maxMs: 50 },
    requestTimeoutMs,
  });
  return { r, watches: () => watches };
}

const hold = (adapter: FakeAdapter, id: string, cpu: number, service = 'web') =>
  adapter.store(
    'write',
    newRecord({ service, id, host: '10.0.0.7', port: 8101, load: loadOf(cpu) }, 'i', new Date(0)),
  );

test('Registry.pick: waits for the first sync, then follows what the store pushes with one watch per service', async () => {
  const adapter = new FakeAdapter();
  hold(adapter, 'pi-a', 20);
  hold(adapter, 'pi-b', 5);
  const { r, watches } = registry(adapter, 5000);
  const first = r.pick('web');
  setTimeout(() => adapter.up(), 30);
  assert.equal((await first)!.picked.record.id, 'pi-b');
  hold(adapter, 'pi-b', 60);
  assert.equal((await r.pick('web', { strategy: 'least-loaded' }))!.picked.record.id, 'pi-a');
  hold(adapter, 'pi-c', 1);
  const result = (await r.pick('web'))!;
  assert.equal(result.picked.record.id, 'pi-c');
  assert.deepEqual(ids(result.candidates), ['pi-c', 'pi-a', 'pi-b']);
  assert.equal(watches(), 1, 'one watch for all the picks of a service');
  assert.equal(await r.pick('other'), undefined, 'no instance of that service');
  assert.equal(watches(), 2);
  // round-robin keeps its cursor in the registry, per service.
  const turns = [];
  for (let i = 0; i < 4; i++)
    turns.push((await r.pick('web', { strategy: 'round-robin' }))!.picked.record.id);
  assert.deepEqual(turns, ['pi-a', 'pi-b', 'pi-c', 'pi-a']);
  await r.close();
});

test('Registry.pick: a store never reached is StoreUnavailableError after one request time; down after a sync, the last known list', async () => {
  const adapter = new FakeAdapter();
  const { r } = registry(adapter, 200);
  const startedAt = Date.now();
  await assert.rejects(r.pick('web'), (e: unknown) => {
    assert.ok(e instanceof StoreUnavailableError);
    assert.match(e.message, /etcd is unavailable: no list of web within 200 ms/);
    return true;
  });
  assert.ok(Date.now() - startedAt < 2000);
  hold(adapter, 'pi-a', 20);
  adapter.up();
  assert.equal((await r.pick('web'))!.reason, 'the only one passing');
  adapter.down();
  const stale = (await r.pick('web'))!;
  assert.equal(stale.picked.record.id, 'pi-a');
  assert.equal(stale.reason, 'the only one passing; etcd is down, so this is from the last known list');
  await r.close();
});

test('Registry.pick: bad input is refused naming the field; close() ends a waiting pick and the views', async () => {
  const adapter = new FakeAdapter();
  const { r } = registry(adapter, 5000);
  await assert.rejects(
    r.pick('web', { strategy: 'fastest' as never }),
    (e: unknown) => e instanceof ValidationError && e.fields.includes('strategy'),
  );
  await assert.rejects(
    r.pick('../etc'),
    (e: unknown) => e instanceof ValidationError && e.fields.includes('service'),
  );
  await assert.rejects(r.pick(42 as never), (e: unknown) => e instanceof ValidationError);
  const waiting = r.pick('web', null as never);
  await r.close();
  await assert.rejects(waiting, (e: unknown) => e instanceof ClosedError);
  await assert.rejects(r.pick('web'), (e: unknown) => e instanceof ClosedError);
});
