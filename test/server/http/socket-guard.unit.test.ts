// The socket layer's guards without a network: the token check, the answers, the token bucket.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import {
  answering,
  MAX_ERROR_CHARS,
  RefusedError,
  sameToken,
  shortError,
  TokenBucket,
} from '../../../server/http/socket-guard.ts';

const silent = pino({ level: 'silent' });

test('sameToken: only the very string; never throws, whatever the length in bytes', () => {
  const token = 'test-presenter-token';
  assert.equal(sameToken(token, token), true);
  for (const given of ['é'.repeat(token.length), '😀'.repeat(10), '', `${token}x`, '\ud800'.repeat(20)]) {
    assert.equal(sameToken(given, token), false);
  }
  for (const given of [undefined, null, 42, [token], { toString: () => token }]) {
    assert.equal(sameToken(given, token), false);
  }
});

test('shortError: capped, and safe on objects without a prototype', () => {
  assert.equal(shortError(new Error('x'.repeat(1000))).length, MAX_ERROR_CHARS);
  assert.equal(shortError(Object.create(null)), 'internal error');
});

const ask = (handler: (payload: unknown) => unknown, ...args: unknown[]) =>
  new Promise((resolve) => answering(silent, 'test', handler)(...args, resolve));

test('answering: a result, a throw or a rejection becomes the answer; the payload is the first argument', async () => {
  assert.deepEqual(await ask((p) => p, { a: 1 }), { ok: true, data: { a: 1 } });
  assert.deepEqual(await ask((p) => p), { ok: true, data: null }, 'no payload: the ack is not the payload');
  assert.deepEqual(
    await ask(() => {
      throw new RefusedError('no');
    }, 1),
    { ok: false, error: 'no' },
  );
  assert.deepEqual(await ask(async () => Promise.reject(new Error('late')), 1), { ok: false, error: 'late' });
  assert.deepEqual(await ask((p) => p, 1, 2, 3), { ok: true, data: 1 }, 'the ack is the last argument');
});

test('answering: without an ack the handler does not run', () => {
  let ran = false;
  answering(silent, 'test', () => (ran = true))({ a: 1 });
  assert.equal(ran, false);
});

test('TokenBucket: a burst, then the refill rate', () => {
  let now = 0;
  const bucket = new TokenBucket(3, 2, () => now);
  assert.deepEqual(
    [1, 2, 3, 4].map(() => bucket.take()),
    [true, true, true, false],
  );
  now += 500; // one token back at 2 a second
  assert.deepEqual([bucket.take(), bucket.take()], [true, false]);
  now += 60_000; // never more than the burst
  assert.equal([1, 2, 3, 4].filter(() => bucket.take()).length, 3);
});
