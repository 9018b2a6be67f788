// Secure mode of the stores (issue 17): what each real store enforces with `fleetkit stores --secure`'s
// credentials, checked with raw clients (etcd3, fetch, node-zookeeper-client), not the kit's adapters.
// Time bounds are 3x what was measured here (commit message: the figures).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EtcdAuthenticationFailedError, EtcdPermissionDeniedError } from 'etcd3';
import zookeeper, { type ACL, type Client } from 'node-zookeeper-client';
import { startStore } from '../../provision/stores/index.ts';
import { makeSecureFolder } from '../../provision/stores/secure/index.ts';
import { FLEETKIT } from '../support/agents.ts';
import { eventually } from '../support/eventually.ts';
import {
  etcdWithCertificate,
  etcdWithoutCertificate,
  type SecureStores,
  startSecureStores,
  zkCode,
  zkSession,
} from '../support/secure-stores.ts';

const NS = 'fleet';

/** Every regular file and folder below `dir`, with its mode. */
async function walk(dir: string): Promise<{ file: string; dir: boolean; mode: number }[]> {
  const out: { file: string; dir: boolean; mode: number }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    out.push({ file, dir: entry.isDirectory(), mode: (await stat(file)).mode & 0o777 });
    if (entry.isDirectory()) out.push(...(await walk(file)));
  }
  return out;
}

function etcdAs(
  s: SecureStores,
  role: 'device' | 'server' | 'admin',
  auth?: { username: string; password: string },
) {
  return etcdWithCertificate(s.endpoints.etcd, s.roles[role].credentials.etcd, auth);
}

const zk = (s: SecureStores, auth?: string): Promise<Client> =>
  zkSession(s.endpoints.zookeeper.join(','), auth);

function parentAcl(client: Client, node: string): Promise<ACL[]> {
  return new Promise((resolve, reject) =>
    client.getACL(path.posix.dirname(node), (error, acls) => (error ? reject(error) : resolve(acls))),
  );
}

const create = (client: Client, node: string, acls: ACL[], mode = zookeeper.CreateMode.PERSISTENT) =>
  zkCode((done) => client.create(node, Buffer.from('{}'), acls, mode, (e) => done(e)));

// Measured: 9.3-15 s for the suite (stores up in 2.3-5.3 s, three restarts 5.9-8.1 s; the machine busy).
describe('secure stores: what each real store enforces', { timeout: 45_000 }, () => {
  let s: SecureStores;
  let startMs = 0;
  before(async () => {
    const started = Date.now();
    s = await startSecureStores({ namespace: NS });
    startMs = Date.now() - started;
  });
  after(() => s?.stop());

  test('the folder: 0700/0600, certificates from 2000 with SANs, relative PEM paths, a re-run reuses it', async (t) => {
    t.diagnostic(`three secure stores up (folder made, users/ACLs/tokens set) in ${startMs} ms`);
    const entries = await walk(s.folder.dir);
    assert.equal((await stat(s.folder.dir)).mode & 0o777, 0o700);
    for (const entry of entries) {
      assert.equal(entry.mode, entry.dir ? 0o700 : 0o600, `${entry.file} mode ${entry.mode.toString(8)}`);
    }
    for (const role of ['device', 'server', 'admin'] as const) {
      const own = (await readdir(s.folder.roles[role].dir)).sort();
      assert.deepEqual(own, ['ca.pem', 'client-key.pem', 'client.pem', 'credentials.env'], role);
    }
    const ca = new X509Certificate(await readFile(s.folder.files.ca));
    const server = new X509Certificate(await readFile(s.folder.files.etcdServerCert));
    for (const cert of [ca, server]) {
      assert.equal(new Date(cert.validFrom).toISOString(), '2000-01-01T00:00:00.000Z');
      const years = (new Date(cert.validTo).getTime() - Date.now()) / (365.25 * 24 * 3600 * 1000);
      assert.ok(years > 9.9 && years < 10.1, `valid about 10 more years, not ${years}`);
    }
    assert.ok(ca.ca, 'the CA is a CA');
    assert.ok(server.verify(ca.publicKey), 'the server certificate is signed by the CA');
    const sans = server.subjectAltName ?? '';
    for (const name of [
      'IP Address:127.0.0.1',
      'IP Address:0:0:0:0:0:0:0:1',
      'DNS:localhost',
      'IP Address:10.77.0.1',
    ])
      assert.ok(sans.includes(name), `SAN ${name} in ${sans}`);
    if (/^[A-Za-z0-9.-]+$/.test(os.hostname())) assert.ok(sans.includes(`DNS:${os.hostname()}`), sans);
    for (const [role, user] of [
      ['device', 'fleet-device'],
      ['server', 'fleet-server'],
      ['admin', 'root'],
    ] as const) {
      const cert = new X509Certificate(await readFile(s.folder.roles[role].cert));
      assert.match(cert.subject, new RegExp(`CN=${user}$`), 'CN = the etcd user');
      assert.ok(cert.verify(ca.publicKey));
      assert.equal(new Date(cert.validFrom).getUTCFullYear(), 2000);
    }
    // credentials.env: relative PEM paths, the role's own secrets only.
    const device = await readFile(s.folder.roles.device.env, 'utf8');
    assert.match(device, /^FLEET_ETCD_CA=ca\.pem$/m);
    assert.match(device, /^FLEET_ETCD_CERT=client\.pem$/m);
    assert.match(device, /^FLEET_ETCD_KEY=client-key\.pem$/m);
    assert.match(device, /^FLEET_ETCD_USER=fleet-device$/m);
    assert.match(device, /^FLEET_ZOOKEEPER_AUTH=device:/m);
    const secrets = s.folder.secrets;
    for (const other of [
      secrets.etcd.root,
      secrets.etcd.server,
      secrets.consul.master,
      secrets.consul.agent,
      secrets.consul.server,
      secrets.zookeeper.super,
      secrets.zookeeper.server,
    ])
      assert.ok(!device.includes(other), "no other role's secret in the device file");
    // A second run: same CA, same secrets, same certificates; nothing made again.
    const before = await Promise.all(entries.filter((e) => !e.dir).map((e) => readFile(e.file, 'utf8')));
    const started = Date.now();
    const again = await makeSecureFolder(s.folder.dir);
    t.diagnostic(`re-run of the folder: ${Date.now() - started} ms`);
    assert.equal(again.created, false);
    assert.deepEqual(again.secrets, s.folder.secrets);
    const afterwards = await Promise.all(entries.filter((e) => !e.dir).map((e) => readFile(e.file, 'utf8')));
    assert.deepEqual(afterwards, before, 'every file as it was');
  });

  test('etcd: no client certificate, no entry; the device writes services/ only; the server config/', async () => {
    // TLS with --client-cert-auth: without a certificate the request never reaches etcd.
    const anonymous = await etcdWithoutCertificate(
      s.endpoints.etcd[0] ?? '',
      s.roles.device.credentials.etcd?.ca ?? '',
      NS,
    );
    assert.doesNotMatch(anonymous, /^HTTP 200/, anonymous);
    // Plain HTTP on the same port: no answer of etcd's either.
    const plain = await fetch(`${s.endpoints.etcd[0]?.replace('https:', 'http:')}/v3/kv/range`, {
      method: 'POST',
      body: '{"key":"Lw=="}',
      signal: AbortSignal.timeout(5_000),
    })
      .then((r) => `HTTP ${r.status}`)
      .catch((error: Error) => `refused: ${error.message}`);
    assert.doesNotMatch(plain, /^HTTP 200/, plain);

    const device = etcdAs(s, 'device', { username: 'fleet-device', password: s.folder.secrets.etcd.device });
    const server = etcdAs(s, 'server', { username: 'fleet-server', password: s.folder.secrets.etcd.server });
    const wrong = etcdAs(s, 'device', { username: 'fleet-device', password: 'not-the-password' });
    try {
      await device.put(`/${NS}/services/web/d1`).value('{"id":"d1"}');
      assert.equal(await device.get(`/${NS}/services/web/d1`).string(), '{"id":"d1"}');
      await assert.rejects(
        device.put(`/${NS}/config/color`).value('"black"').exec(),
        EtcdPermissionDeniedError,
      );
      await assert.rejects(device.put('/elsewhere').value('x').exec(), EtcdPermissionDeniedError);
      await assert.rejects(device.auth.authDisable(), EtcdPermissionDeniedError);
      await assert.rejects(device.user('intruder').create('pw'), EtcdPermissionDeniedError);
      await assert.rejects(
        device.cluster.memberAdd({ peerURLs: ['http://127.0.0.1:1'] }),
        EtcdPermissionDeniedError,
      );
      await assert.rejects(
        wrong.put(`/${NS}/services/web/d2`).value('x').exec(),
        EtcdAuthenticationFailedError,
      );

      await server.put(`/${NS}/config/color`).value('"teal"');
      assert.equal(await device.get(`/${NS}/config/color`).string(), '"teal"', 'the device reads config');
      assert.equal(await server.get(`/${NS}/services/web/d1`).string(), '{"id":"d1"}');
      await assert.rejects(server.put('/elsewhere').value('x').exec(), EtcdPermissionDeniedError);
      await assert.rejects(server.auth.authDisable(), EtcdPermissionDeniedError);
    } finally {
      device.close();
      server.close();
      wrong.close();
    }
  });

  test('Consul: no token, no write and empty reads; the device registers, reads config, cannot write it', async () => {
    const base = s.endpoints.consul[0] as string;
    const call = async (method: string, route: string, token?: string, body?: unknown) => {
      const r = await fetch(base + route, {
        method,
        headers: token ? { 'X-Consul-Token': token } : {},
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(5_000),
      });
      return { status: r.status, text: await r.text() };
    };
    const device = s.roles.device.credentials.consul?.token;
    const server = s.roles.server.credentials.consul?.token;
    const registration = {
      ID: 'd1',
      Name: 'web',
      Port: 8080,
      Check: { CheckID: 'service:d1', TTL: '10s' },
    };
    assert.equal((await call('PUT', '/v1/agent/service/register', device, registration)).status, 200);
    assert.equal((await call('PUT', '/v1/agent/check/pass/service:d1', device)).status, 200);
    assert.equal((await call('PUT', `/v1/kv/${NS}/config/color`, server, '"teal"')).status, 200);

    // Anonymous: every write refused...
    assert.equal((await call('PUT', `/v1/kv/${NS}/config/color`, undefined, '"black"')).status, 403);
    assert.equal(
      (await call('PUT', '/v1/agent/service/register', undefined, { ...registration, ID: 'evil' })).status,
      403,
    );
    const catalog = { Node: 'evil', Address: '192.0.2.66', Service: { Service: 'web', ID: 'evil' } };
    assert.equal((await call('PUT', '/v1/catalog/register', undefined, catalog)).status, 403);
    assert.equal((await call('PUT', '/v1/agent/service/deregister/d1')).status, 403);
    // ...and reads filtered, not refused: empty lists (hence the kit's token check at connect).
    assert.deepEqual(JSON.parse((await call('GET', '/v1/catalog/services')).text), {});
    assert.deepEqual(JSON.parse((await call('GET', '/v1/health/service/web')).text), []);
    assert.equal((await call('GET', `/v1/kv/${NS}/config/color`)).status, 403);
    // A wrong token: "ACL not found" on everything, token/self included.
    const wrong = '00000000-0000-4000-8000-000000000000';
    assert.equal((await call('GET', '/v1/acl/token/self', wrong)).status, 403);
    assert.equal((await call('GET', '/v1/catalog/services', wrong)).status, 403);

    // The device: sees the services, reads config, cannot write config or read the ACLs.
    const seen = JSON.parse((await call('GET', '/v1/health/service/web', device)).text) as unknown[];
    assert.equal(seen.length, 1);
    assert.equal((await call('GET', `/v1/kv/${NS}/config/color`, device)).status, 200);
    assert.equal((await call('PUT', `/v1/kv/${NS}/config/color`, device, '"black"')).status, 403);
    assert.equal((await call('GET', '/v1/acl/tokens', device)).status, 403);
    assert.equal((await call('GET', '/v1/acl/token/self', device)).status, 200);
    // The server: writes only its namespace.
    assert.equal((await call('PUT', '/v1/kv/elsewhere', server, 'x')).status, 403);
    assert.equal((await call('GET', '/v1/acl/tokens', server)).status, 403);
  });

  test('ZooKeeper: no auth, no create/setData/setAcl under /<ns>; the device writes services/ only', async () => {
    const creds = (role: 'device' | 'server') => s.roles[role].credentials.zookeeper?.auth;
    const anonymous = await zk(s);
    const device = await zk(s, creds('device'));
    const server = await zk(s, creds('server'));
    const wrong = await zk(s, 'device:not-the-password');
    try {
      const open = [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('world', 'anyone'))];
      const services = await parentAcl(device, `/${NS}/services/web`);
      for (const client of [anonymous, wrong]) {
        assert.equal(await create(client, `/${NS}/services/web`, open), 'NO_AUTH');
        assert.equal(await create(client, `/${NS}/config/color`, open), 'NO_AUTH');
        assert.equal(
          await zkCode((done) => client.setData(`/${NS}/config`, Buffer.from('x'), (e) => done(e))),
          'NO_AUTH',
        );
        assert.equal(await zkCode((done) => client.getData(`/${NS}/config`, (e) => done(e))), 'NO_AUTH');
        assert.equal(await zkCode((done) => client.setACL(`/${NS}`, open, -1, (e) => done(e))), 'NO_AUTH');
        assert.equal(await zkCode((done) => client.remove(`/${NS}/config`, -1, (e) => done(e))), 'NO_AUTH');
        assert.equal(await create(client, '/squatter', open), 'NO_AUTH', 'the root is locked too');
      }
      // The device: its service node (with the parent's ACL) and its ephemeral instance.
      assert.equal(await create(device, `/${NS}/services/web`, services), 'OK');
      const instance = await parentAcl(device, `/${NS}/services/web/d1`);
      assert.equal(
        await create(device, `/${NS}/services/web/d1`, instance, zookeeper.CreateMode.EPHEMERAL),
        'OK',
      );
      const config = await parentAcl(server, `/${NS}/config/color`);
      assert.equal(await create(device, `/${NS}/config/color`, config), 'NO_AUTH');
      for (const node of [`/${NS}`, `/${NS}/config`]) {
        assert.equal(
          await zkCode((done) => device.setACL(node, open, -1, (e) => done(e))),
          'NO_AUTH',
          `setAcl of ${node} by the device refused`,
        );
      }
      // ADMIN on services/ (so it can read the digests it copies): its instance carries both roles.
      const copied = await parentAcl(server, `/${NS}/services/web/d1/x`);
      assert.deepEqual(
        copied.map((acl) => acl.id.id.split(':')[0]).sort(),
        ['device', 'server'],
        'the instance node names both roles',
      );
      assert.ok(
        copied.every((acl) => !acl.id.id.endsWith(':x')),
        'full digests, not the redacted ones a reader without ADMIN gets',
      );
      // The server writes config; the device reads it; anonymous cannot.
      assert.equal(await create(server, `/${NS}/config/color`, config), 'OK');
      assert.equal(
        await zkCode((done) => server.setData(`/${NS}/config/color`, Buffer.from('"teal"'), (e) => done(e))),
        'OK',
      );
      assert.equal(await zkCode((done) => device.getData(`/${NS}/config/color`, (e) => done(e))), 'OK');
      assert.equal(
        await zkCode((done) => device.setData(`/${NS}/config/color`, Buffer.from('"black"'), (e) => done(e))),
        'NO_AUTH',
      );
      assert.equal(
        await zkCode((done) => anonymous.getData(`/${NS}/config/color`, (e) => done(e))),
        'NO_AUTH',
      );
      assert.equal(
        await zkCode((done) => anonymous.remove(`/${NS}/services/web/d1`, -1, (e) => done(e))),
        'NO_AUTH',
      );
    } finally {
      for (const client of [anonymous, device, server, wrong]) client.close();
    }
  });

  test('a restart of each store keeps the credentials working (setup runs again, idempotent)', async (t) => {
    for (const kind of ['etcd', 'consul', 'zookeeper'] as const) {
      const started = Date.now();
      await s[kind].restart();
      t.diagnostic(`secure ${kind} restart (setup included): ${Date.now() - started} ms`);
    }
    const device = etcdAs(s, 'device', { username: 'fleet-device', password: s.folder.secrets.etcd.device });
    try {
      await device.put(`/${NS}/services/web/d3`).value('{}');
      await assert.rejects(
        device.put(`/${NS}/config/color`).value('"black"').exec(),
        EtcdPermissionDeniedError,
      );
    } finally {
      device.close();
    }
    const token = s.roles.device.credentials.consul?.token ?? '';
    const self = await fetch(`${s.endpoints.consul[0]}/v1/acl/token/self`, {
      headers: { 'X-Consul-Token': token },
    });
    assert.equal(self.status, 200);
    const anonymous = await zk(s);
    try {
      assert.equal(
        await create(anonymous, `/${NS}/config/x`, [
          new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('world', 'anyone')),
        ]),
        'NO_AUTH',
      );
    } finally {
      anonymous.close();
    }
  });
});

// Measured: each run ready in 8.2-21.0 s (the store install check included; 21 s with other tests
// running), both runs 18-36 s.
test('fleetkit stores --secure: says where the folder is, prints no secret, reuses the folder', {
  timeout: 110_000,
}, async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'fleetkit-secure-run-'));
  const run = async () => {
    const started = Date.now();
    const child = spawn(
      process.execPath,
      [FLEETKIT, 'stores', '--secure', '--data-dir', dataDir, '--listen', '127.0.0.1'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await eventually(`ready (${output.slice(-600)})`, () => /^ready:/m.test(output), { timeoutMs: 63_000 });
    t.diagnostic(`fleetkit stores --secure ready in ${Date.now() - started} ms`);
    child.kill('SIGINT');
    await exited;
    return output;
  };
  try {
    const first = await run();
    const folder = path.join(dataDir, 'secure');
    assert.match(first, new RegExp(`credentials: made ${folder} `));
    assert.match(first, new RegExp(`the Pis get the folder ${path.join(folder, 'device')} `));
    assert.match(first, new RegExp(`FLEET_CREDENTIALS=${path.join(folder, 'server', 'credentials.env')}`));
    assert.match(first, /^\s+etcd\s+https:\/\//m, 'etcd on https');
    const second = await run();
    assert.match(second, new RegExp(`credentials: reused ${folder} `));
    const secrets = JSON.parse(await readFile(path.join(folder, 'secrets.json'), 'utf8')) as Record<
      string,
      Record<string, string>
    >;
    const all = Object.values(secrets).flatMap((store) => Object.values(store));
    assert.equal(all.length, 10);
    for (const secret of all) {
      assert.ok(!first.includes(secret) && !second.includes(secret), 'a secret was printed');
    }
    for (const pem of ['ca-key.pem', 'etcd-server-key.pem', 'jwt-key.pem']) {
      const key = (await readFile(path.join(folder, pem), 'utf8')).split('\n')[1] ?? '';
      assert.ok(key.length > 20 && !first.includes(key) && !second.includes(key), `${pem} printed`);
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

// Measured: 5.2 s (ZooKeeper open, then secure, on one data dir).
test('a data dir kept from a run without credentials: its open ZooKeeper nodes are locked at the secure start', {
  timeout: 16_000,
}, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fleetkit-secure-upgrade-'));
  try {
    const open = [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('world', 'anyone'))];
    const plain = await startStore('zookeeper', { dataDir: path.join(dir, 'zookeeper') });
    const before = await zkSession(plain.endpoints[0] as string);
    for (const node of [
      `/${NS}`,
      `/${NS}/config`,
      `/${NS}/config/color`,
      `/${NS}/services`,
      `/${NS}/services/web`,
    ])
      assert.equal(await create(before, node, open), 'OK', node);
    before.close();
    await plain.stop();

    const folder = await makeSecureFolder(path.join(dir, 'secure'));
    const secure = await startStore('zookeeper', {
      dataDir: path.join(dir, 'zookeeper'),
      secure: { folder, namespace: NS },
    });
    try {
      const anonymous = await zkSession(secure.endpoints[0] as string);
      try {
        for (const node of [`/${NS}/config/color`, `/${NS}/services/web`]) {
          assert.equal(
            await zkCode((done) => anonymous.setData(node, Buffer.from('x'), (e) => done(e))),
            'NO_AUTH',
            node,
          );
        }
        assert.equal(await create(anonymous, `/${NS}/services/web/evil`, open), 'NO_AUTH');
      } finally {
        anonymous.close();
      }
    } finally {
      await secure.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
