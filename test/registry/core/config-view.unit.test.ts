// The config view's own logic (core/config-view.ts and the watch-view base it shares with the instance
// view) on the fake adapter: states, validated values only, the last good value kept, close().
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigView } from '../../../lib/registry/core/config-view.ts';
import { type RegistryError, StoreUnavailableError } from '../../../lib/registry/errors.ts';
import type { WatchState } from '../../../lib/registry/types.ts';
import { FakeAdapter } from '../fake-adapter.ts';

function view(adapter: FakeAdapter, key = 'color') {
  const v = new ConfigView('etcd', key, `/fleet/config/${key}`, (sink) => adapter.watchConfig(key, sink));
  const told: string[] = [];
  v.on('state', (state: WatchState, error?: RegistryError) =>
    told.push(error ? `${state}: ${error.code}` : state),
  );
  v.on('value', (value) => told.push(`value ${value}`));
  v.on('invalid', (error) => told.push(`invalid ${error.code}`));
  return { v, told };
}

test('a config view: syncing until the store answers, live with each new value, the same value told once', async () => {
  const adapter = new FakeAdapter();
  const { v, told } = view(adapter);
  assert.equal(v.state, 'syncing');
  adapter.up();
  assert.equal(v.state, 'live');
  await adapter.writeConfig('color', 'red');
  await adapter.writeConfig('color', 'red');
  await adapter.writeConfig('color', 'blue');
  assert.equal(v.value, 'blue');
  assert.deepEqual(told, ['live', 'value undefined', 'value red', 'value blue']);
});

test('a config view keeps its last good value while the store is down and when a bad value comes', async () => {
  const adapter = new FakeAdapter({ connected: true });
  await adapter.writeConfig('color', 'red');
  const { v, told } = view(adapter); // the adapter hands what it knows at once, before listeners
  assert.equal(v.state, 'live');
  assert.equal(v.value, 'red');
  adapter.down();
  assert.equal(v.state, 'down');
  assert.equal(v.value, 'red', 'store down is not "no value"');
  adapter.up();
  await adapter.writeConfig('color', 'not a color!');
  assert.equal(v.value, 'red');
  assert.deepEqual(told, ['down: STORE_UNAVAILABLE', 'live', 'invalid MALFORMED_VALUE']);
});

test('close() stops the watch and nothing is told after it', async () => {
  const adapter = new FakeAdapter({ connected: true });
  const { v, told } = view(adapter, 'motd');
  v.close();
  assert.equal(v.state, 'closed');
  await adapter.writeConfig('motd', 'hello');
  adapter.down();
  adapter.up();
  // What an adapter hands after the stop (a read that was in flight) is dropped too.
  v.down(new StoreUnavailableError('etcd', 'late'));
  v.set('late');
  v.close();
  assert.equal(v.state, 'closed');
  assert.deepEqual(told, ['closed']);
  assert.equal(v.value, undefined);
});
