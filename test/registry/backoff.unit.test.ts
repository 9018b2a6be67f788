import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff, withBackoff } from '../../lib/registry/backoff.ts';

test('backoff doubles up to its cap, jittered within the upper half of each step, and resets', () => {
  const low = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
  const high = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.999999 });
  assert.deepEqual(
    Array.from({ length: 6 }, () => low.next()),
    [50, 100, 200, 400, 500, 500],
  );
  assert.deepEqual(
    Array.from({ length: 6 }, () => high.next()),
    [100, 200, 400, 800, 1000, 1000],
  );
  low.reset();
  assert.equal(low.next(), 50);
  assert.equal(low.attempt, 1);
});

test('withBackoff retries until success, telling onRetry each time', async () => {
  let calls = 0;
  const retries: number[] = [];
  const result = await withBackoff(
    async () => {
      calls++;
      if (calls < 3) throw new Error(`fail ${calls}`);
      return 'ok';
    },
    { initialMs: 1, maxMs: 2, onRetry: (_e, attempt) => void retries.push(attempt) },
  );
  assert.equal(result, 'ok');
  assert.equal(calls, 3);
  assert.deepEqual(retries, [1, 2]);
});

test('withBackoff stops when onRetry says so, and when the signal aborts', async () => {
  await assert.rejects(
    withBackoff(() => Promise.reject(new Error('no')), { initialMs: 1, onRetry: () => false }),
    /no/,
  );
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 30);
  const started = Date.now();
  await assert.rejects(
    withBackoff(() => Promise.reject(new Error('down')), { initialMs: 10_000, signal: controller.signal }),
    /down/,
  );
  assert.ok(Date.now() - started < 1000, 'an abort ends the wait at once');
});

test('withBackoff hands the backoff to a long-lived call, which resets it once it made progress', async () => {
  const delays: number[] = [];
  let calls = 0;
  await withBackoff(
    async (backoff) => {
      calls++;
      if (calls === 3) backoff.reset(); // a watch that came up, then broke again
      if (calls < 5) throw new Error(`fail ${calls}`);
    },
    {
      initialMs: 2,
      maxMs: 100,
      random: () => 0,
      onRetry: (_e, _attempt, delayMs) => void delays.push(delayMs),
    },
  );
  assert.deepEqual(delays, [1, 2, 1, 2]);
});
