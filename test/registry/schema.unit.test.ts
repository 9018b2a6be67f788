import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigValue } from '../../lib/registry/config-keys.ts';
import { ValidationError } from '../../lib/registry/errors.ts';
import { createRegistry } from '../../lib/registry/index.ts';
import {
  DEFAULT_LIVENESS,
  instanceSpecSchema,
  livenessWindowMs,
  parseOrThrow,
} from '../../lib/registry/schema.ts';

const good = { service: 'web', id: '10000000abcdef12', host: '192.168.1.20', port: 8080 };

test('an instance spec: every bad field is reported at once', () => {
  try {
    parseOrThrow(
      instanceSpecSchema,
      { ...good, id: 'a/b', port: 70000, host: 'not a host', surprise: 1 },
      'instance',
    );
    assert.fail('should throw');
  } catch (error) {
    assert.ok(error instanceof ValidationError);
    assert.deepEqual(error.fields.sort(), ['host', 'id', 'port', 'surprise']);
    assert.match(error.message, /port: a whole number from 1 to 65535/);
    assert.match(error.message, /surprise: no such setting/);
  }
  assert.deepEqual(parseOrThrow(instanceSpecSchema, good, 'instance'), good);
});

test("labels: printable, bounded, not in the kit's reserved prefix", () => {
  const bad = (labels: Record<string, string>) =>
    assert.throws(() => parseOrThrow(instanceSpecSchema, { ...good, labels }, 'instance'), ValidationError);
  bad({ zone: 'a\u0000b' });
  bad({ zone: 'x'.repeat(257) });
  bad({ fleet_color: 'red' });
  bad({ '1zone': 'a' });
  bad(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])));
  // Markup is text, not an error: the page renders it as text.
  parseOrThrow(instanceSpecSchema, { ...good, labels: { note: '<img src=x onerror=alert(1)>' } }, 'instance');
});

test('config values: colors are hex or plain names; other keys printable text', () => {
  for (const ok of ['#fff', '#00FF88', 'teal', 'Red'])
    assert.equal(parseConfigValue('color', ok).ok, true, ok);
  for (const bad of ['javascript:alert(1)', 'url(x)', '#12345', 'rgb(1,2,3)', 'x'.repeat(10_000), '']) {
    const parsed = parseConfigValue('color', bad);
    assert.equal(parsed.ok, false, bad.slice(0, 20));
    if (!parsed.ok) assert.match(parsed.expected, /#rgb, #rrggbb or a plain color name/);
  }
  assert.equal(parseConfigValue('motd', 'hello world').ok, true);
  assert.equal(parseConfigValue('motd', 'bell\u0007').ok, false);
});

test('registry options: every bad option named at once, nothing started', () => {
  try {
    createRegistry({
      store: 'etcd',
      endpoints: ['gopher://x:1'],
      namespace: '..',
      liveness: { leaseTtlSeconds: 0, deregisterCriticalAfterSeconds: 5 },
    });
    assert.fail('should throw');
  } catch (error) {
    assert.ok(error instanceof ValidationError);
    assert.deepEqual(error.fields.sort(), [
      'endpoints',
      'liveness.deregisterCriticalAfterSeconds',
      'liveness.leaseTtlSeconds',
      'namespace',
    ]);
  }
  assert.throws(
    () => createRegistry({ store: 'redis' as never, endpoints: ['x'] }),
    /store: one of etcd, zookeeper, consul/,
  );
  for (const bad of [-5, 2.5, 7200, 'often' as unknown as number]) {
    assert.throws(
      () => createRegistry({ store: 'consul', endpoints: ['http://x:8500'], consulLoadIntervalSeconds: bad }),
      (e: unknown) =>
        e instanceof ValidationError &&
        e.fields.includes('consulLoadIntervalSeconds') &&
        /consulLoadIntervalSeconds: a (whole )?number of seconds from 0 to 3600/.test(e.message),
      `consulLoadIntervalSeconds ${String(bad)}`,
    );
  }
});

test('liveness windows: TTL, session timeout, Consul check interval + timeout or TTL', () => {
  const l = {
    ...DEFAULT_LIVENESS,
    leaseTtlSeconds: 3,
    sessionTimeoutMs: 4000,
    checkIntervalSeconds: 2,
    checkTimeoutSeconds: 1,
  };
  assert.equal(livenessWindowMs('etcd', l), 3000);
  assert.equal(livenessWindowMs('zookeeper', l), 4000);
  assert.equal(livenessWindowMs('consul', l), 3000);
  assert.equal(livenessWindowMs('consul', { ...l, consulCheck: 'ttl', checkTtlSeconds: 7 }), 7000);
});
