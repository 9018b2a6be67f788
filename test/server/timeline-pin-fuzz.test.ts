// Hostile pinTimeline events against the real `fleetkit server` (the socket fuzz pattern of
// socket-fuzz.test.ts, for the event the timeline added): seeded random payloads from a presenter and
// from the audience. Every event is answered {ok, data} | {ok: false, error} (short), the audience is
// always refused, only a kept entry's seq or null pins, and the pin every page gets is the last one
// the presenter set. Replay a failure with FUZZ_SEED=<seed>; FUZZ_COUNT bounds the run.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { type StoreProcess, startStore } from '../../provision/stores/index.ts';
import type { FleetSnapshot } from '../../server/contract.ts';
import { MAX_ERROR_CHARS } from '../../server/http/socket-guard.ts';
import { storeEnv } from '../support/agents.ts';
import { Fuzz, fuzzSeed } from '../support/fuzz.ts';
import { type RunningServer, startServer } from '../support/servers.ts';

const COUNT = Number(process.env.FUZZ_COUNT ?? 600);
/** Under the server's 10 events a second per connection, so that every event is processed. */
const PACE_MS = 110;

type Answer = { ok: true; data: { pinned: number | null } } | { ok: false; error: string };

describe('fleetkit server: hostile pinTimeline events', { timeout: 300_000 }, () => {
  let etcd: StoreProcess;
  let server: RunningServer;
  const namespace = `pinfuzz${process.pid}`;

  before(async () => {
    etcd = await startStore('etcd');
    server = await startServer({ ...storeEnv({ etcd }), FLEET_NAMESPACE: namespace });
  });

  after(async () => {
    await server?.stop();
    await etcd?.stop({ removeData: true });
  });

  const connect = (auth: object) =>
    new Promise<{ socket: Socket; snapshot: FleetSnapshot }>((resolve, reject) => {
      const socket = io(server.url, { forceNew: true, reconnection: false, auth, transports: ['websocket'] });
      socket.on('snapshot', (snapshot: FleetSnapshot) => resolve({ socket, snapshot }));
      socket.on('connect_error', reject);
    });

  test(`fuzz: ${COUNT} random pinTimeline payloads from the presenter and the audience`, async (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`FUZZ_SEED=${seed} FUZZ_COUNT=${COUNT}`);
    const f = new Fuzz(seed);
    const presenter = await connect({ token: server.token });
    const audience = await connect({});
    try {
      // Entries to pin: the presenter sets colors (one "color-set" entry each).
      for (const color of ['#e63946', '#2a9d8f', '#457b9d']) {
        const set = await presenter.socket.timeout(5000).emitWithAck('setColor', { color });
        assert.equal(set.ok, true, JSON.stringify(set));
      }
      const kept = (await (await fetch(`${server.url}timeline.json`)).json()).entries.map(
        (e: { seq: number }) => e.seq,
      ) as number[];
      assert.ok(kept.length >= 3);

      const payload = (): unknown => {
        switch (f.int(6)) {
          case 0:
            return { seq: f.pick(kept) };
          case 1:
            return { seq: null };
          case 2:
            return {
              seq: f.pick([0, -1, 1.5, 2 ** 53, 1e308, -0, Number.MAX_SAFE_INTEGER, kept.at(-1)! + 1000]),
            };
          case 3:
            return { seq: f.value() };
          case 4:
            return f.object();
          default:
            return f.value();
        }
      };
      let expected: number | null = null;
      const stats = { pinned: 0, unpinned: 0, refused: 0, audienceRefused: 0 };
      const problems: string[] = [];
      for (let i = 0; i < COUNT; i++) {
        // Within the server's 4 KB message limit: a bigger one ends the connection before any handler
        // sees it (socket-fuzz.test.ts covers that); here every event is to reach pinTimeline.
        let sent = payload();
        if (Buffer.byteLength(JSON.stringify(sent) ?? '') > 3000) sent = { seq: f.string(40) };
        const fromAudience = f.chance(0.2);
        const socket = fromAudience ? audience.socket : presenter.socket;
        let answer: Answer;
        try {
          answer = await socket.timeout(3000).emitWithAck('pinTimeline', sent);
        } catch {
          problems.push(
            `no answer to ${JSON.stringify(sent)?.slice(0, 200)} (connected: ${socket.connected})`,
          );
          if (problems.length > 10) break;
          continue;
        }
        if (!answer || typeof answer.ok !== 'boolean') {
          problems.push(`malformed answer ${JSON.stringify(answer)?.slice(0, 200)}`);
        } else if (!answer.ok) {
          if (typeof answer.error !== 'string' || answer.error.length > MAX_ERROR_CHARS) {
            problems.push(`malformed error ${JSON.stringify(answer).slice(0, 300)}`);
          }
          if (fromAudience) {
            stats.audienceRefused++;
            if (!/read-only/.test(answer.error))
              problems.push(`audience refused for another reason: ${answer.error}`);
          } else {
            stats.refused++;
            if (/too many requests/.test(answer.error)) problems.push('paced events refused as too many');
          }
        } else {
          if (fromAudience) problems.push(`the audience pinned: ${JSON.stringify(sent)}`);
          // NaN and Infinity travel as null in JSON: an unpin, as far as the server can tell.
          const given = (sent as { seq: number | null }).seq;
          const seq = typeof given === 'number' && !Number.isFinite(given) ? null : given;
          const valid = seq === null || kept.includes(seq);
          if (!valid) problems.push(`accepted ${JSON.stringify(sent)?.slice(0, 200)}`);
          if (answer.data.pinned !== seq) problems.push(`answered ${answer.data.pinned} for ${seq}`);
          expected = answer.data.pinned;
          if (expected === null) stats.unpinned++;
          else stats.pinned++;
        }
        await new Promise((r) => setTimeout(r, PACE_MS));
      }
      t.diagnostic(JSON.stringify(stats));
      assert.deepEqual(problems.slice(0, 10), [], `seed ${seed}`);
      assert.ok(stats.pinned > 0 && stats.refused > 0 && stats.audienceRefused > 0, JSON.stringify(stats));

      assert.equal(server.child.exitCode, null, 'the server is running');
      assert.equal((await fetch(`${server.url}healthz`)).status, 200);
      const fresh = await connect({});
      try {
        assert.equal(fresh.snapshot.pinned?.seq ?? null, expected, 'a new page gets the last pin set');
      } finally {
        fresh.socket.close();
      }
      const lines = server.stderr().split('\n').filter(Boolean);
      assert.deepEqual(
        lines.filter((line) => !line.startsWith('{')).slice(0, 5),
        [],
        'nothing on stderr but the logger',
      );
      assert.deepEqual(
        lines.filter((line) => /pinTimeline failed|uncaught|unhandled/i.test(line)).slice(0, 5),
        [],
        'refusals are answered, not logged as failures',
      );
    } finally {
      presenter.socket.close();
      audience.socket.close();
    }
  });
});
