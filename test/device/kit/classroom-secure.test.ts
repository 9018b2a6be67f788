// A classroom with credentials on: three real secure stores (etcd TLS + client certificates + users,
// Consul ACLs default deny, ZooKeeper digest ACLs) listening on the LAN, the real server with
// --classroom handing out the devices' credentials (FLEET_CLASS_CREDENTIALS) for the class code it made
// and printed, and real kit processes downloaded from the page, each in an empty folder with only
// `node` on PATH (as nobody when the tests run as root), as classroom.test.ts runs them.
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { STORE_KINDS } from '../../../lib/registry/index.ts';
import { CLASS_CODE_HEADER, kitCredentialsSchema, kitStoresSchema } from '../../../server/kit-contract.ts';
import { lanAddress } from '../../../server/lan-address.ts';
import { type AttendeeTerminal, attendeeFolder, downloadKit, runKit } from '../../support/attendee.ts';
import { eventually } from '../../support/eventually.ts';
import { Fuzz, fuzzSeed } from '../../support/fuzz.ts';
import { type SecureStores, startSecureStores } from '../../support/secure-stores.ts';
import { type RunningServer, startServer } from '../../support/servers.ts';
import { PageWatch } from '../../workshop/page-watch.ts';

const DEVICES = 3;
/** Two joins at once against secure stores: measured 8.8-23.7 s here (other suites running); bound 3x. */
const JOIN_MS = 75_000;
/** A refused join (2.0-3.6 s), a pick in the folder (1.6-3.4 s), a prompt shown: measured; bound 3x. */
const REFUSED_MS = 12_000;
/** Ctrl-C of both: 0.6-2.7 s; bound 3x. */
const LEAVE_MS = 9000;
const FUZZ_REQUESTS = 300;

const attendeeDevices = (page: PageWatch, store: (typeof STORE_KINDS)[number]) =>
  page.devices(store).filter((d) => typeof d.labels.attendee === 'string');
const noControls = (text: string) => [...text].filter((c) => c.charCodeAt(0) >= 0x20).join('');
const idsOf = (name: string) => Array.from({ length: DEVICES }, (_, i) => `${name}-${i + 1}`);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request to the server from a local address of our choosing (127.x.y.z: a "laptop" each). */
function send(
  port: number,
  options: {
    method?: string;
    path?: string;
    headers?: Record<string, string | string[]>;
    body?: Buffer | string;
    from?: string;
  },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path ?? '/kit/credentials',
        headers: options.headers ?? {},
        localAddress: options.from,
        agent: false, // a connection of its own: no reuse of a socket the server closed after a refusal
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('a classroom with credentials: the class code gets the devices in', { timeout: 600_000 }, () => {
  let stores: SecureStores;
  let server: RunningServer;
  let page: PageWatch;
  let kit: Buffer;
  let instructor: string;
  let code: string;
  /** Every secret of the secure folder (passwords, tokens, private keys): never in any output. */
  const secrets: string[] = [];
  const terminals = new Map<string, AttendeeTerminal>();
  const others: AttendeeTerminal[] = [];

  before(async () => {
    stores = await startSecureStores({ host: '0.0.0.0' });
    server = await startServer({
      ...stores.roles.server.env,
      FLEET_NAMESPACE: stores.namespace,
      FLEET_CLASSROOM: 'on',
      FLEET_SERVER_LISTEN: '0.0.0.0',
      FLEET_CLASS_CREDENTIALS: stores.roles.device.file,
    });
    await eventually('the class code printed', () => /the class code is /.test(server.output()), {
      timeoutMs: 10_000,
    });
    code = /the class code is ([a-z0-9]{4}-[a-z0-9]{4}):/.exec(server.output())![1]!;
    instructor = `${lanAddress()}:${server.port}`;
    kit = await downloadKit(`http://${instructor}/`);
    page = await PageWatch.open(server.url);
    for (const role of Object.values(stores.roles)) {
      for (const [key, value] of Object.entries(role.settings)) {
        if (/PASSWORD|TOKEN/.test(key)) secrets.push(value);
        if (key === 'FLEET_ZOOKEEPER_AUTH') secrets.push(value.slice(value.indexOf(':') + 1));
        if (key === 'FLEET_ETCD_KEY') {
          // A line from the middle of the private key's base64.
          const lines = (await readFile(value, 'utf8'))
            .split('\n')
            .filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l));
          secrets.push(...lines.slice(0, 1));
        }
      }
    }
    assert.ok(secrets.length >= 9, `secrets gathered: ${secrets.length}`);
  });

  after(async () => {
    for (const t of [...terminals.values(), ...others]) t.signal('SIGKILL');
    page?.close();
    await server?.stop();
    await stores?.stop();
  });

  test('the code is printed once for the instructor, never on a page; stores.json says credentials are required', async () => {
    assert.equal(server.output().split(code).length - 1, 1, 'the code once in the server output');
    assert.match(
      server.output(),
      /the class code is [a-z0-9-]+: write it on the board or say it \(never on the page\)/,
    );
    const stores = kitStoresSchema.parse(await (await fetch(`http://${instructor}/kit/stores.json`)).json());
    assert.equal(stores.credentials, true);
    assert.match(stores.stores.etcd?.[0] ?? '', /^https:\/\//);
    for (const route of ['/', '/kit/', '/kit/stores.json', '/app.js', '/kit/fleetkit.mjs']) {
      const body = await (await fetch(`http://${instructor}${route}`)).text();
      assert.ok(!body.includes(code), `${route} does not hold the code`);
      for (const secret of secrets) assert.ok(!body.includes(secret), `${route} holds no secret`);
    }
  });

  test('two attendees join with the right code (one from FLEET_CLASS_CODE, one typed at the prompt): their devices are in all three secure stores and on the page', async (t) => {
    const started = Date.now();
    const alice = await runKit(
      await attendeeFolder(kit),
      ['join', instructor, '--name', 'alice', '--first-port', '8300'],
      { FLEET_CLASS_CODE: code },
    );
    terminals.set('alice', alice);
    const bob = await runKit(await attendeeFolder(kit), [
      'join',
      instructor,
      '--name',
      'bob',
      '--first-port',
      '8320',
    ]);
    terminals.set('bob', bob);
    await bob.waitFor(/class code \(from the instructor\):/, REFUSED_MS);
    // As typed from the board: upper case, a space instead of the dash.
    bob.type(code.toUpperCase().replace('-', ' '));
    const times = await Promise.all(
      [alice, bob].map((a) => a.waitFor(/joined in [\d.]+ s: 3 device\(s\) of "\w+"/, JOIN_MS)),
    );
    t.diagnostic(
      `2 secure joins: ${Math.min(...times)}-${Math.max(...times)} ms (all: ${Date.now() - started} ms)`,
    );
    const shownIn = await eventually(
      '6 attendee devices passing in every column',
      () =>
        STORE_KINDS.every(
          (s) =>
            attendeeDevices(page, s).length === 2 * DEVICES &&
            attendeeDevices(page, s).every((d) => d.health === 'passing'),
        ),
      { timeoutMs: 30_000 },
    );
    t.diagnostic(`on the page, passing, ${shownIn} ms after both said joined`);
    for (const store of STORE_KINDS)
      assert.deepEqual(
        attendeeDevices(page, store)
          .map((d) => d.id)
          .sort(),
        [...idsOf('alice'), ...idsOf('bob')].sort(),
        store,
      );
    for (const terminal of [alice, bob]) {
      assert.match(terminal.output(), /the stores require credentials/);
      assert.doesNotMatch(terminal.output(), /DeprecationWarning/, 'no Node warning for the attendee');
      assert.match(terminal.output(), /credentials saved in \.\/credentials\/ \(etcd user fleet-device/);
      const dir = path.join(terminal.folder, 'credentials');
      assert.equal((await stat(dir)).mode & 0o777, 0o700);
      for (const name of ['credentials.env', 'ca.pem', 'client.pem', 'client-key.pem'])
        assert.equal((await stat(path.join(dir, name))).mode & 0o777, 0o600, name);
      const env = await readFile(path.join(dir, 'credentials.env'), 'utf8');
      assert.match(env, /^FLEET_ETCD_CA=ca\.pem$/m);
      assert.match(env, /^FLEET_ETCD_KEY=client-key\.pem$/m);
      assert.match(env, /^FLEET_ETCD_USER='fleet-device'$/m);
      const kitEnv = await readFile(path.join(terminal.folder, 'fleetkit.env'), 'utf8');
      assert.match(kitEnv, /^FLEET_CREDENTIALS=credentials\/credentials\.env$/m);
      assert.match(
        kitEnv,
        new RegExp(`^FLEET_ETCD=https://${lanAddress().replace(/\./g, '\\.')}:\\d+$`, 'm'),
      );
    }
  });

  test("the kit's other commands in the folder reuse the credentials (pick --json)", async (t) => {
    const folder = terminals.get('alice')!.folder;
    const pick = await runKit(folder, ['pick', '--json', '--store', 'etcd']);
    others.push(pick);
    const started = Date.now();
    const exit = await pick.exitCode(REFUSED_MS);
    t.diagnostic(`pick --json in alice's folder: ${Date.now() - started} ms`);
    assert.equal(exit, 0, pick.output());
    const answer = JSON.parse(pick.output().trim().split('\n').at(-1)!) as {
      store: string;
      picked: { id: string };
    };
    assert.equal(answer.store, 'etcd');
    assert.match(answer.picked.id, /^(alice|bob)-\d$/);
  });

  test('the raw commands in the folder use the credentials too: etcd, ZooKeeper and Consul read; a config write is refused (the device role)', async (t) => {
    const folder = terminals.get('alice')!.folder;
    const run = async (args: string[]) => {
      const terminal = await runKit(folder, args);
      others.push(terminal);
      const exit = await terminal.exitCode(REFUSED_MS);
      return { exit, output: terminal.output() };
    };
    const started = Date.now();
    const etcd = await run(['etcd', 'ls', `/${stores.namespace}/services/`]);
    assert.equal(etcd.exit, 0, etcd.output);
    assert.match(etcd.output, /alice-1/);
    const zk = await run(['zookeeper', 'ls', `/${stores.namespace}/services/web`]);
    assert.equal(zk.exit, 0, zk.output);
    assert.match(zk.output, /alice-1/);
    const consul = await run(['consul', 'health', 'web']);
    assert.equal(consul.exit, 0, consul.output);
    assert.match(consul.output, /alice-1/);
    const put = await run(['etcd', 'put', `/${stores.namespace}/config/color`, 'red']);
    assert.notEqual(put.exit, 0, put.output);
    assert.match(put.output, /permission denied/i);
    t.diagnostic(`4 raw commands in alice's folder: ${Date.now() - started} ms`);
  });

  test('a wrong code is refused before anything registers, and says what to do; no code typed says so too', async (t) => {
    const folder = await attendeeFolder(kit);
    const mallory = await runKit(folder, ['join', instructor, '--name', 'mallory'], {
      FLEET_CLASS_CODE: 'wrong-code-42',
    });
    others.push(mallory);
    const started = Date.now();
    const exit = await mallory.exitCode(REFUSED_MS);
    t.diagnostic(`a wrong code refused in ${Date.now() - started} ms`);
    const output = mallory.output();
    assert.equal(exit, 1, output);
    assert.match(output, /the page refused the class code: wrong class code: nothing was handed out/);
    assert.match(output, /ask the instructor for it/);
    assert.match(output, /Nothing was registered\./);
    assert.doesNotMatch(output, /\[2\/3\]|\[3\/3\]/);
    assert.ok(!output.includes('wrong-code-42'), 'the code typed is not echoed');
    await assert.rejects(stat(path.join(folder, 'credentials')), /ENOENT/);
    await eventually('no process of the refused join', () => !mallory.alive(), { timeoutMs: 5000 });

    const carol = await runKit(await attendeeFolder(kit), ['join', instructor, '--name', 'carol']);
    others.push(carol);
    await carol.waitFor(/class code \(from the instructor\):/, REFUSED_MS);
    carol.type('');
    assert.equal(await carol.exitCode(REFUSED_MS), 1, carol.output());
    assert.match(carol.output(), /no class code typed: ask the instructor for the class code/);
    for (const store of STORE_KINDS)
      assert.equal(
        page.devices(store).filter((d) => ['mallory', 'carol'].includes(d.labels.attendee ?? '')).length,
        0,
        `${store}: nothing of mallory or carol`,
      );
  });

  test('the rate limit: after 5 wrong codes an address gets 429 for the rest of the minute, even with the right code; another address is not held up', async (t) => {
    const from = '127.0.0.77';
    for (let i = 0; i < 5; i++) {
      const answer = await send(server.port, { headers: { [CLASS_CODE_HEADER]: `nope-${i}-zz` }, from });
      assert.equal(answer.status, 403, answer.body);
      assert.match(answer.body, /wrong class code: nothing was handed out/);
    }
    const held = await send(server.port, { method: 'POST', headers: { [CLASS_CODE_HEADER]: code }, from });
    assert.equal(held.status, 429, held.body);
    assert.match(held.body, /too many wrong class codes from this address: wait \d+ s/);
    const retry = Number(held.headers['retry-after']);
    assert.ok(retry > 0 && retry <= 60, `retry-after ${retry}`);
    t.diagnostic(`held for ${retry} s more`);
    const elsewhere = await send(server.port, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code }),
      from: '127.0.0.78',
    });
    assert.equal(elsewhere.status, 200, elsewhere.body);
    const answer = kitCredentialsSchema.parse(JSON.parse(elsewhere.body));
    assert.deepEqual(answer.files.map((f) => f.name).sort(), [
      'ca.pem',
      'client-key.pem',
      'client.pem',
      'credentials.env',
    ]);
    // The server's own role and the admin's never leave.
    assert.doesNotMatch(elsewhere.body, /fleet-server|root|super:/);
  });

  test('a seeded fuzz of /kit/credentials (codes, headers, bodies, methods) never hands out credentials without the code, and the server stays up', async (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`FUZZ_SEED=${seed}`);
    const fuzz = new Fuzz(seed);
    const variants = [
      code,
      code.toUpperCase(),
      code.replace('-', ''),
      ` ${code} `,
      `${code}x`,
      code.slice(0, -1),
      code.slice(1),
      `${code.slice(0, 4)}-${code.slice(5, 8).split('').reverse().join('')}x`,
      '',
      '000000',
      'a'.repeat(70),
      'x'.repeat(3000),
      `${code}\u0000`,
      'null',
      '[]',
      '{}',
    ];
    const right = (text: string) => text.toLowerCase().replace(/[^a-z0-9]/g, '') === code.replace('-', '');
    const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'POST', 'GET'];
    let granted = 0;
    const statuses = new Map<number, number>();
    const started = Date.now();
    for (let i = 0; i < FUZZ_REQUESTS; i++) {
      const method = fuzz.pick(methods);
      const headers: Record<string, string | string[]> = {};
      let carries = false;
      let body: Buffer | string | undefined;
      let pathName = '/kit/credentials';
      const where = fuzz.int(8);
      const picked = fuzz.chance(0.3) ? code : fuzz.pick(variants);
      // A header cannot carry control characters (the client refuses to send them).
      const value = where <= 1 || where === 7 ? noControls(picked) : picked;
      if (where === 0) {
        headers[CLASS_CODE_HEADER] = value;
        carries = value !== '' && right(value) && value.length <= 200;
      } else if (where === 1) {
        headers[CLASS_CODE_HEADER] = [value, noControls(fuzz.pick(variants))];
      } else if (where === 2) {
        // In the URL: never counts.
        pathName = `/kit/credentials?code=${encodeURIComponent(value)}&${CLASS_CODE_HEADER}=${encodeURIComponent(value)}`;
      } else if (where === 3) {
        body = JSON.stringify({ code: value });
        headers['content-type'] = 'application/json';
        carries = method === 'POST' && right(value);
      } else if (where === 4) {
        body = JSON.stringify(
          fuzz.pick([{ code: [value] }, { Code: value }, { code: { value } }, [value], value]),
        );
        // Not an object: read as the code in plain text (quotes and brackets do not count, as in a code typed).
        carries = method === 'POST' && !body.startsWith('{') && right(body);
      } else if (where === 5) {
        body = value;
        carries = method === 'POST' && right(value) && !value.trim().startsWith('{');
      } else if (where === 6) {
        body = Buffer.from(Array.from({ length: fuzz.int(4000) }, () => fuzz.int(256)));
      } else {
        headers[fuzz.pick(['x-class', 'class-code', 'authorization', 'cookie', 'x-class-code2'])] = value;
      }
      if (
        method === 'HEAD' ||
        method === 'OPTIONS' ||
        method === 'PUT' ||
        method === 'DELETE' ||
        method === 'PATCH'
      )
        carries = false;
      // A fresh address for each request: the rate limit does not stand in for the code check.
      const from = `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;
      const answer = await send(server.port, { method, path: pathName, headers, body, from });
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const handedOut = secrets.some((s) => answer.body.includes(s)) || answer.body.includes('BEGIN');
      if (answer.status === 200) granted++;
      assert.equal(
        answer.status === 200 && handedOut,
        carries,
        `request ${i} (${method} ${pathName} ${JSON.stringify(headers).slice(0, 200)} body ${String(body).slice(0, 80)}): ${answer.status} ${answer.body.slice(0, 200)}`,
      );
    }
    t.diagnostic(
      `${FUZZ_REQUESTS} requests in ${Date.now() - started} ms; ${granted} granted; statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
    );
    assert.ok(granted > 10, 'some requests carried the code');
    assert.equal((await fetch(`${server.url}healthz`)).ok, true);
    assert.equal(server.child.exitCode, null);
  });

  test('no code and no credential in the output of the server or of any kit, except the one line for the instructor', async () => {
    const outputs: [string, string][] = [
      ['server', server.output().replace(/the class code is [a-z0-9-]+:/, 'the class code is ...:')],
      ...[...terminals, ...others.map((o, i) => [`other ${i}`, o] as const)].map(
        ([name, terminal]) => [name, terminal.output()] as [string, string],
      ),
    ];
    for (const [name, output] of outputs) {
      assert.ok(!output.includes(code), `${name}: the code is not in its output`);
      assert.ok(!output.toUpperCase().includes(code.toUpperCase()), `${name}: nor the code as typed`);
      for (const secret of secrets) assert.ok(!output.includes(secret), `${name}: no secret in its output`);
      assert.doesNotMatch(output, /BEGIN [A-Z ]*PRIVATE KEY/, `${name}: no key`);
    }
  });

  test('Ctrl-C: the attendees leave the secure stores', async (t) => {
    const leaving = [...terminals.values()];
    const pressed = Date.now();
    for (const terminal of leaving) terminal.signal('SIGINT');
    const codes = await Promise.all(leaving.map((l) => l.exitCode(LEAVE_MS)));
    t.diagnostic(`left in ${Date.now() - pressed} ms`);
    assert.deepEqual(
      codes,
      leaving.map(() => 130),
    );
    for (const terminal of leaving)
      assert.match(terminal.output(), /gone from etcd, zookeeper, consul; nothing of yours runs/);
    await eventually(
      'no attendee device on the page',
      () => STORE_KINDS.every((s) => attendeeDevices(page, s).length === 0),
      {
        timeoutMs: 10_000,
      },
    );
    terminals.clear();
  });
});
