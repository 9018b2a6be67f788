// Credentials on every store (issue 17), against the three real stores in secure mode
// (test/support/secure-stores.ts): each role gets what the stores grant it and nothing more, a client
// with no or wrong credentials says 'unauthorized' (never "down", never "no devices") and registers
// nothing, etcd's watch and keepalive outlive a JWT expiry and a restart, ZooKeeper authenticates its
// new session after an expiry, and no secret ever shows in an error or a state.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { inspect, promisify } from 'node:util';
import {
  type ConnectionState,
  createRegistry,
  type InstanceSpec,
  isUnauthorizedError,
  type Registry,
  type RegistryOptions,
  type StoreCredentials,
  type StoreKind,
  ValidationError,
} from '../../lib/registry/index.ts';
import { byteProxy } from '../support/byte-proxy.ts';
import { delay, eventually } from '../support/eventually.ts';
import { Fuzz, fuzzSeed } from '../support/fuzz.ts';
import { type SecureStores, startSecureStores } from '../support/secure-stores.ts';

/** A measured figure, in the test's output. */
const note = (text: string) => process.stdout.write(`${text}\n`);

const STORES: StoreKind[] = ['etcd', 'consul', 'zookeeper'];
const SERVICE = 'fleet-device';
/** etcd's JWT lifetime here: short, so that the tests see tokens expire. */
const JWT_TTL_SECONDS = 3;

let stores: SecureStores;
const open: Registry[] = [];
/** Every error and state detail any registry of these tests showed (checked for secrets at the end). */
const seen: unknown[] = [];

function registry(store: StoreKind, credentials: StoreCredentials, extra: Partial<RegistryOptions> = {}) {
  const r = createRegistry({
    store,
    endpoints: stores.endpoints[store],
    namespace: stores.namespace,
    credentials,
    backoff: { initialMs: 100, maxMs: 1000 },
    requestTimeoutMs: 3000,
    liveness: { leaseTtlSeconds: 2, sessionTimeoutMs: 3000, consulCheck: 'ttl', checkTtlSeconds: 3 },
    ...extra,
  });
  r.on('state', (state, detail) => {
    seen.push(state, detail, detail.error);
    if (detail.error) lastError.set(r, detail.error.message);
  });
  open.push(r);
  return r;
}

function spec(id: string): InstanceSpec {
  return { service: SERVICE, id, host: '127.0.0.1', port: 8080 };
}

function role(name: 'device' | 'server' | 'admin'): StoreCredentials {
  return stores.roles[name].credentials;
}

/** The role's credentials for `store` with one secret replaced by a wrong one. */
function wrong(store: StoreKind): StoreCredentials {
  const device = role('device');
  if (store === 'etcd') return { etcd: { ...device.etcd, password: 'not-the-password' } };
  if (store === 'consul') return { consul: { token: '5f1b0e3c-0000-4000-8000-000000000000' } };
  return { zookeeper: { auth: 'device:not-the-password' } };
}

/** Each registry's last state detail's error, to say why a wait failed. */
const lastError = new WeakMap<Registry, string>();

function waitState(r: Registry, state: ConnectionState, timeoutMs: number): Promise<number> {
  return eventually(
    `${r.store} ${state}`,
    () => {
      if (r.state !== state) throw new Error(`now ${r.state}: ${lastError.get(r) ?? ''}`);
      return true;
    },
    { timeoutMs },
  );
}

/** The ids an admin (root, master token, super) sees registered now. */
async function adminSees(store: StoreKind): Promise<string[]> {
  const admin = adminRegistries.get(store)!;
  const watch = admin.watchInstances(SERVICE);
  try {
    await eventually(`${store} admin watch live`, () => watch.state === 'live', { timeoutMs: 6000 });
    return watch.instances().map((i) => i.record.id);
  } finally {
    watch.close();
  }
}
const adminRegistries = new Map<StoreKind, Registry>();

before(async () => {
  const started = Date.now();
  stores = await startSecureStores({ etcdJwtTtl: `${JWT_TTL_SECONDS}s` });
  note(`# secure stores up in ${Date.now() - started} ms`);
  for (const store of STORES) adminRegistries.set(store, registry(store, role('admin')));
});

after(async () => {
  for (const r of open) await r.close().catch(() => undefined);
  await stores?.stop();
});

describe('credentials: each role on each store', { timeout: 240_000 }, () => {
  for (const store of STORES) {
    test(`${store}: the device registers and reads config, the server writes it, the device may not`, async () => {
      const device = registry(store, role('device'));
      const server = registry(store, role('server'));
      const connectedMs = await waitState(device, 'connected', 10_000);
      await waitState(server, 'connected', 10_000);
      const reg = device.register(spec(`dev-${store}`));
      reg.on('reconnecting', (info) => seen.push(info.error));
      const registeredMs = await eventually(`${store} registered`, () => reg.state === 'registered', {
        timeoutMs: 10_000,
      });
      const watch = server.watchInstances(SERVICE);
      await eventually(`${store} server sees the device`, () => watch.get(`dev-${store}`), {
        timeoutMs: 10_000,
      });
      assert.ok((await adminSees(store)).includes(`dev-${store}`));

      const colors = device.watchConfig('color');
      await server.setConfig('color', 'orange');
      await eventually(`${store} device sees orange`, () => colors.value === 'orange', { timeoutMs: 6000 });
      assert.equal(await device.getConfig('color'), 'orange');
      await assert.rejects(device.setConfig('color', 'red'), (error: unknown) => {
        seen.push(error);
        assert.ok(isUnauthorizedError(error), `expected UnauthorizedError, got ${inspect(error)}`);
        return true;
      });
      assert.equal(await server.getConfig('color'), 'orange', 'the device wrote nothing');
      await reg.update({ color: 'orange' });
      await eventually(
        `${store} applied color reported`,
        () => watch.get(`dev-${store}`)?.record.color === 'orange',
        {
          timeoutMs: 6000,
        },
      );
      note(`# ${store}: device connected in ${connectedMs} ms, registered ${registeredMs} ms later`);
      colors.close();
      watch.close();
      await reg.deregister();
    });

    for (const [label, credentials] of [
      ['no credentials', () => ({})],
      ['wrong credentials', () => wrong(store)],
    ] as const) {
      test(`${store}: ${label}: 'unauthorized', nothing registered, a watch says so`, async () => {
        const r = registry(store, credentials());
        const states: ConnectionState[] = [];
        r.on('state', (state) => states.push(state));
        const ms = await waitState(r, 'unauthorized', 10_000);
        const reg = r.register(spec(`intruder-${store}`));
        const watch = r.watchInstances(SERVICE);
        let watchError: unknown;
        watch.on('state', (state, error) => {
          if (state === 'down') watchError = error;
        });
        await eventually(`${store} watch down`, () => watch.state === 'down' && watchError, {
          timeoutMs: 10_000,
        });
        seen.push(watchError);
        assert.ok(isUnauthorizedError(watchError), `the watch says unauthorized: ${inspect(watchError)}`);
        assert.equal(watch.instances().length, 0);
        // Keeps trying (credentials may be fixed on the store side) and stays unauthorized meanwhile.
        await delay(2500);
        assert.equal(r.state, 'unauthorized');
        assert.ok(!states.includes('connected'), `never connected: ${states.join(', ')}`);
        assert.notEqual(reg.state, 'registered');
        assert.ok(!(await adminSees(store)).includes(`intruder-${store}`), 'nothing registered');
        await assert.rejects(r.setConfig('color', 'red'), (error) => {
          seen.push(error);
          return true;
        });
        assert.notEqual(await adminRegistries.get(store)!.getConfig('color'), 'red');
        note(`# ${store} ${label}: unauthorized after ${ms} ms (${states.join(' -> ')})`);
        watch.close();
        await reg.deregister().catch(() => undefined);
        await r.close();
      });
    }
  }

  test('consul: a token-less watch reports unauthorized, not an empty list', async () => {
    const device = registry('consul', role('device'));
    const reg = device.register(spec('listed-consul'));
    await eventually('registered', () => reg.state === 'registered', { timeoutMs: 10_000 });
    const anonymous = registry('consul', {});
    await assert.rejects(anonymous.pick(SERVICE), (error) => {
      seen.push(error);
      assert.match(String((error as Error).message), /unauthorized/);
      return true;
    });
    const watch = anonymous.watchInstances(SERVICE);
    const events: string[] = [];
    watch.on('state', (state, error) => events.push(`${state}:${error?.code ?? ''}`));
    watch.on('synced', (list) => events.push(`synced:${list.length}`));
    await eventually('down, unauthorized', () => events.includes('down:UNAUTHORIZED'), { timeoutMs: 6000 });
    assert.ok(!events.some((e) => e.startsWith('synced')), `never an empty list: ${events.join(', ')}`);
    watch.close();
    await reg.deregister();
  });
});

describe('credentials: etcd over TLS', { timeout: 120_000 }, () => {
  test('a refused client certificate is unauthorized and says which; an etcd that is not there is disconnected', async () => {
    const device = role('device').etcd!;
    const other = await selfSignedPair();
    const cases: [string, StoreCredentials, RegExp][] = [
      [
        'no client certificate',
        { etcd: { ...device, cert: undefined, key: undefined } },
        /refused this client's certificate/,
      ],
      [
        'a certificate from another CA',
        { etcd: { ...device, ...other } },
        /refused this client's certificate/,
      ],
      ['no CA', { etcd: { ...device, ca: undefined } }, /not trusted/],
    ];
    for (const [label, credentials, said] of cases) {
      const r = registry('etcd', credentials);
      const ms = await waitState(r, 'unauthorized', 10_000);
      const why = lastError.get(r) ?? '';
      assert.match(why, said, label);
      assert.match(why, /FLEET_ETCD/, `${label}: says what to set`);
      note(`# etcd ${label}: unauthorized after ${ms} ms: ${why.slice(0, 120)}`);
      await r.close();
    }
    // Nothing listening on that port: down, not refused.
    const port = await freePort();
    const nowhere = createRegistry({
      store: 'etcd',
      endpoints: [`https://127.0.0.1:${port}`],
      credentials: role('device'),
      backoff: { initialMs: 100, maxMs: 1000 },
      requestTimeoutMs: 2000,
    });
    open.push(nowhere);
    const states: string[] = [];
    nowhere.on('state', (state, detail) => {
      states.push(state);
      seen.push(state, detail, detail.error);
    });
    await eventually('disconnected', () => nowhere.state === 'disconnected', { timeoutMs: 10_000 });
    await delay(1500);
    assert.ok(!states.includes('unauthorized'), states.join(', '));
    await nowhere.close();
  });
});

/** A client certificate and key that the kit's CA did not sign (openssl, as the secure folder is made). */
async function selfSignedPair(): Promise<{ cert: string; key: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fleetkit-other-ca-'));
  try {
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
      '-subj',
      '/CN=fleet-device',
    ]);
    return {
      cert: await readFile(path.join(dir, 'cert.pem'), 'utf8'),
      key: await readFile(path.join(dir, 'key.pem'), 'utf8'),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('credentials: tokens, restarts and sessions', { timeout: 300_000 }, () => {
  test(`etcd: watch and lease keepalive outlive JWT expiry (ttl ${JWT_TTL_SECONDS} s) and a restart`, async () => {
    const device = registry('etcd', role('device'));
    const server = registry('etcd', role('server'));
    const reg = device.register(spec('jwt-etcd'));
    const expired: string[] = [];
    reg.on('expired', (reason) => expired.push(reason));
    await eventually('registered', () => reg.state === 'registered', { timeoutMs: 10_000 });
    const watch = server.watchInstances(SERVICE);
    const colors = device.watchConfig('color');
    await eventually('server sees it', () => watch.get('jwt-etcd'), { timeoutMs: 6000 });

    // Three token lifetimes with nothing but the streams (keepalives every 2/3 s, the watch idle).
    await delay(3 * JWT_TTL_SECONDS * 1000 + 500);
    assert.deepEqual(expired, [], 'the lease was kept alive past the token');
    const started = Date.now();
    await server.setConfig('color', 'violet');
    await eventually('config after expiry', () => colors.value === 'violet', { timeoutMs: 6000 });
    await reg.update({ color: 'violet' });
    await eventually('update after expiry', () => watch.get('jwt-etcd')?.record.color === 'violet', {
      timeoutMs: 6000,
    });
    note(
      `# etcd: after ${3 * JWT_TTL_SECONDS} s of expired tokens, config + update round trip ${Date.now() - started} ms`,
    );

    const restartAt = Date.now();
    await stores.etcd.restart();
    await waitState(device, 'connected', 15_000);
    await eventually('registered again', () => reg.state === 'registered', { timeoutMs: 15_000 });
    await server.setConfig('color', 'teal');
    await eventually('config after restart', () => colors.value === 'teal', { timeoutMs: 15_000 });
    await reg.update({ color: 'teal' });
    await eventually('watch after restart', () => watch.get('jwt-etcd')?.record.color === 'teal', {
      timeoutMs: 15_000,
    });
    note(
      `# etcd: restart to config + update seen again: ${Date.now() - restartAt} ms (expired: ${expired.length})`,
    );
    // And again after the tokens of the new run expired.
    await delay(2 * JWT_TTL_SECONDS * 1000 + 500);
    await server.setConfig('color', 'gold');
    await eventually('config after restart + expiry', () => colors.value === 'gold', { timeoutMs: 6000 });
    assert.ok((await adminSees('etcd')).includes('jwt-etcd'));
    colors.close();
    watch.close();
    await reg.deregister();
  });

  test('zookeeper: after a restart past the session timeout, the new session authenticates and re-registers', async () => {
    const device = registry('zookeeper', role('device'));
    const server = registry('zookeeper', role('server'));
    const reg = device.register(spec('session-zk'));
    const expired: string[] = [];
    reg.on('expired', (reason) => expired.push(reason));
    await eventually('registered', () => reg.state === 'registered', { timeoutMs: 10_000 });
    const sessionBefore = (await adminSessionOf('session-zk')) ?? '';
    await stores.zookeeper.stop();
    await delay(3000 + 1000); // past the session timeout: the device starts a new session
    const restartAt = Date.now();
    await stores.zookeeper.restart();
    await eventually('registered again', () => reg.state === 'registered' && expired.length > 0, {
      timeoutMs: 20_000,
    });
    const sessionAfter = await adminSessionOf('session-zk');
    assert.ok(
      sessionAfter && sessionAfter !== sessionBefore,
      `a new session (${sessionBefore} -> ${sessionAfter})`,
    );
    await server.setConfig('color', 'lime');
    assert.equal(await device.getConfig('color'), 'lime');
    await assert.rejects(device.setConfig('color', 'red'), (error) => isUnauthorizedError(error));
    note(
      `# zookeeper: restart to re-registered with a new session: ${Date.now() - restartAt} ms (${expired.join('; ')})`,
    );
    await reg.deregister();
  });
});

describe('credentials: ZooKeeper reconnect within the session', { timeout: 120_000 }, () => {
  test('the digest is sent again on the new connection: the same session still writes its node', async () => {
    const [host, port] = stores.endpoints.zookeeper[0]!.split(':');
    const proxy = await byteProxy(host!, Number(port));
    try {
      const device = createRegistry({
        store: 'zookeeper',
        endpoints: [proxy.address],
        namespace: stores.namespace,
        credentials: role('device'),
        backoff: { initialMs: 100, maxMs: 1000 },
        requestTimeoutMs: 3000,
        liveness: { sessionTimeoutMs: 10_000 },
      });
      open.push(device);
      device.on('state', (state, detail) => seen.push(state, detail, detail.error));
      const server = registry('zookeeper', role('server'));
      const reg = device.register(spec('reconnect-zk'));
      const expired: string[] = [];
      reg.on('expired', (reason) => expired.push(reason));
      await eventually('registered', () => reg.state === 'registered', { timeoutMs: 10_000 });
      const watch = server.watchInstances(SERVICE);
      await eventually('server sees it', () => watch.get('reconnect-zk'), { timeoutMs: 6000 });
      const before = await adminSessionOf('reconnect-zk');
      proxy.cut();
      await eventually('device disconnected', () => device.state === 'disconnected', { timeoutMs: 6000 });
      const cutAt = Date.now();
      proxy.restore();
      await eventually('device connected', () => device.state === 'connected', { timeoutMs: 10_000 });
      // setData needs the device's digest on this new connection (services/ is not open to anyone).
      await reg.update({ color: 'pink' });
      await eventually('update seen', () => watch.get('reconnect-zk')?.record.color === 'pink', {
        timeoutMs: 10_000,
      });
      const after = await adminSessionOf('reconnect-zk');
      assert.equal(after, before, 'the same session');
      assert.deepEqual(expired, []);
      note(`# zookeeper: link back to an authenticated write seen, same session: ${Date.now() - cutAt} ms`);
      watch.close();
      await reg.deregister();
    } finally {
      await proxy.close();
    }
  });
});

/** The ephemeral owner of the device's node, as the admin's watch sees it. */
async function adminSessionOf(id: string): Promise<string | undefined> {
  const admin = adminRegistries.get('zookeeper')!;
  const watch = admin.watchInstances(SERVICE);
  try {
    await eventually('admin watch live', () => watch.state === 'live' && watch.get(id), {
      timeoutMs: 10_000,
    });
    const liveness = watch.get(id)?.liveness;
    return liveness?.model === 'session' ? liveness.sessionId : undefined;
  } finally {
    watch.close();
  }
}

describe('credentials: hostile values', { timeout: 120_000 }, () => {
  test('fuzz: random credential strings give a ValidationError naming the field or an unauthorized store', async () => {
    const seed = fuzzSeed();
    note(`# fuzz seed ${seed} (replay with FUZZ_SEED=${seed})`);
    const fuzz = new Fuzz(seed, [0, 1, 255, 256, 257, 1024, 1025, 65_536, 65_537]);
    const odd = [
      '',
      ':',
      '::',
      'a:',
      ':b',
      '\u0000',
      '\n',
      ' ',
      'é',
      '😀',
      '\ud800',
      '-----BEGIN CERTIFICATE-----',
    ];
    const randomText = (): string => {
      const parts: string[] = [];
      const n = fuzz.int(4);
      for (let i = 0; i <= n; i++)
        parts.push(
          fuzz.chance(0.3)
            ? fuzz.pick(odd)
            : fuzz.chance(0.05)
              ? 'x'.repeat(fuzz.pick([256, 257, 1024, 1025, 70_000]))
              : fuzz.string(fuzz.int(40)),
        );
      return parts.join(fuzz.chance(0.5) ? ':' : '');
    };
    const randomValue = (): unknown =>
      fuzz.chance(0.85) ? randomText() : fuzz.pick([null, 42, {}, [], true, undefined]);
    let validation = 0;
    let accepted = 0;
    const acceptedRegistries: { r: Registry; secrets: string[] }[] = [];
    for (let i = 0; i < 400; i++) {
      const store = fuzz.pick(STORES);
      const fields = {
        etcd: ['username', 'password', 'ca', 'cert', 'key'],
        consul: ['token'],
        zookeeper: ['auth'],
      }[store];
      const own: Record<string, unknown> = {};
      for (const f of fields) if (fuzz.chance(0.6)) own[f] = randomValue();
      if (fuzz.chance(0.05)) own[fuzz.pick(['__proto__', 'extra', 'constructor'])] = randomText();
      const credentials = fuzz.chance(0.05)
        ? randomValue()
        : { [store]: fuzz.chance(0.05) ? randomValue() : own };
      // What the messages say of the expected shape is not the caller's secret, even when it typed it.
      const boilerplate = '(-----BEGIN CERTIFICATE-----) (-----BEGIN PRIVATE KEY-----)';
      const secrets = Object.values(own).filter(
        (v): v is string => typeof v === 'string' && v.length >= 6 && !boilerplate.includes(v),
      );
      let r: Registry | undefined;
      try {
        r = createRegistry({
          store,
          endpoints: stores.endpoints[store],
          namespace: stores.namespace,
          credentials: credentials as StoreCredentials,
          backoff: { initialMs: 100, maxMs: 1000 },
          requestTimeoutMs: 3000,
        });
      } catch (error) {
        assert.ok(error instanceof ValidationError, `case ${i}: ${inspect(error)}`);
        assert.ok(
          error.fields.every((f) => f === 'endpoints' || f.startsWith('credentials')),
          `case ${i}: names the field: ${error.message}`,
        );
        for (const s of secrets)
          assert.ok(!error.message.includes(s), `case ${i}: no secret in ${error.message}`);
        validation++;
        continue;
      }
      accepted++;
      if (acceptedRegistries.length < 9) {
        r.on('state', (state, detail) => seen.push(state, detail, detail.error));
        acceptedRegistries.push({ r, secrets });
        open.push(r);
      } else await r.close();
    }
    // The accepted ones: each store answers, and refuses them.
    for (const { r, secrets } of acceptedRegistries) {
      await waitState(r, 'unauthorized', 10_000);
      const text = `${inspect(r.state)} ${inspect(seen.slice(-20), { depth: 5 })}`;
      for (const s of secrets) assert.ok(!text.includes(s), 'no secret in a state');
      await r.close();
    }
    note(
      `# fuzz: ${validation} refused by validation, ${accepted} accepted (${acceptedRegistries.length} of them seen unauthorized)`,
    );
    assert.ok(validation > 0);
  });

  test('no password, token, digest password or private key in any error or state seen', () => {
    const secrets: [string, string][] = [];
    for (const name of ['device', 'server', 'admin'] as const) {
      const c = role(name);
      const keyLine = c.etcd?.key?.split('\n').find((l) => l.length > 40 && !l.startsWith('-----'));
      for (const [what, v] of [
        ['etcd password', c.etcd?.password],
        ['consul token', c.consul?.token],
        ['zookeeper auth', c.zookeeper?.auth],
        ['zookeeper password', c.zookeeper?.auth?.split(':')[1]],
        ['etcd key', keyLine],
      ] as const)
        if (v) secrets.push([`${name} ${what}`, v]);
    }
    secrets.push(
      ['wrong etcd password', 'not-the-password'],
      ['wrong consul token', '5f1b0e3c-0000-4000-8000-000000000000'],
    );
    assert.ok(seen.length > 20, `states and errors were collected (${seen.length})`);
    const text = seen
      .map(
        (v) =>
          `${inspect(v, { depth: 6, showHidden: false })} ${v instanceof Error ? `${v.message} ${v.stack}` : ''} ${safeJson(v)}`,
      )
      .join('\n');
    for (const [what, s] of secrets) assert.ok(!text.includes(s), `the ${what} shows in an error or state`);
    note(
      `# ${seen.length} states and errors, ${text.length} characters, checked for ${secrets.length} secrets`,
    );
  });
});

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return '';
  }
}
