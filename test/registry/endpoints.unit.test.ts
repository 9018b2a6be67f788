import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseEndpoints } from '../../lib/registry/endpoints.ts';
import { ValidationError } from '../../lib/registry/errors.ts';

test('endpoints: comma lists, default ports and schemes per store, canonical addresses', () => {
  assert.deepEqual(
    parseEndpoints('etcd', 'http://10.0.0.1:2379, 10.0.0.2').map((e) => e.address),
    ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'],
  );
  assert.deepEqual(
    parseEndpoints('zookeeper', ['zk://pi-host:2182', 'localhost']).map((e) => e.address),
    ['pi-host:2182', 'localhost:2181'],
  );
  const [consul] = parseEndpoints('consul', 'https://[::1]:8501');
  assert.deepEqual(consul, { host: '::1', port: 8501, secure: true, address: 'https://[::1]:8501' });
});

test('endpoints: every bad entry is named at once, with what was expected', () => {
  try {
    parseEndpoints('etcd', 'ftp://a:1,http://b:99999,http://c:1/path', 'FLEET_ETCD');
    assert.fail('should throw');
  } catch (error) {
    assert.ok(error instanceof ValidationError);
    assert.equal(error.issues.length, 3);
    assert.ok(error.issues.every((i) => i.field === 'FLEET_ETCD'));
    assert.match(error.message, /scheme "ftp" is not one of http:\/\/, https:\/\//);
    assert.match(error.message, /b:99999/);
    assert.match(error.message, /expected only host and port/);
  }
  assert.throws(() => parseEndpoints('zookeeper', ''), /at least one zookeeper endpoint/);
  assert.throws(() => parseEndpoints('zookeeper', 'http://zk:2181'), /scheme "http" is not one of zk:\/\//);
});
