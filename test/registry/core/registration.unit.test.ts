// The registration loop's own logic (core/registration.ts) on a fake adapter with mock timers: retries,
// backoff, lost / held / expired claims, conflicts and the pacing of load-only updates, in milliseconds
// of real time. That each store maps its mechanism onto these claim events is tested against the real
// stores (test/registry/contract.ts).

import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import type { BackoffOptions } from '../../../lib/registry/backoff.ts';
import { RegistrationHandle } from '../../../lib/registry/core/registration.ts';
import {
  ClosedError,
  ConflictError,
  isStoreUnavailableError,
  StoreUnavailableError,
} from '../../../lib/registry/errors.ts';
import { machineLoad } from '../../../lib/registry/load-kinds.ts';
import { newRecord } from '../../../lib/registry/record.ts';
import type { Load, RegistrationState } from '../../../lib/registry/types.ts';
import { FakeAdapter, type FakeAdapterOptions } from '../fake-adapter.ts';

const load = (cpuPercent: number): Load => ({
  cpuPercent,
  load1: 0,
  memUsedPercent: 0,
  temperatureC: null,
  uptimeSeconds: 0,
});

/** Lets every promise that can run without the clock moving run (setImmediate is not mocked). */
const settle = async () => {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** Moves the mock clock and lets what it woke up run. */
async function tick(t: TestContext, ms: number): Promise<void> {
  t.mock.timers.tick(ms);
  await settle();
}

/** Whether a promise has settled yet, without waiting for it. */
function tracked<T>(promise: Promise<T>) {
  const state = { settled: false, error: undefined as unknown };
  promise.then(
    () => {
      state.settled = true;
    },
    (error: unknown) => {
      state.settled = true;
      state.error = error;
    },
  );
  return state;
}

/** A random source that returns these values in turn (then the last one again). */
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)]!;
};

function setup(
  t: TestContext,
  adapterOptions: FakeAdapterOptions = { connected: true },
  backoff: BackoffOptions = { initialMs: 100, maxMs: 1000, random: () => 0.5 },
) {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  const adapter = new FakeAdapter(adapterOptions);
  const record = newRecord({ service: 'web', id: 'dev-1', host: '10.0.0.1', port: 80 }, 'inc-1', new Date(0));
  // The load interval's clock: the mocked Date (MockTimers does not move performance.now()).
  const handle = new RegistrationHandle(adapter, record, backoff, () => Date.now());
  const events: string[] = [];
  const states: RegistrationState[] = [];
  const delays: { attempt: number; delayMs: number }[] = [];
  handle.on('state', (state) => states.push(state));
  handle.on('registered', () => events.push('registered'));
  handle.on('lost', () => events.push('lost'));
  handle.on('expired', (reason) => events.push(`expired: ${reason}`));
  handle.on('conflict', () => events.push('conflict'));
  handle.on('reconnecting', ({ attempt, delayMs }) => {
    events.push(`reconnecting ${attempt}`);
    delays.push({ attempt, delayMs });
  });
  t.after(() => handle.abandon());
  const ops = () => adapter.writes.map((w) => w.op);
  return { adapter, handle, events, states, delays, ops };
}

test('registers when the store comes up, not before', async (t) => {
  const { adapter, handle, events, ops } = setup(t, { connected: false });
  await tick(t, 10_000);
  assert.equal(handle.state, 'pending');
  assert.deepEqual(ops(), [], 'nothing is tried while the store is down');
  adapter.up();
  await settle();
  assert.equal(handle.state, 'registered');
  assert.deepEqual(events, ['registered']);
  assert.deepEqual(ops(), ['claim']);
  assert.equal(adapter.held.get('dev-1')?.incarnation, 'inc-1');
});

test('a failed claim is retried with backoff: delays grow with jitter, and start again after a success', async (t) => {
  const { adapter, handle, delays } = setup(
    t,
    { connected: true },
    {
      initialMs: 100,
      maxMs: 1000,
      random: sequence(0, 0.5, 0.99, 0.5, 0.5),
    },
  );
  adapter.failNextClaims(3);
  await settle();
  assert.equal(handle.state, 'pending');
  // Steps of 100, 200, 400 ms, each delay a random point in the upper half of its step.
  const expected = [50, 150, 398];
  for (const [i, delayMs] of expected.entries()) {
    assert.deepEqual(delays[i], { attempt: i + 1, delayMs });
    await tick(t, delayMs - 1);
    assert.equal(adapter.claimAttempts, i + 1, `no attempt ${i + 2} before its delay`);
    await tick(t, 1);
    assert.equal(adapter.claimAttempts, i + 2, `attempt ${i + 2} at its delay`);
  }
  assert.equal(delays.length, 3);
  assert.equal(handle.state, 'registered');

  // After that success, the next failure waits the first step again.
  adapter.failNextClaims(1);
  adapter.lastClaim.expire();
  await settle();
  assert.deepEqual(delays[3], { attempt: 1, delayMs: 75 });
  await tick(t, 75);
  assert.equal(handle.state, 'registered');
});

test("'expired': registers again at once, with a new claim", async (t) => {
  const { adapter, handle, events, ops } = setup(t);
  await settle();
  const first = adapter.lastClaim;
  first.expire('lease 42 lost');
  assert.equal(adapter.held.has('dev-1'), false);
  await settle();
  assert.deepEqual(events, ['registered', 'expired: lease 42 lost', 'registered']);
  assert.equal(handle.state, 'registered');
  assert.equal(adapter.claims.length, 2);
  assert.notEqual(adapter.lastClaim, first);
  assert.deepEqual(ops(), ['claim', 'claim']);
  assert.equal(adapter.held.has('dev-1'), true);
});

test("'lost' then 'held': the registration is kept, not claimed again; an update waits for 'held'", async (t) => {
  const { adapter, handle, events, states, ops } = setup(t);
  await settle();
  const claim = adapter.lastClaim;
  claim.lose();
  await settle();
  assert.equal(handle.state, 'lost');
  const update = tracked(handle.update({ color: 'red' }));
  await tick(t, 5_000);
  assert.equal(update.settled, false, 'not written while the connection is lost');
  claim.comeBack();
  await settle();
  assert.equal(handle.state, 'registered');
  assert.deepEqual(update, { settled: true, error: undefined });
  assert.deepEqual(events, ['registered', 'lost', 'registered']);
  assert.deepEqual(states, ['registered', 'lost', 'registered']);
  assert.equal(adapter.claims.length, 1, 'the same claim');
  assert.deepEqual(ops(), ['claim', 'write']);
  assert.equal(adapter.held.get('dev-1')?.color, 'red');
});

test('a conflict is retried with backoff until the other holder goes, never overwritten', async (t) => {
  const { adapter, handle, events, delays } = setup(t);
  adapter.heldByOthers.add('dev-1');
  const conflicts: unknown[] = [];
  handle.on('conflict', (error) => conflicts.push(error));
  await settle();
  assert.equal(handle.state, 'conflict');
  assert.ok(conflicts[0] instanceof ConflictError);
  for (let i = 0; i < 4; i++) await tick(t, delays.at(-1)!.delayMs);
  assert.equal(handle.state, 'conflict');
  assert.equal(conflicts.length, 5, 'tried again after each delay');
  assert.deepEqual(
    delays.map((d) => d.attempt),
    [1, 2, 3, 4, 5],
  );
  assert.deepEqual(adapter.writes, [], 'the other holder is never overwritten');

  adapter.heldByOthers.delete('dev-1');
  await tick(t, delays.at(-1)!.delayMs);
  assert.equal(handle.state, 'registered');
  assert.equal(events.at(-1), 'registered');
  assert.equal(adapter.held.get('dev-1')?.incarnation, 'inc-1');
});

test('an update while pending goes with the next registration (no write of its own)', async (t) => {
  const { adapter, handle, ops } = setup(t, { connected: false });
  await settle();
  const update = tracked(handle.update({ color: 'blue', load: load(7) }));
  await tick(t, 1_000);
  assert.equal(update.settled, false);
  assert.equal(handle.record.color, 'blue');
  adapter.up();
  await settle();
  assert.deepEqual(update, { settled: true, error: undefined });
  assert.deepEqual(ops(), ['claim']);
  assert.equal(adapter.held.get('dev-1')?.color, 'blue');
  assert.equal(machineLoad(adapter.held.get('dev-1')?.load)?.cpuPercent, 7);
});

test('load-only updates are written at once where the adapter has no load interval', async (t) => {
  const { adapter, handle, ops } = setup(t, { connected: true, loadIntervalMs: 0 });
  await settle();
  await handle.update({ load: load(1) });
  await handle.update({ load: load(2) });
  assert.deepEqual(ops(), ['claim', 'write', 'write']);
  assert.equal(machineLoad(adapter.held.get('dev-1')?.load)?.cpuPercent, 2);
});

test('load-only updates are held back per loadIntervalMs and coalesced; a color update goes at once with the newest load', async (t) => {
  const { adapter, handle, ops } = setup(t, { connected: false, loadIntervalMs: 1000 });
  await tick(t, 500);
  adapter.up();
  await settle(); // claimed at 500 ms: the interval counts from there
  assert.deepEqual(ops(), ['claim']);

  await tick(t, 100);
  const first = tracked(handle.update({ load: load(1) }));
  await tick(t, 100);
  const second = tracked(handle.update({ load: load(2) }));
  await tick(t, 799); // 1499 ms
  assert.deepEqual(ops(), ['claim'], 'held back until the interval since the last write has passed');
  assert.equal(first.settled, false);
  await tick(t, 1); // 1500 ms
  assert.deepEqual(ops(), ['claim', 'write'], 'two load updates, one write');
  assert.equal(adapter.writes[1]?.at, 1500);
  assert.equal(machineLoad(adapter.held.get('dev-1')?.load)?.cpuPercent, 2);
  assert.deepEqual([first.settled, second.settled], [true, true]);

  await tick(t, 100);
  const third = tracked(handle.update({ load: load(3) }));
  await tick(t, 100); // 1700 ms: the load would wait until 2500 ms
  const color = tracked(handle.update({ color: 'green' }));
  await settle();
  assert.deepEqual(ops(), ['claim', 'write', 'write'], 'the color is written at once');
  assert.equal(adapter.writes[2]?.at, 1700);
  assert.equal(adapter.held.get('dev-1')?.color, 'green');
  assert.equal(machineLoad(adapter.held.get('dev-1')?.load)?.cpuPercent, 3, 'with the newest load');
  assert.deepEqual([third.settled, color.settled], [true, true]);

  await tick(t, 2_000);
  assert.deepEqual(ops(), ['claim', 'write', 'write'], 'nothing left to write when the load timer fires');
});

test('deregister releases the claim: the store no longer holds it, waiting updates fail as closed', async (t) => {
  const { adapter, handle, ops } = setup(t, { connected: true, loadIntervalMs: 1000 });
  await settle();
  const waiting = handle.update({ load: load(9) });
  await handle.deregister();
  assert.equal(handle.state, 'deregistered');
  assert.deepEqual(ops(), ['claim', 'release']);
  assert.equal(adapter.held.has('dev-1'), false);
  await assert.rejects(waiting, ClosedError);
  await assert.rejects(handle.update({ color: 'red' }), ClosedError);
  await tick(t, 10_000);
  assert.deepEqual(ops(), ['claim', 'release'], 'nothing written after deregister');
});

test('deregister while the claim is on its way: the claim is released as soon as it lands', async (t) => {
  const { adapter, handle, ops } = setup(t, { connected: true, claimDelayMs: 100 });
  await settle();
  assert.equal(adapter.claimAttempts, 1);
  const done = tracked(handle.deregister());
  await tick(t, 100);
  assert.deepEqual(done, { settled: true, error: undefined });
  assert.equal(handle.state, 'deregistered');
  assert.deepEqual(ops(), ['claim', 'release']);
  assert.equal(adapter.held.has('dev-1'), false);
});

test('deregister before the store came up: nothing is ever written', async (t) => {
  const { adapter, handle, ops } = setup(t, { connected: false });
  await settle();
  await handle.deregister();
  adapter.up();
  await tick(t, 10_000);
  assert.equal(handle.state, 'deregistered');
  assert.deepEqual(ops(), []);
});

test('a claim that failed because the store went down is retried once it is back', async (t) => {
  const { adapter, handle, delays } = setup(t);
  adapter.failNextClaims(1, new StoreUnavailableError('etcd', 'fake: connection refused'));
  const errors: unknown[] = [];
  handle.on('reconnecting', ({ error }) => errors.push(error));
  await settle();
  assert.ok(isStoreUnavailableError(errors[0]));
  assert.equal(handle.state, 'pending');
  await tick(t, delays[0]!.delayMs);
  assert.equal(handle.state, 'registered');
});
