// The bench's hop stamps (FLEET_BENCH_TRACE): off by default, named when misspelt; with it, each batch
// carries when the watches handed its changes over, when it left, and a color's acknowledgements; the
// page keeps them (window.__fleetTrace) without showing them, and keeps nothing without them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { isSettingsError } from '../../lib/cli/settings-error.ts';
import { parseServerConfig } from '../../server/config.ts';
import type { DeviceView, FleetChanges } from '../../server/contract.ts';
import { ChangeBatcher, traceNow } from '../../server/fleet/batcher.ts';
import { MAX_TRACED_BATCHES, recordTrace, type TracedBatch } from '../../server/page/bench-trace.ts';
import { wallClock } from '../../server/wall-clock.ts';

const base = { FLEET_ETCD: 'http://127.0.0.1:2379' };
const traceSetting = (argv: string[], env: Record<string, string> = {}) => {
  const parsed = parseServerConfig({ argv, env: { ...base, ...env } });
  return parsed.help ? undefined : parsed.config.benchTrace;
};
const device = (id: string, color: string | null = null) =>
  ({ store: 'etcd', id, color, load: null, updatedAt: '2026-12-03T00:00:00.000Z' }) as unknown as DeviceView;

test('off unless asked for; the flag and the variable turn it on; a bad value is named', () => {
  assert.equal(traceSetting([]), false);
  assert.equal(traceSetting(['--bench-trace']), true);
  assert.equal(traceSetting([], { FLEET_BENCH_TRACE: 'on' }), true);
  assert.equal(traceSetting([], { FLEET_BENCH_TRACE: 'off' }), false);
  assert.throws(
    () => parseServerConfig({ argv: [], env: { ...base, FLEET_BENCH_TRACE: 'sometimes' } }),
    (error) => isSettingsError(error) && /FLEET_BENCH_TRACE/.test(error.message),
  );
});

test('a traced batch carries the last watch stamp per device, its colors and when it left', async () => {
  const sent: FleetChanges[] = [];
  const batcher = new ChangeBatcher((changes) => sent.push(changes));
  const t0 = traceNow();
  batcher.queue({
    devices: [device('pi-1', 'red')],
    trace: { watched: [{ store: 'etcd', id: 'pi-1', at: 1 }] },
  });
  batcher.queue({
    devices: [device('pi-1', 'blue')],
    trace: { watched: [{ store: 'etcd', id: 'pi-1', at: 2 }] },
  });
  batcher.queue({
    trace: { colors: [{ color: '#123456', requestedAt: 3, acked: [{ store: 'etcd', at: 4 }] }] },
  });
  await nextTurn();
  assert.equal(sent.length, 1);
  const trace = sent[0]!.trace!;
  assert.deepEqual(trace.watched, [{ store: 'etcd', id: 'pi-1', at: 2 }]);
  assert.deepEqual(trace.colors, [{ color: '#123456', requestedAt: 3, acked: [{ store: 'etcd', at: 4 }] }]);
  assert.ok(trace.sentAt >= t0 && trace.sentAt <= traceNow(), 'sentAt on the epoch clock, at the flush');
  // Without trace parts (the setting off), no trace key at all.
  batcher.queue({ devices: [device('pi-2')] });
  await nextTurn();
  assert.equal('trace' in sent[1]!, false);
});

test('the page keeps traced batches only, at most MAX_TRACED_BATCHES of them', () => {
  const g = globalThis as unknown as { window?: { __fleetTrace?: TracedBatch[] } };
  const had = g.window;
  g.window = {};
  try {
    const plain: FleetChanges = {
      serverTime: 0,
      devices: [device('pi-1')],
      gone: [],
      stores: [],
      timeline: [],
    };
    recordTrace(plain, 5);
    assert.equal(g.window.__fleetTrace, undefined, 'nothing kept without the setting');
    const traced = {
      ...plain,
      trace: { sentAt: 4, watched: [{ store: 'etcd' as const, id: 'pi-1', at: 3 }] },
    };
    for (let i = 0; i < MAX_TRACED_BATCHES + 10; i++) recordTrace(traced, i);
    const kept = g.window.__fleetTrace!;
    assert.equal(kept.length, MAX_TRACED_BATCHES);
    assert.equal(kept[0]!.receivedAt, 10, 'the oldest go first');
    assert.deepEqual(kept[0]!.views, [['etcd', 'pi-1', null, null, '2026-12-03T00:00:00.000Z']]);
  } finally {
    g.window = had;
  }
});

test('the stamps follow the wall clock now, at sub-ms resolution, even when it moves after the start', () => {
  // A wall clock of whole ms (floored) and a monotonic clock; the true offset between them is 1000.3.
  let mono = 0;
  let step = 0;
  const truth = () => 1000.3 + mono + step;
  const clock = wallClock(
    () => Math.floor(truth()),
    () => mono,
  );
  const errors: number[] = [];
  for (; mono < 50; mono += 0.07) errors.push(Math.abs(clock() - truth()));
  assert.ok(Math.max(...errors.slice(20)) < 0.1, 'settles within 0.1 ms of the wall clock');
  step = 121; // the wall clock jumps ahead (as between the bench's start and the server's, once)
  clock();
  assert.ok(Math.abs(clock() - truth()) <= 1, 'follows a step forward at once');
  for (let i = 0; i < 50; i++, mono += 0.07) clock();
  assert.ok(Math.abs(clock() - truth()) < 0.1);
  step = 21; // and back
  clock();
  assert.ok(Math.abs(clock() - truth()) <= 1.5, 'follows a step back at once');
  // The real clocks: within a few ms of Date.now().
  assert.ok(Math.abs(wallClock()() - Date.now()) < 5);
});
