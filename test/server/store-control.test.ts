// The presenter's store controls against a real etcd the kit started, one process: the kit's control
// API (provision/stores/control.ts) with its protections, the real `fleetkit server` relaying the
// presenter's storeControl events to it, and both fuzzed. The 3-member clusters, the elections and the
// page are in test/provision/store-controls-cluster.test.ts.
// Replay a fuzz failure with FUZZ_SEED=<seed>.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { type StoreControl, serveStoreControl } from '../../provision/stores/control.ts';
import { type StoreProcess, startStore } from '../../provision/stores/index.ts';
import type { KitStore, StoreView, TimelineEntry } from '../../server/contract.ts';
import { MAX_ERROR_CHARS } from '../../server/http/socket-guard.ts';
import { eventually } from '../support/eventually.ts';
import { Fuzz, fuzzSeed } from '../support/fuzz.ts';
import { rawTcp } from '../support/raw-socketio.ts';
import { type RunningServer, startServer } from '../support/servers.ts';

interface Answer {
  status: number;
  body: { error?: string } & Record<string, unknown>;
}

/** A request with exactly these headers (Host included): what a browser, a script or a rebinding page sends. */
function send(
  control: StoreControl,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<Answer> {
  const url = new URL(control.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: Number(url.port), method, path, headers, setHost: false, agent: false },
      (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || '{}') }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const hostOf = (control: StoreControl) => new URL(control.url).host;

describe('store controls: the kit control API and the server relay (one real etcd)', {
  timeout: 180_000,
}, () => {
  let etcd: StoreProcess;
  let control: StoreControl;
  let server: RunningServer;
  const sockets: Socket[] = [];
  const namespace = `storecontrol${process.pid}`;
  const auth = () => ({ host: hostOf(control), authorization: `Bearer ${control.secret}` });

  before(async () => {
    etcd = await startStore('etcd');
    control = await serveStoreControl([{ kind: 'etcd', members: [etcd] }]);
    server = await startServer({
      FLEET_ETCD: etcd.endpoints.join(','),
      FLEET_NAMESPACE: namespace,
      FLEET_STORE_CONTROL: control.url,
      FLEET_STORE_CONTROL_SECRET: control.secret,
    });
  });

  after(async () => {
    for (const socket of sockets) socket.close();
    await server?.stop();
    await control?.close();
    await etcd?.stop({ removeData: true });
  });

  const connect = async (token?: string) => {
    const socket = io(server.url, { auth: token ? { token } : {}, transports: ['websocket'] });
    sockets.push(socket);
    const views: StoreView[] = [];
    const timeline: TimelineEntry[] = [];
    socket.on('snapshot', (s) => {
      views.push(...s.stores);
      timeline.push(...s.timeline);
    });
    socket.on('changes', (c) => {
      views.push(...c.stores);
      timeline.push(...c.timeline);
    });
    await eventually('socket connected', () => socket.connected, { timeoutMs: 10_000 });
    return { socket, latest: () => views.filter((v) => v.store === 'etcd').at(-1), timeline };
  };

  test('the API refuses a request without the secret, from another Host, or from a web page; nothing is done', async () => {
    const pid = etcd.pid;
    const refused: [Record<string, string>, number, RegExp][] = [
      [{ host: hostOf(control) }, 401, /authorization: Bearer SECRET expected/],
      [{ host: hostOf(control), authorization: 'Bearer wrong-secret-of-some-length' }, 401, /Bearer/],
      [{ host: hostOf(control), authorization: `Bearer ${control.secret}x` }, 401, /Bearer/],
      [{ host: hostOf(control), authorization: control.secret }, 401, /Bearer/],
      [{ host: hostOf(control), authorization: `Basic ${control.secret}` }, 401, /Bearer/],
      // The right secret, but a page's request: DNS rebinding names its own host, a browser adds Origin.
      [{ ...auth(), host: 'attacker.example' }, 403, /Host: 127\.0\.0\.1:\d+ expected/],
      [{ ...auth(), host: `attacker.example:${new URL(control.url).port}` }, 403, /Host: /],
      [{ ...auth(), host: '127.0.0.1:1' }, 403, /Host: /],
      [{ ...auth(), origin: 'http://attacker.example' }, 403, /from a web page are refused/],
      [{ ...auth(), origin: control.url }, 403, /from a web page/],
      [{ ...auth(), origin: 'null' }, 403, /from a web page/],
      [{ ...auth(), 'sec-fetch-site': 'cross-site' }, 403, /from a web page/],
      [{ ...auth(), 'sec-fetch-site': 'same-origin' }, 403, /from a web page/],
    ];
    for (const [headers, status, message] of refused) {
      for (const [method, path] of [
        ['POST', '/stores/etcd/kill'],
        ['POST', '/stores/etcd/members/1/stop'],
        ['GET', '/stores'],
      ] as const) {
        const answer = await send(control, method, path, headers);
        assert.equal(answer.status, status, `${method} ${path} ${JSON.stringify(headers)}`);
        assert.match(answer.body.error ?? '', message);
        assert.ok(!(answer.body.error ?? '').includes(control.secret), 'the secret is never echoed');
      }
    }
    // No request without the secret even learns which routes exist.
    assert.equal((await send(control, 'GET', '/nothing', { host: hostOf(control) })).status, 401);
    assert.equal(etcd.pid, pid, 'etcd was not touched');
    assert.equal(etcd.running, true);
  });

  test('the API names each bad part of a request with the secret', async () => {
    const cases: [string, string, number, RegExp][] = [
      ['POST', '/stores/redis/kill', 400, /store: one of etcd, zookeeper, consul/],
      ['POST', '/stores/etcd/explode', 400, /action: one of stop, kill, restart/],
      ['POST', '/stores/etcd/members/0/kill', 400, /member: a member number from 1 to 9/],
      ['POST', '/stores/etcd/members/x/kill', 400, /member: /],
      ['POST', '/stores/etcd/members/1e3/kill', 400, /member: /],
      ['POST', '/stores/etcd/members/2/kill', 400, /member: etcd has members 1 to 1/],
      ['POST', '/stores/zookeeper/kill', 404, /zookeeper was not started by this kit/],
      ['POST', '/stores/etcd/m/1/kill', 404, /try GET \/stores/],
      ['GET', '/nothing', 404, /try GET \/stores/],
      ['PUT', '/stores/etcd/kill', 404, /try GET/],
      ['DELETE', '/stores', 404, /try GET/],
    ];
    for (const [method, path, status, message] of cases) {
      const answer = await send(control, method, path, auth());
      assert.equal(answer.status, status, `${method} ${path}: ${JSON.stringify(answer.body)}`);
      assert.match(answer.body.error ?? '', message, `${method} ${path}`);
    }
    const list = await send(control, 'GET', '/stores', {
      ...auth(),
      host: `localhost:${new URL(control.url).port}`,
    });
    assert.equal(list.status, 200);
    const [store] = list.body as unknown as KitStore[];
    assert.equal(store?.store, 'etcd');
    assert.equal(store?.members[0]?.state, 'running');
    assert.equal(store?.members[0]?.pid, etcd.pid);
    assert.ok(store?.members[0]?.ports.includes(Number(new URL(etcd.endpoints[0]!).port)));
  });

  test('through the server: the audience is refused; the presenter kills and restarts etcd, every page sees it, the timeline says so', async (t) => {
    for (const token of [undefined, 'not-the-token']) {
      const { socket } = await connect(token);
      const answer = await socket
        .timeout(5000)
        .emitWithAck('storeControl', { store: 'etcd', action: 'kill' });
      assert.equal(answer.ok, false);
      assert.match(answer.ok ? '' : answer.error, /read-only/);
    }
    assert.equal(etcd.running, true, 'nothing done for the audience');

    const audience = await connect();
    await eventually(
      'the audience sees etcd m1 running',
      () => audience.latest()?.control?.members[0]?.state === 'running',
      {
        timeoutMs: 10_000,
      },
    );
    const presenter = await connect(server.token);
    for (const [payload, message] of [
      [{ store: 'etcd', action: 'explode' }, /action: one of stop, kill, restart/],
      [{ store: 'etcd', member: 1.5, action: 'kill' }, /member: /],
      [{ store: 'consul', action: 'kill' }, /consul was not started by this kit/],
      ['etcd', /request: an object such as/],
    ] as const) {
      const answer = await presenter.socket.timeout(5000).emitWithAck('storeControl', payload as never);
      assert.equal(answer.ok, false, JSON.stringify(payload));
      assert.match(answer.ok ? '' : answer.error, message);
    }

    const killedAt = Date.now();
    const killed = await presenter.socket
      .timeout(30_000)
      .emitWithAck('storeControl', { store: 'etcd', action: 'kill' });
    assert.ok(killed.ok, JSON.stringify(killed));
    assert.equal(killed.data.members[0]?.state, 'killed');
    assert.equal(etcd.running, false);
    t.diagnostic(`kill answered in ${Date.now() - killedAt} ms`);
    await eventually(
      'the audience sees m1 killed',
      () => audience.latest()?.control?.members[0]?.state === 'killed',
      {
        timeoutMs: 10_000,
      },
    );
    const again = await presenter.socket
      .timeout(30_000)
      .emitWithAck('storeControl', { store: 'etcd', action: 'stop' });
    assert.equal(again.ok, false);
    assert.match(again.ok ? '' : again.error, /etcd is not running \(m1 killed\): restart it first/);

    const restartedAt = Date.now();
    const restarted = await presenter.socket
      .timeout(60_000)
      .emitWithAck('storeControl', { store: 'etcd', member: 1, action: 'restart' });
    assert.ok(restarted.ok, JSON.stringify(restarted));
    assert.equal(restarted.data.members[0]?.state, 'running');
    assert.equal(etcd.running, true);
    t.diagnostic(`restart answered in ${Date.now() - restartedAt} ms`);
    await eventually(
      'the audience sees m1 running again',
      () => audience.latest()?.control?.members[0]?.state === 'running',
      {
        timeoutMs: 10_000,
      },
    );
    await eventually('the column is connected again', () => audience.latest()?.connection === 'connected', {
      timeoutMs: 20_000,
    });
    // One action at a time per store: a second one while a restart runs is refused, saying why.
    const restarting = presenter.socket
      .timeout(60_000)
      .emitWithAck('storeControl', { store: 'etcd', action: 'restart' });
    await eventually(
      'the restart under way',
      () => audience.latest()?.control?.members[0]?.busy === 'restart',
      {
        timeoutMs: 10_000,
        intervalMs: 20,
      },
    );
    const busy = await presenter.socket
      .timeout(10_000)
      .emitWithAck('storeControl', { store: 'etcd', action: 'kill' });
    assert.equal(busy.ok, false);
    assert.match(
      busy.ok ? '' : busy.error,
      /^etcd is busy \(restarting m1\): wait for it to finish, then try again$/,
    );
    assert.ok((await restarting).ok);
    assert.equal(etcd.running, true);
    const notes = audience.timeline.filter((e) => e.kind === 'store-control').map((e) => e.text);
    assert.ok(
      notes.some((text) => /^etcd killed \(SIGKILL\) by the presenter \(\d+\.\d s\)$/.test(text)),
      notes.join('\n'),
    );
    assert.ok(
      notes.some((text) => /^etcd m1 restarted by the presenter/.test(text)),
      notes.join('\n'),
    );
  });

  test('fuzz: hostile storeControl events, as the audience and as the presenter, are answered short and change nothing', async (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`FUZZ_SEED=${seed}`);
    const f = new Fuzz(seed);
    const audience = await connect();
    const presenter = await connect(server.token);
    const pid = etcd.pid;
    // Shapes close to a real request, none of them one that would act on etcd.
    const payload = () => {
      const odd = () => (f.chance(0.5) ? f.value() : f.string(f.int(80)));
      if (f.chance(0.2)) return f.value();
      const fields: Record<string, unknown> = {
        store: f.pick(['etcd', 'zookeeper', 'consul', 'ETCD', 'etcd ', '__proto__', odd()]),
        action: f.pick(['kil', 'KILL', 'restart ', 'stop\u0000', 'constructor', odd()]),
      };
      if (f.chance(0.6)) fields.member = f.pick([0, 2, 10, -1, 1.5, '1', null, 2 ** 53, f.number(), odd()]);
      if (f.chance(0.2)) fields[f.key()] = odd();
      return fields;
    };
    let answered = 0;
    for (let i = 0; i < 400; i++) {
      const { socket } = f.chance(0.5) ? presenter : audience;
      let sent = payload();
      // Over the server's 4 KB message limit a socket is cut off (socket-fuzz.test.ts covers that): the
      // limit is in bytes, and 3,000 characters of astral-plane text are 5 KB of UTF-8 (seed 2438023893).
      while (Buffer.byteLength(JSON.stringify(sent) ?? '') > 3000) sent = payload();
      const answer = (await socket.timeout(10_000).emitWithAck('storeControl', sent as never)) as {
        ok: boolean;
        error?: unknown;
      };
      answered++;
      assert.equal(answer.ok, false);
      assert.equal(typeof answer.error, 'string');
      assert.ok((answer.error as string).length <= MAX_ERROR_CHARS);
      // Stay under the event limit (10 a second): this is about the checks, not the rate.
      if (i % 15 === 14) await new Promise((r) => setTimeout(r, 1600));
    }
    assert.equal(answered, 400);
    assert.equal(etcd.pid, pid, 'etcd untouched');
    assert.ok((await fetch(`${server.url}healthz`)).ok, 'the server still serves');
    assert.equal(server.child.exitCode, null);
  });

  test('fuzz: hostile HTTP to the control API (raw bytes: methods, paths, Host, Origin, secrets) never acts and never crashes it', async (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`FUZZ_SEED=${seed}`);
    const f = new Fuzz(seed);
    const port = Number(new URL(control.url).port);
    const pid = etcd.pid;
    const statuses = new Map<string, number>();
    for (let i = 0; i < 600; i++) {
      const method = f.pick([
        'GET',
        'POST',
        'PUT',
        'DELETE',
        'OPTIONS',
        'HEAD',
        'PATCH',
        'post',
        f.string(5),
      ]);
      const segments = Array.from({ length: f.int(6) }, () =>
        f.pick([
          'stores',
          'members',
          'etcd',
          'zookeeper',
          '1',
          '0',
          '01',
          'kill',
          'stop',
          'restart',
          '..',
          '%2e%2e',
          '%00',
          encodeURIComponent(f.wellFormed(f.int(20))),
          f.string(f.int(10)),
        ]),
      );
      const path = `/${segments.join('/')}${f.chance(0.1) ? `?${f.string(10)}` : ''}`;
      const host = f.pick([`127.0.0.1:${port}`, `localhost:${port}`, 'attacker.example', '', f.string(20)]);
      const secret = f.pick([
        undefined,
        'Bearer wrong',
        `Bearer ${control.secret.slice(0, -1)}`,
        `Bearer ${control.secret}\u00e9`,
        `bearer ${control.secret}`,
        f.string(50),
      ]);
      const lines = [`${method} ${path} HTTP/1.1`, `Host: ${host}`];
      if (secret !== undefined) lines.push(`Authorization: ${secret}`);
      if (f.chance(0.3)) lines.push(`Origin: ${f.pick(['http://attacker.example', 'null', f.string(20)])}`);
      if (f.chance(0.2)) lines.push(`${f.string(8)}: ${f.string(30)}`);
      const body = f.chance(0.3) ? f.string(f.int(3000)) : '';
      if (body) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
      lines.push('Connection: close', '', body);
      const reply = (await rawTcp(port, [lines.join('\r\n')], 100)).toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? (reply === '' ? 'none' : 'garbage');
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      // Without the right secret nothing is ever 200; a request Node cannot parse is closed (400 or nothing).
      assert.ok(!status.startsWith('2'), `${status} for ${JSON.stringify(lines).slice(0, 300)}`);
    }
    t.diagnostic(`answers: ${[...statuses].map(([s, n]) => `${s} ${n}`).join(', ')}`);
    // With the secret and the right Host, only the real routes do anything: random paths are refused.
    for (let i = 0; i < 300; i++) {
      const segments = Array.from({ length: 1 + f.int(5) }, () =>
        f.pick([
          'stores',
          'members',
          'etcd',
          'redis',
          '2',
          '0',
          'explode',
          'KILL',
          encodeURIComponent(f.wellFormed(8)),
        ]),
      );
      const path = `/${segments.join('/')}`;
      const method = f.pick(['GET', 'POST', 'PUT']);
      const real =
        (method === 'GET' && path === '/stores') ||
        (method === 'POST' && /^\/stores\/etcd\/(members\/1\/)?(stop|kill|restart)$/.test(path));
      if (real) continue;
      const answer = await send(control, method, path, auth());
      assert.ok([400, 404].includes(answer.status), `${answer.status} for ${method} ${path}`);
      assert.equal(typeof answer.body.error, 'string');
    }
    assert.equal(etcd.pid, pid, 'etcd untouched');
    const list = await send(control, 'GET', '/stores', auth());
    assert.equal(list.status, 200, 'the API still answers');
  });
});
