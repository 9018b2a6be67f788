// Secure clusters (`fleetkit stores --secure --members 3`): every member requires the credentials, the
// setup runs on each member at once (races read back and retried), and a member restarted rejoins
// still requiring them. Raw clients only.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Etcd3, EtcdPermissionDeniedError } from 'etcd3';
import { type StoreCluster, startCluster } from '../../provision/stores/index.ts';
import { makeSecureFolder, roleCredentials, type SecureFolder } from '../../provision/stores/secure/index.ts';
import { zkCode, zkSession } from '../support/secure-stores.ts';

// Measured here, one store after another: a secure cluster of 3 in 5.1-6.7 s (etcd), 5.1-6.0 s (Consul),
// 4.8-6.7 s (ZooKeeper), a Consul member restarted with its setup in 1.3 s; the file 26 s. Bound: 3x.
describe('secure clusters of 3: every member requires the credentials', { timeout: 78_000 }, () => {
  let dir: string;
  let folder: SecureFolder;
  const clusters: StoreCluster[] = [];
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fleetkit-secure-cluster-'));
    folder = await makeSecureFolder(path.join(dir, 'secure'));
  });
  after(async () => {
    for (const cluster of clusters) await cluster.stop({ removeData: true });
    await rm(dir, { recursive: true, force: true });
  });
  const start = async (kind: 'etcd' | 'consul' | 'zookeeper') => {
    const cluster = await startCluster(kind, {
      members: 3,
      secure: { folder, namespace: 'fleet' },
      startTimeoutMs: 60_000,
    });
    clusters.push(cluster);
    return cluster;
  };

  test('etcd: each member wants a certificate and a user; the device cannot write config on any', async (t) => {
    const started = Date.now();
    const cluster = await start('etcd');
    t.diagnostic(`secure etcd cluster of 3 in ${Date.now() - started} ms`);
    const c = (await roleCredentials(folder, 'device')).etcd ?? {};
    for (const endpoint of cluster.endpoints) {
      const device = new Etcd3({
        hosts: [endpoint],
        credentials: {
          rootCertificate: Buffer.from(c.ca ?? ''),
          certChain: Buffer.from(c.cert ?? ''),
          privateKey: Buffer.from(c.key ?? ''),
        },
        auth: { username: c.username ?? '', password: c.password ?? '' },
      });
      try {
        await device.put(`/fleet/services/web/${path.basename(endpoint)}`).value('{}');
        await assert.rejects(
          device.put('/fleet/config/color').value('"black"').exec(),
          EtcdPermissionDeniedError,
        );
      } finally {
        device.close();
      }
      const plain = await fetch(`${endpoint.replace('https:', 'http:')}/v3/kv/range`, {
        method: 'POST',
        body: '{"key":"Lw=="}',
        signal: AbortSignal.timeout(5_000),
      })
        .then((r) => `HTTP ${r.status}`)
        .catch((error: Error) => `refused: ${error.message}`);
      assert.doesNotMatch(plain, /^HTTP 200/);
    }
  });

  test('Consul: anonymous refused on every member, the server token works on each; a restarted member too', async (t) => {
    const started = Date.now();
    const cluster = await start('consul');
    t.diagnostic(`secure Consul cluster of 3 in ${Date.now() - started} ms`);
    const server = folder.secrets.consul.server;
    const put = (endpoint: string, token?: string) =>
      fetch(`${endpoint}/v1/kv/fleet/config/color`, {
        method: 'PUT',
        body: '"teal"',
        headers: token ? { 'X-Consul-Token': token } : {},
        signal: AbortSignal.timeout(5_000),
      }).then((r) => r.status);
    for (const endpoint of cluster.endpoints) {
      assert.equal(await put(endpoint), 403);
      assert.equal(await put(endpoint, server), 200);
    }
    const restartedAt = Date.now();
    await cluster.members[0]?.restart();
    t.diagnostic(`member 1 restarted (setup again) in ${Date.now() - restartedAt} ms`);
    assert.equal(await put(cluster.endpoints[0] as string), 403);
    assert.equal(await put(cluster.endpoints[0] as string, server), 200);
  });

  test('ZooKeeper: the namespace ACLs reach every member', async (t) => {
    const started = Date.now();
    const cluster = await start('zookeeper');
    t.diagnostic(`secure ZooKeeper cluster of 3 in ${Date.now() - started} ms`);
    for (const endpoint of cluster.endpoints) {
      const client = await zkSession(endpoint);
      try {
        assert.equal(
          await zkCode((done) => client.create('/fleet/config/color', Buffer.from('x'), done)),
          'NO_AUTH',
          endpoint,
        );
      } finally {
        client.close();
      }
    }
  });
});
