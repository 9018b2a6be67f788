import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../../lib/cli/log.ts';
import { bindCommands } from '../../../server/commands.ts';
import type { DeviceView, TimelineEntry } from '../../../server/contract.ts';
import { Timeline } from '../../../server/fleet/timeline.ts';

const log = createLogger('test', 'silent');
const commands = bindCommands('etcd', {
  endpoint: 'http://127.0.0.1:2379',
  namespace: 'fleet',
  service: 'pis',
});
const view = (over: Partial<DeviceView> = {}) =>
  ({
    store: 'etcd',
    id: 'pi-1',
    host: '10.0.0.5',
    port: 8080,
    health: 'passing',
    color: null,
    ...over,
  }) as DeviceView;

test('an entry leaves out what its note leaves out (null), and clips its text and command', () => {
  const added: TimelineEntry[] = [];
  const timeline = new Timeline(log, (entry) => added.push(entry));
  timeline.note({ kind: 'store-up', store: 'consul', text: `x${'y'.repeat(1000)}` });
  const [entry] = added;
  assert.equal(entry!.seq, 1);
  assert.equal(entry!.deviceId, null);
  assert.equal(entry!.latencyMs, null);
  assert.equal(entry!.command, null);
  assert.ok(entry!.text.length <= 300);
  assert.deepEqual(timeline.list(), added);
});

test('a page gets the newest 200 entries; the export keeps 5,000 (trimmed in steps of at most 500)', () => {
  const timeline = new Timeline(log, () => {});
  for (let i = 0; i < 250; i++) timeline.note({ kind: 'invalid', text: `entry ${i}` });
  const recent = timeline.recent();
  assert.equal(recent.length, 200);
  assert.equal(recent[0]!.text, 'entry 50');
  assert.equal(timeline.list().length, 250);
  for (let i = 250; i < 6000; i++) timeline.note({ kind: 'invalid', text: `entry ${i}` });
  const kept = timeline.list();
  assert.ok(kept.length >= 5000 && kept.length <= 5500, `${kept.length}`);
  assert.equal(kept.at(-1)!.text, 'entry 5999');
  assert.equal(timeline.find(5999)?.text, 'entry 5998');
});

test('a store losing a device is measured from the presenter unplugging it, the next store from the first', () => {
  const added: TimelineEntry[] = [];
  const timeline = new Timeline(log, (entry) => added.push(entry));
  const unpluggedAt = Date.now();
  timeline.presenterLost('pi-1', 'unplug');
  const now = unpluggedAt + 5100;
  timeline.removed({ store: 'etcd', commands, now, id: 'pi-1', previous: view(), reaped: false });
  timeline.joined({ store: 'etcd', commands, now, view: view() });
  timeline.removed({
    store: 'zookeeper',
    commands,
    now: now + 10,
    id: 'pi-1',
    previous: view(),
    reaped: false,
  });
  timeline.removed({ store: 'etcd', commands, now: now + 2000, id: 'pi-1', previous: view(), reaped: false });
  const [unplugged, gone, joined, left, expired] = added;
  assert.equal(unplugged!.text, 'pi-1: unplugged by the presenter');
  assert.equal(gone!.kind, 'expired');
  assert.match(gone!.text, /^pi-1 gone from etcd, 5\.\d s after it was unplugged$/);
  // presenterLost stamps its own Date.now(), which may be a few ms after unpluggedAt.
  assert.ok(gone!.latencyMs! > 5050 && gone!.latencyMs! <= 5100, String(gone!.latencyMs));
  assert.equal(
    gone!.command,
    "etcdctl --endpoints=http://127.0.0.1:2379 watch --prefix '/fleet/services/pis/'",
  );
  assert.equal(joined!.text, 'pi-1 joined etcd at 10.0.0.5:8080');
  assert.deepEqual([left!.kind, left!.text, left!.latencyMs], ['left', 'pi-1 gone from zookeeper', null]);
  assert.deepEqual(
    [expired!.kind, expired!.text],
    ['expired', 'pi-1 gone from etcd, 2.0 s after zookeeper lost it'],
  );
});

test('critical, passing again, reaped, and a color applied after it was set', () => {
  const added: TimelineEntry[] = [];
  const timeline = new Timeline(log, (entry) => added.push(entry));
  const consul = bindCommands('consul', {
    endpoint: 'http://127.0.0.1:8500',
    namespace: 'fleet',
    service: 'pis',
  });
  const now = Date.now();
  const critical = view({
    store: 'consul',
    health: 'critical',
    criticalSince: now,
    liveness: { model: 'check', output: 'connection refused\nmore' } as DeviceView['liveness'],
  });
  timeline.changed({
    store: 'consul',
    commands: consul,
    now,
    previous: view({ store: 'consul' }),
    view: critical,
  });
  timeline.changed({
    store: 'consul',
    commands: consul,
    now,
    previous: critical,
    view: view({ store: 'consul' }),
  });
  timeline.removed({
    store: 'consul',
    commands: consul,
    now: now + 61_000,
    id: 'pi-1',
    previous: critical,
    reaped: true,
  });
  timeline.colorSetting('red');
  timeline.changed({
    store: 'etcd',
    commands,
    now: Date.now(),
    previous: view(),
    view: view({ color: 'red' }),
  });
  assert.deepEqual(
    added.map((e) => [e.kind, e.text.replace(/\d+ ms/, 'N ms')]),
    [
      ['critical', 'pi-1 critical in consul (connection refused)'],
      ['recovered', 'pi-1 passing again in consul'],
      ['reaped', 'pi-1 reaped by consul 61.0 s after it turned critical'],
      ['updated-color', 'pi-1 applied red (etcd), N ms after it was set'],
    ],
  );
  assert.equal(added[2]!.latencyMs, null);
  assert.equal(typeof added[3]!.latencyMs, 'number');
});
