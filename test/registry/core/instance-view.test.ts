import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InstanceSink, RawInstance } from '../../../registry/adapters/adapter.ts';
import { InstanceView } from '../../../registry/core/instance-view.ts';
import { MalformedValueError, StoreUnavailableError } from '../../../registry/errors.ts';
import { newRecord } from '../../../registry/record.ts';
import type { InstanceChange } from '../../../registry/types.ts';

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
  // Rewritten (a new object), it is reported again; gone and back, too.
  sink.reset([a, { ...garbage, record: new MalformedValueError('consul', 'service web/g', 'a record') }]);
  sink.reset([a]);
  sink.reset([a, garbage]);
  assert.equal(invalid.length, 3);
});
