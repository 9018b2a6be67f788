import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InstanceSink, RawInstance } from '../../../lib/registry/adapters/adapter.ts';
import { InstanceView } from '../../../lib/registry/core/instance-view.ts';
import { MalformedValueError, NotAliveError, StoreUnavailableError } from '../../../lib/registry/errors.ts';
import { newRecord } from '../../../lib/registry/record.ts';
import type { InstanceChange, SkippedCounts } from '../../../lib/registry/types.ts';

const entry = (id: string, cpuPercent = 1): RawInstance => ({
  id,
  key: `/fleet/services/web/${id}`,
  record: newRecord(
    {
      service: 'web',
      id,
      host: '10.0.0.1',
      port: 80,
      load: { cpuPercent, load1: 0, memUsedPercent: 0, temperatureC: null, uptimeSeconds: 0 },
    },
    'i',
    new Date(0),
  ),
  health: 'passing',
  liveness: { model: 'lease', leaseId: '1' },
});

function view() {
  let sink!: InstanceSink;
  let stopped = false;
  const v = new InstanceView('etcd', 'web', (s) => {
    sink = s;
    return () => {
      stopped = true;
    };
  });
  const changes: string[] = [];
  v.on('change', (c: InstanceChange) => changes.push(`${c.type} ${c.instance.record.id}`));
  return { v, sink, changes, stopped: () => stopped };
}

test('snapshots and single events become added / updated / removed, unchanged data stays quiet', () => {
  const { v, sink, changes } = view();
  assert.equal(v.state, 'syncing');
  sink.reset([entry('a'), entry('b')]);
  assert.equal(v.state, 'live');
  sink.reset([entry('a'), entry('b', 50), entry('c')]);
  sink.upsert(entry('c'));
  sink.remove('a');
  sink.remove('nope');
  assert.deepEqual(changes, ['added a', 'added b', 'updated b', 'added c', 'removed a']);
  assert.deepEqual(
    v.instances().map((i) => i.record.id),
    ['b', 'c'],
  );
});

test('store down keeps the last known list and says so; garbage is reported and dropped', () => {
  const { v, sink, changes, stopped } = view();
  const invalid: string[] = [];
  v.on('invalid', (e) => invalid.push(e.key));
  sink.reset([entry('a'), entry('b')]);
  sink.down(new StoreUnavailableError('etcd', 'gone'));
  assert.equal(v.state, 'down');
  assert.equal(v.instances().length, 2, 'down is not an empty list');
  sink.upsert({
    ...entry('b'),
    record: new MalformedValueError('etcd', '/fleet/services/web/b', 'a record'),
  });
  assert.deepEqual(invalid, ['/fleet/services/web/b']);
  assert.deepEqual(changes.at(-1), 'removed b');
  v.close();
  assert.equal(v.state, 'closed');
  assert.ok(stopped());
  sink.upsert(entry('z'));
  assert.equal(v.get('z'), undefined, 'nothing happens after close');
});

test('the same record handed again is "unchanged since": no compare, no change; the same garbage is reported once', () => {
  const { v, sink, changes } = view();
  const invalid: string[] = [];
  v.on('invalid', (e) => invalid.push(e.key));
  const a = entry('a');
  const garbage: RawInstance = {
    ...entry('g'),
    record: new MalformedValueError('consul', 'service web/g', 'a record'),
  };
  sink.reset([a, garbage]);
  const first = v.get('a');
  // Consul's watch re-sends every entry on every change; its unchanged ones are the same objects.
  for (let i = 0; i < 3; i++) sink.reset([a, garbage, entry('b', i)]);
  assert.equal(v.get('a'), first, 'kept as it was');
  assert.deepEqual(invalid, ['service web/g'], 'the unchanged garbage is reported once');
  assert.deepEqual(changes, ['added a', 'added b', 'updated b', 'updated b']);
  // Read again with the same problem (a new object: etcd and ZooKeeper after a resync), it is not
  // named again; gone and back, it is.
  sink.reset([a, { ...garbage, record: new MalformedValueError('consul', 'service web/g', 'a record') }]);
  assert.equal(invalid.length, 1);
  sink.reset([a]);
  sink.reset([a, garbage]);
  assert.equal(invalid.length, 2);
});

test('entries nothing keeps alive and malformed ones are counted apart, never as instances', () => {
  const { v, sink } = view();
  const told: SkippedCounts[] = [];
  v.on('skipped', (counts) => told.push(counts));
  const byHand = (id: string): RawInstance => ({
    ...entry(id),
    record: new NotAliveError('etcd', `/fleet/services/web/${id}`, 'no lease'),
  });
  const garbage = (id: string): RawInstance => ({
    ...entry(id),
    record: new MalformedValueError('etcd', `/fleet/services/web/${id}`, 'a record'),
  });
  sink.reset([entry('a'), byHand('h1'), byHand('h2'), garbage('g1')]);
  assert.deepEqual(v.skipped(), { notAlive: 2, malformed: 1 });
  assert.deepEqual(
    v.instances().map((i) => i.record.id),
    ['a'],
  );
  sink.upsert(entry('h1')); // it got a lease: now an instance
  assert.deepEqual(v.skipped(), { notAlive: 1, malformed: 1 });
  sink.upsert(byHand('a')); // a device's key rewritten by hand without a lease: no longer an instance
  assert.equal(v.get('a'), undefined);
  assert.deepEqual(v.skipped(), { notAlive: 2, malformed: 1 });
  sink.remove('g1');
  sink.remove('h2');
  assert.deepEqual(v.skipped(), { notAlive: 1, malformed: 0 });
  sink.upsert(entry('b')); // counts unchanged: not told again
  assert.deepEqual(told, [
    { notAlive: 2, malformed: 1 },
    { notAlive: 1, malformed: 1 },
    { notAlive: 2, malformed: 1 },
    { notAlive: 2, malformed: 0 },
    { notAlive: 1, malformed: 0 },
  ]);
});

test('a 1 MB id written by hand is named by an excerpt and remembered by a digest', () => {
  const { v, sink } = view();
  const invalid: MalformedValueError[] = [];
  v.on('invalid', (e) => invalid.push(e));
  const id = `x${'\u0007é'.repeat(500_000)}`;
  const key = `/fleet/services/web/${id}`;
  const huge: RawInstance = { ...entry(id), key, record: new MalformedValueError('etcd', key, 'a record') };
  sink.reset([huge]);
  sink.reset([{ ...huge, record: new MalformedValueError('etcd', key, 'a record') }]);
  assert.equal(invalid.length, 1, 'named once');
  assert.ok(invalid[0]!.message.length < 300, `a short message (${invalid[0]!.message.length} characters)`);
  assert.match(invalid[0]!.message, /\(1000021 characters\)/);
  assert.ok(!invalid[0]!.message.includes('\u0007'), 'control characters escaped');
  assert.deepEqual(v.skipped(), { notAlive: 0, malformed: 1 });
  sink.remove(id);
  assert.deepEqual(v.skipped(), { notAlive: 0, malformed: 0 });
});
