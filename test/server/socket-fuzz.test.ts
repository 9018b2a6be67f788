// Hostile traffic against the real `fleetkit server`: at a venue the audience shares the Wi-Fi and can
// reach the page's port. Whatever arrives (handshakes, events, raw engine.io and WebSocket bytes), the
// server keeps serving, the audience stays read-only and the presenter keeps control.
// Replay a failure with FUZZ_SEED=<seed>; FUZZ_COUNT and FUZZ_TIME_MS bound the run.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { createRegistry } from '../../lib/registry/index.ts';
import { type StoreProcess, startStore } from '../../provision/stores/index.ts';
import { EVENT_BURST, MAX_CONNECTIONS_PER_ADDRESS, MAX_ERROR_CHARS } from '../../server/http/socket-guard.ts';
import { storeEnv } from '../support/agents.ts';
import { eventually } from '../support/eventually.ts';
import { Fuzz, fuzzSeed } from '../support/fuzz.ts';
import {
  eventName,
  eventPayload,
  httpRequest,
  pollingSession,
  randomAuth,
  randomPacket,
  rawTcp,
  upgradeRequest,
  wsFrame,
} from '../support/raw-socketio.ts';
import { type RunningServer, startServer } from '../support/servers.ts';

const COUNT = Number(process.env.FUZZ_COUNT ?? 2000);
const TIME_MS = Number(process.env.FUZZ_TIME_MS ?? 45_000);
/** Actions in flight at once: enough to interleave, few enough to stay under the per-address cap. */
const WORKERS = 6;
const KNOWN_EVENTS = new Set(['setColor', 'simulate', 'storeControl', 'pinTimeline']);

interface Connected {
  socket: Socket;
  presenter?: boolean;
  error?: string;
}

interface Stats {
  actions: Record<string, number>;
  connected: number;
  refusedHandshakes: number;
  /** Handshakes socket.io-client would not even send. */
  clientRefused: number;
  emitted: number;
  answered: number;
  tooMany: number;
  serverDisconnects: number;
  /** What breaks the contract: unanswered or malformed acks to known events. */
  problems: string[];
}

describe('fleetkit server: hostile socket.io traffic', { timeout: 240_000 }, () => {
  let etcd: StoreProcess;
  let server: RunningServer;
  const namespace = `fuzz${process.pid}`;

  before(async () => {
    etcd = await startStore('etcd');
    server = await startServer({ ...storeEnv({ etcd }), FLEET_NAMESPACE: namespace });
  });

  after(async () => {
    await server?.stop();
    await etcd?.stop({ removeData: true });
  });

  /** A socket.io client; resolves once its snapshot arrived, or with why it did not. */
  function connect(options: Parameters<typeof io>[1] = {}, waitMs = 3000): Promise<Connected> {
    const socket = io(server.url, { forceNew: true, reconnection: false, timeout: waitMs, ...options });
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ socket, error: 'no snapshot in time' }), waitMs);
      socket.on('snapshot', (snapshot) => {
        clearTimeout(timer);
        resolve({ socket, presenter: snapshot.presenter });
      });
      socket.on('connect_error', (error) => {
        clearTimeout(timer);
        resolve({ socket, error: error.message });
      });
    });
  }

  async function assertServing(what: string) {
    assert.equal(server.child.exitCode, null, `${what}: the server exited\n${server.output().slice(-3000)}`);
    assert.equal(server.child.signalCode, null, `${what}: the server was killed`);
    const health = await httpRequest(`${server.url}healthz`);
    assert.equal(health.status, 200, `${what}: /healthz answered ${health.status}`);
  }

  test("a token of the presenter token's length in characters but not in bytes ('é' x n): the server stays up and the connection is read-only", async () => {
    const { socket, presenter, error } = await connect({
      auth: { token: 'é'.repeat(server.token.length) },
      transports: ['websocket'],
    });
    try {
      await new Promise((r) => setTimeout(r, 300));
      await assertServing('after the handshake');
      assert.equal(error, undefined, 'connected');
      assert.equal(presenter, false, 'an audience connection');
      const answer = await socket.timeout(3000).emitWithAck('setColor', { color: '#abcdef' });
      assert.equal(answer.ok, false);
      assert.match(answer.error, /read-only/);
    } finally {
      socket.close();
    }
  });

  test('a flood from one connection: refused beyond the burst ("too many requests"), then cut off; others carry on', async () => {
    const { socket, presenter } = await connect({ auth: { token: server.token }, transports: ['websocket'] });
    const answers: { ok: boolean; error?: string }[] = [];
    let disconnectedBy = '';
    socket.on('disconnect', (reason) => (disconnectedBy = reason));
    try {
      assert.equal(presenter, true);
      // An invalid color: the events that get through are answered, and nothing is written.
      for (let i = 0; i < 600; i++) socket.emit('setColor', { color: 42 }, (a: never) => answers.push(a));
      await eventually('the server cut the flooding connection off', () => disconnectedBy !== '', {
        timeoutMs: 5000,
      });
      assert.equal(disconnectedBy, 'io server disconnect');
      const processed = answers.filter((a) => /color/.test(a.error ?? ''));
      const refused = answers.filter((a) => /^too many requests/.test(a.error ?? ''));
      assert.ok(processed.length >= EVENT_BURST && processed.length < EVENT_BURST * 2, `${processed.length}`);
      assert.ok(refused.length > 0, 'refusals answered');
    } finally {
      socket.close();
    }
    const other = await connect();
    other.socket.close();
    assert.equal(other.presenter, false, 'another connection still gets its snapshot');
    await assertServing('after the flood');
  });

  test(`fuzz: up to ${COUNT} random handshakes, events and raw engine.io/WebSocket packets in ${TIME_MS / 1000} s: the server keeps serving, the audience reads, the presenter writes`, async (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`FUZZ_SEED=${seed} FUZZ_COUNT=${COUNT} FUZZ_TIME_MS=${TIME_MS}`);
    const f = new Fuzz(seed, [server.token.length]);
    const stats: Stats = {
      actions: {},
      connected: 0,
      refusedHandshakes: 0,
      clientRefused: 0,
      emitted: 0,
      answered: 0,
      tooMany: 0,
      serverDisconnects: 0,
      problems: [],
    };
    // Every action gets its own seed up front: the run replays whatever order the workers take.
    const actions = Array.from({ length: COUNT }, () => f.seed());
    const started = Date.now();
    let done = 0;
    const worker = async () => {
      while (actions.length > 0 && Date.now() - started < TIME_MS && server.child.exitCode === null) {
        await runAction(new Fuzz(actions.shift()!, [server.token.length]), stats);
        done++;
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    const elapsed = Date.now() - started;
    t.diagnostic(`${done} actions in ${(elapsed / 1000).toFixed(1)} s: ${JSON.stringify(stats.actions)}`);
    t.diagnostic(
      `handshakes connected ${stats.connected}, refused ${stats.refusedHandshakes} (not sent: ${stats.clientRefused}); events ${stats.emitted}, ` +
        `acks answered ${stats.answered} (too many requests: ${stats.tooMany}); cut off by the server: ${stats.serverDisconnects}`,
    );

    await assertServing('after the fuzz');
    assert.deepEqual(stats.problems.slice(0, 10), [], `seed ${seed}`);

    const audience = await connect();
    const presenter = await connect({ auth: { token: server.token } });
    const registry = createRegistry({ store: 'etcd', endpoints: etcd.endpoints, namespace });
    try {
      assert.equal(audience.presenter, false, `the audience gets a snapshot (${audience.error})`);
      const refused = await audience.socket.timeout(3000).emitWithAck('setColor', { color: '#123456' });
      assert.match(refused.ok ? '' : refused.error, /read-only/);
      assert.equal(presenter.presenter, true, `the presenter gets a snapshot (${presenter.error})`);
      const color = `#${(seed & 0xffffff).toString(16).padStart(6, '0')}`;
      const answer = await presenter.socket.timeout(5000).emitWithAck('setColor', { color, store: 'all' });
      assert.deepEqual(answer, { ok: true, data: { stores: ['etcd'] } });
      assert.equal(await registry.getConfig('color'), color, 'read back from etcd by another client');
    } finally {
      audience.socket.close();
      presenter.socket.close();
      await registry.close();
    }

    // Warnings and errors are the logger's JSON lines; anything else is Node reporting a crash. The crash
    // policy's own lines (an error caught at the last net, the server kept running) are allowed, and shown.
    const lines = server.stderr().split('\n').filter(Boolean);
    const foreign = lines.filter((line) => !line.startsWith('{'));
    const uncaught = lines.filter((line) => line.startsWith('{') && /uncaught|unhandled/i.test(line));
    if (uncaught.length > 0) t.diagnostic(`crash policy logged ${uncaught.length}: ${uncaught[0]}`);
    assert.deepEqual(foreign.slice(0, 10), [], 'nothing on stderr but the logger');
  });

  test(`at most ${MAX_CONNECTIONS_PER_ADDRESS} connections from one address; a slot is free again once one closes`, async () => {
    const sids: string[] = [];
    let refusal = 0;
    try {
      for (let i = 0; i <= MAX_CONNECTIONS_PER_ADDRESS; i++) {
        const sid = await pollingSession(server.url);
        if (!sid) break;
        sids.push(sid);
      }
      const refused = await httpRequest(`${server.url}socket.io/?EIO=4&transport=polling`);
      refusal = refused.status;
      assert.equal(refusal, 403, refused.body);
      assert.ok(sids.length <= MAX_CONNECTIONS_PER_ADDRESS, `${sids.length} open`);
      await closePolling(sids.pop()!);
      await eventually('a slot is free again', async () => (await pollingSession(server.url)) !== undefined, {
        timeoutMs: 2000,
      });
    } finally {
      await Promise.all(sids.map(closePolling));
    }
    await assertServing('after the cap');
  });

  const pollingUrl = (sid: string) => `${server.url}socket.io/?EIO=4&transport=polling&sid=${sid}`;
  const closePolling = (sid: string) => httpRequest(pollingUrl(sid), { method: 'POST', body: '1' });

  async function runAction(f: Fuzz, stats: Stats) {
    const kind = f.pick([
      'client',
      'client',
      'client',
      'polling',
      'polling',
      'websocket',
      'websocket',
      'http',
    ]);
    stats.actions[kind] = (stats.actions[kind] ?? 0) + 1;
    if (kind === 'client') return clientAction(f, stats);
    if (kind === 'polling') return pollingAction(f);
    if (kind === 'websocket') return websocketAction(f);
    return httpAction(f);
  }

  /** socket.io-client with a random handshake, then random events, some with acks, sometimes a flood. */
  async function clientAction(f: Fuzz, stats: Stats) {
    const auth = f.chance(0.2) ? { token: server.token } : randomAuth(f, server.token);
    // Well-formed: socket.io-client cannot URI-encode a lone surrogate (it throws, sending nothing).
    const query = Object.fromEntries(
      Array.from({ length: f.int(3) }, () => [f.wellFormed(f.int(12)), f.wellFormed(f.int(40))]),
    );
    const transports = f.pick([undefined, ['websocket'], ['polling']]);
    let connected: Connected;
    try {
      connected = await connect({ auth: auth as object, query, transports }, 2000);
    } catch {
      stats.clientRefused++; // the client library refused these options itself
      return;
    }
    const { socket } = connected;
    let cutOff = false;
    socket.on('disconnect', (reason) => (cutOff ||= reason === 'io server disconnect'));
    if (connected.error) stats.refusedHandshakes++;
    else stats.connected++;
    const count = f.chance(0.03) ? 250 + f.int(200) : f.int(10);
    const acks: Promise<void>[] = [];
    for (let i = 0; i < count && !connected.error; i++) {
      const flood = count > 100;
      const name = flood ? 'setColor' : eventName(f);
      // A flood's events stay small: one over maxHttpBufferSize would end the connection before the limit does.
      const args = flood
        ? [{ color: f.pick(['#a1b2c3', 'teal', 42]) }]
        : Array.from({ length: f.pick([0, 1, 1, 1, 2, 3]) }, () => eventPayload(f));
      stats.emitted++;
      if (!f.chance(0.6)) {
        try {
          socket.emit(name, ...args);
        } catch {} // socket.io-client refuses reserved names (connect, ...) itself: nothing sent
        continue;
      }
      const answered = new Promise<void>((resolve) => {
        try {
          // Unknown events are never answered: a short wait shows that without slowing the run.
          socket
            .timeout(KNOWN_EVENTS.has(name) ? 3000 : 300)
            .emit(name, ...args, (error: Error | null, answer: unknown) => {
              if (!error) checkAnswer(name, answer, stats);
              else if (KNOWN_EVENTS.has(name) && socket.connected && !cutOff) {
                stats.problems.push(`no answer to ${name} ${JSON.stringify(args).slice(0, 200)}`);
              }
              resolve();
            });
        } catch {
          resolve(); // a reserved name, as above
        }
      });
      acks.push(answered);
    }
    await Promise.all(acks);
    if (cutOff) stats.serverDisconnects++;
    socket.close();
  }

  function checkAnswer(name: string, answer: unknown, stats: Stats) {
    stats.answered++;
    const a = answer as { ok?: unknown; error?: unknown };
    if (!KNOWN_EVENTS.has(name)) stats.problems.push(`an answer to unknown event ${name}`);
    else if (a?.ok === true) return;
    else if (a?.ok !== false || typeof a.error !== 'string' || a.error.length > MAX_ERROR_CHARS) {
      stats.problems.push(`malformed answer to ${name}: ${JSON.stringify(answer).slice(0, 300)}`);
    } else if (a.error.startsWith('too many requests')) stats.tooMany++;
  }

  /** An engine.io long-polling session fed random packets, and sometimes upgraded by hand. */
  async function pollingAction(f: Fuzz) {
    const sid = await pollingSession(server.url);
    if (!sid) return;
    for (let i = 0, posts = 1 + f.int(5); i < posts; i++) {
      const packets = Array.from({ length: 1 + f.int(3) }, () => randomPacket(f, server.token));
      const body = f.chance(0.1) ? randomBytes(f.int(6000)) : packets.join('\u001e');
      const type = f.pick(['text/plain;charset=UTF-8', 'application/octet-stream', 'application/json', '']);
      await httpRequest(pollingUrl(sid), {
        method: 'POST',
        body,
        headers: type ? { 'content-type': type } : {},
      });
      // A read long-polls when nothing is queued: cut it short.
      if (f.chance(0.5)) await httpRequest(pollingUrl(sid), {}, 150);
    }
    if (f.chance(0.2)) {
      const frames = ['2probe', '5', randomPacket(f, server.token)].map((p) => wsFrame(1, Buffer.from(p)));
      await rawTcp(server.port, [
        upgradeRequest(server.port, `EIO=4&transport=websocket&sid=${sid}`),
        ...frames,
      ]);
    }
    await closePolling(sid); // frees this address's slot at once
  }

  /** A WebSocket opened by hand, then frames: mostly socket.io packets, some broken on purpose. */
  async function websocketAction(f: Fuzz) {
    const query = f.chance(0.9)
      ? 'EIO=4&transport=websocket'
      : f.pick([
          'EIO=3&transport=websocket',
          'EIO=5&transport=websocket',
          `EIO=4&transport=websocket&sid=${f.int(1e9)}`,
        ]);
    const chunks: (string | Buffer)[] = [upgradeRequest(server.port, query)];
    if (f.chance(0.8))
      chunks.push(wsFrame(1, Buffer.from(randomPacket(f, server.token).replace(/^4[^0].*/s, '40'))));
    for (let i = 0, frames = f.int(8); i < frames; i++) {
      const payload = f.chance(0.8) ? Buffer.from(randomPacket(f, server.token)) : randomBytes(f.int(200));
      chunks.push(
        wsFrame(f.chance(0.85) ? 1 : f.pick([0, 2, 3, 8, 9, 10, 11, 15]), payload, {
          fin: f.chance(0.9),
          mask: f.chance(0.95),
          rsv: f.chance(0.05) ? 1 + f.int(7) : 0,
          claimedLength: f.chance(0.03) ? f.pick([payload.length + 10, 70_000, 2 ** 40]) : payload.length,
        }),
      );
    }
    await rawTcp(server.port, chunks, 50 + f.int(200));
  }

  /** Requests engine.io must refuse: bad versions, transports, sids and methods, and plain garbage. */
  async function httpAction(f: Fuzz) {
    if (f.chance(0.3)) {
      const garbage = f.chance(0.5) ? randomBytes(f.int(3000)) : `${f.string(f.int(200))}\r\n\r\n`;
      await rawTcp(server.port, [garbage], 50);
      return;
    }
    const query = [
      `EIO=${f.pick(['4', '3', '5', '', 'x', '4.0', '-1'])}`,
      `transport=${f.pick(['polling', 'websocket', 'flashsocket', '', f.string(5)])}`,
      f.chance(0.5)
        ? `sid=${f.pick([f.string(20), 'AAAAAAAAAAAAAAAAAAAA', '__proto__', 'constructor'])}`
        : '',
      f.chance(0.2) ? `b64=1&j=${f.int(10)}` : '',
    ].filter(Boolean);
    let search: string;
    try {
      search = query
        .map((p) => p.replace(/=(.*)$/s, (_, v: string) => `=${encodeURIComponent(v)}`))
        .join('&');
    } catch {
      search = 'EIO=4&transport=polling&sid=%ED%A0%80'; // a lone surrogate cannot be URI-encoded
    }
    const method = f.pick(['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);
    const body = method === 'GET' || method === 'OPTIONS' ? undefined : randomPacket(f, server.token);
    await httpRequest(`${server.url}socket.io/?${search}`, { method, body }, 300);
  }
});
