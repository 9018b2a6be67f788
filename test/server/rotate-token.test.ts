// The presenter URL shown to the room by mistake: the presenter rotates the token from the page. The
// real `fleetkit server` against the three real stores, real socket.io clients: the old token's pages
// turn read-only at once (a fresh snapshot) and cannot connect as presenter again, the new URL is
// printed in the server's terminal and sent to no page, and the audience cannot rotate.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import type {
  Ack,
  ClientToServerEvents,
  FleetSnapshot,
  ServerToClientEvents,
} from '../../server/contract.ts';
import { delay, eventually } from '../support/eventually.ts';
import { Fuzz, fuzzSeed } from '../support/fuzz.ts';
import { type RunningServer, startServer } from '../support/servers.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

type PageSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** A page's socket and every snapshot it was sent, newest last. */
async function connect(url: string, token?: string) {
  const socket: PageSocket = io(url, { transports: ['websocket'], auth: token ? { token } : {} });
  const snapshots: FleetSnapshot[] = [];
  socket.on('snapshot', (s) => snapshots.push(s));
  await eventually('its first snapshot', async () => snapshots.length > 0, { timeoutMs: 15_000 });
  return { socket, snapshots, presenter: () => snapshots.at(-1)?.presenter };
}

const rotate = (socket: PageSocket, payload: unknown = {}) =>
  new Promise<Ack<{ where: string }>>((resolve) =>
    socket
      .timeout(10_000)
      .emit('rotateToken', payload, (e, r) => resolve(e ? { ok: false, error: String(e) } : r)),
  );

describe('fleetkit server: the presenter rotates the token', { timeout: 120_000 }, () => {
  let stores: ThreeStores;
  let server: RunningServer;
  const open: PageSocket[] = [];

  before(async () => {
    stores = await startThreeStores();
    server = await startServer({ ...stores.env(), FLEET_NAMESPACE: `rotate${process.pid}` });
  });

  after(async () => {
    for (const socket of open) socket.close();
    await server?.stop();
    await stores?.stop();
  });

  test('the audience cannot; the presenter can: every old presenter page read-only, the new URL only in the terminal', async () => {
    const audience = await connect(server.url);
    const first = await connect(server.url, server.token);
    const second = await connect(server.url, server.token);
    open.push(audience.socket, first.socket, second.socket);
    assert.equal(audience.presenter(), false);
    assert.equal(first.presenter(), true);

    // Whatever the audience sends with it (random JSON, prototype keys, long strings): refused, answered.
    const seed = fuzzSeed();
    const f = new Fuzz(seed);
    // Paced under the connection's event limit (10 a second), so that each is judged on its own.
    for (let i = 0; i < 100; i++) {
      await delay(110);
      const payload = f.value();
      // Packets over 4 KB end the connection instead (maxHttpBufferSize; socket-fuzz.test.ts has those).
      if (Buffer.byteLength(JSON.stringify(payload) ?? '') > 3000) continue;
      const refused = await rotate(audience.socket, payload);
      assert.equal(refused.ok, false, `FUZZ_SEED=${seed}: ${JSON.stringify(refused)}`);
      assert.match(refused.ok ? '' : refused.error, /read-only/);
    }
    assert.ok(!/token rotated/.test(server.output()), 'the audience rotated the token');
    assert.equal(first.presenter(), true);

    const answer = await rotate(first.socket);
    assert.ok(answer.ok, JSON.stringify(answer));
    assert.match(answer.data.where, /terminal/);
    const printedUrl = () => /token rotated.*the new one: ([^\s"]+)/.exec(server.output())?.[1];
    await eventually('the new presenter URL in the server output', async () => printedUrl() !== undefined, {
      timeoutMs: 5000,
    });
    const fresh = new URL(printedUrl()!).searchParams.get('token');
    assert.ok(fresh && fresh !== server.token, `a new token: ${fresh}`);
    assert.ok(!JSON.stringify(answer).includes(fresh), 'the new token was sent to the page');
    await eventually(
      'both old presenter pages read-only (a fresh snapshot)',
      async () => first.presenter() === false && second.presenter() === false,
      { timeoutMs: 5000 },
    );
    const again = await rotate(second.socket);
    assert.equal(again.ok, false, 'a page of the old token still rotates');

    const old = await connect(server.url, server.token);
    const renewed = await connect(server.url, fresh);
    open.push(old.socket, renewed.socket);
    assert.equal(old.presenter(), false, 'the old token still gives the presenter');
    assert.equal(renewed.presenter(), true, 'the new token does not');
  });
});
