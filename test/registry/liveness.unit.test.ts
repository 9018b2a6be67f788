import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_LIVENESS, livenessModel } from '../../lib/registry/index.ts';

test('liveness model in words: lease TTL, session timeout, Consul check and when it reaps', () => {
  const l = { ...DEFAULT_LIVENESS, leaseTtlSeconds: 3, sessionTimeoutMs: 4500 };
  assert.deepEqual(livenessModel('etcd', l), {
    windowMs: 3000,
    text: 'lease TTL 3 s',
    reapAfterCriticalMs: null,
  });
  assert.deepEqual(livenessModel('zookeeper', l), {
    windowMs: 4500,
    text: 'session timeout 4.5 s',
    reapAfterCriticalMs: null,
  });
  assert.deepEqual(livenessModel('consul', l), {
    windowMs: 3000,
    text: 'HTTP check every 2 s (timeout 1 s), reaped 60 s after critical',
    reapAfterCriticalMs: 60_000,
  });
  assert.equal(
    livenessModel('consul', { ...l, consulCheck: 'ttl', checkTtlSeconds: 7 }).text,
    'TTL check 7 s, reaped 60 s after critical',
  );
});
