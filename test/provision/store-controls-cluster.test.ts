// The issue's acceptance for the store controls, all real: a 3-member cluster of each store started by
// the kit's runner with the kit's control API, three `fleetkit agent` processes registered with every
// member's endpoint (as the demo gives them), and the real `fleetkit server` with the control's secret.
// The presenter kills each store's leader through the server's socket: the others elect a new leader,
// the page's view (a socket's state, built from the snapshot and every batch, as the page builds it)
// never loses a device (Consul: a device may turn critical for at most one check window, while it
// moves off a killed member that held it), and the member restarts. Then in Chromium at 1280x720 the
// presenter clicks "kill the leader" in a column header; the audience sees the election and no button.
// Heavy (nine store processes, three of them JVMs, on a 2-core machine): run it alone.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { io, type Socket } from 'socket.io-client';
import { livenessEnv } from '../../lib/cli/common-settings.ts';
import { DEFAULT_LIVENESS, livenessWindowMs, STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import { type StoreControl, serveStoreControl } from '../../provision/stores/control.ts';
import { type StoreCluster, startCluster, stopAllStores } from '../../provision/stores/index.ts';
import type { DeviceView, StoreView, TimelineEntry } from '../../server/contract.ts';
import { leaderMember, memberRows } from '../../server/page/store-members.ts';
import { type RunningAgent, startAgent } from '../support/agents.ts';
import { launchBrowser, openPage, overlaps, screenshotDir } from '../support/browser.ts';
import { delay, eventually } from '../support/eventually.ts';
import { type RunningServer, startServer } from '../support/servers.ts';

const NS = `storecontrols${process.pid}`;
/**
 * The demo's liveness (`npm run demo -- --members 3` runs with the defaults: lease and session 5 s,
 * HTTP check every 2 s): an election under load must fit in it. With the tests' usual 2 s windows a
 * 2-core machine at load 9 let a lease run out during etcd's election (its keepalives were already
 * late: the tiles showed 0.8 s left), which is the machine, not the controls.
 */
const LIVENESS_ENV = { ...livenessEnv(DEFAULT_LIVENESS), FLEET_REPORT_INTERVAL: '5' };
const DEVICES = ['pi-1', 'pi-2', 'pi-3'];
/** Watched after each kill: three times the longest window (5 s) and the election. */
const HOLD_MS = 15_000;
/** Measured 1-4 s for an election and 2-9 s for a restart on the 2-core machine, loaded; three times and more. */
const ELECTION_TIMEOUT_MS = 45_000;
const RESTART_TIMEOUT_MS = 150_000;

/** The page's view of the fleet, kept from the snapshot and the batches as the page keeps it. */
class PageState {
  readonly stores = new Map<StoreKind, StoreView>();
  readonly devices = new Map<string, DeviceView>();
  readonly timeline: TimelineEntry[] = [];

  constructor(readonly socket: Socket) {
    socket.on('snapshot', (snapshot) => {
      this.stores.clear();
      this.devices.clear();
      for (const view of snapshot.stores) this.stores.set(view.store, view);
      for (const device of snapshot.devices) this.devices.set(`${device.store}/${device.id}`, device);
      this.timeline.push(...snapshot.timeline);
    });
    socket.on('changes', (changes) => {
      for (const view of changes.stores) this.stores.set(view.store, view);
      for (const { store, id } of changes.gone) this.devices.delete(`${store}/${id}`);
      for (const device of changes.devices) this.devices.set(`${device.store}/${device.id}`, device);
      this.timeline.push(...changes.timeline);
    });
  }

  device(store: StoreKind, id: string): DeviceView | undefined {
    return this.devices.get(`${store}/${id}`);
  }
}

/** What the timeline said of a store since a moment, for a failure's message. */
let timelineSince: (store: StoreKind, at: number) => string = () => '';

describe('store controls on 3-member clusters, real agents, the real server', { timeout: 900_000 }, () => {
  const clusters = {} as Record<StoreKind, StoreCluster>;
  const agents: RunningAgent[] = [];
  const sockets: Socket[] = [];
  let control: StoreControl;
  let server: RunningServer;
  let readOnlyServer: RunningServer | undefined;
  let browser: Browser | undefined;
  let audience: PageState;
  let presenter: Socket;

  before(async () => {
    // One store at a time: three JVMs starting together starve a 2-core machine.
    for (const kind of STORE_KINDS) clusters[kind] = await startCluster(kind, { startTimeoutMs: 120_000 });
    control = await serveStoreControl(STORE_KINDS.map((kind) => clusters[kind]));
    const storesEnv = {
      FLEET_ETCD: clusters.etcd.endpoints.join(','),
      FLEET_ZOOKEEPER: clusters.zookeeper.endpoints.join(','),
      FLEET_CONSUL: clusters.consul.endpoints.join(','),
      FLEET_NAMESPACE: NS,
      ...LIVENESS_ENV,
    };
    for (const id of DEVICES) agents.push(await startAgent({ ...storesEnv, FLEET_DEVICE_ID: id }));
    server = await startServer({
      ...storesEnv,
      FLEET_STORE_CONTROL: control.url,
      FLEET_STORE_CONTROL_SECRET: control.secret,
    });
    // The same stores, watched by a server that was not given the control: read-only columns.
    readOnlyServer = await startServer(storesEnv);
    const connect = (auth: Record<string, string>) => {
      const socket = io(server.url, { auth, transports: ['websocket'] });
      sockets.push(socket);
      return socket;
    };
    audience = new PageState(connect({}));
    timelineSince = (store, at) =>
      audience.timeline
        .filter((e) => e.at >= at && (e.store === store || e.store === null))
        .map((e) => `+${e.at - at} ms ${e.kind}: ${e.text}`)
        .join(' | ');
    presenter = connect({ token: server.token });
    await eventually(
      'every device passing in every store, and every column with its kit members and a leader',
      () =>
        STORE_KINDS.every(
          (kind) =>
            DEVICES.every((id) => audience.device(kind, id)?.health === 'passing') &&
            audience.stores.get(kind)?.control?.members.length === 3 &&
            leaderMember(audience.stores.get(kind)) !== null,
        ),
      { timeoutMs: 90_000, intervalMs: 200 },
    );
  });

  after(async () => {
    for (const socket of sockets) socket.close();
    await browser?.close();
    for (const agent of agents) if (agent.child.exitCode === null) agent.child.kill('SIGKILL');
    await server?.stop();
    await readOnlyServer?.stop();
    await control?.close();
    await stopAllStores();
  });

  test('a read-only page (no token) may not stop a store; nothing is done', async () => {
    const pids = STORE_KINDS.map((kind) => clusters[kind].members.map((m) => m.pid));
    for (const auth of [{}, { token: 'not-the-presenter-token' }]) {
      const socket = io(server.url, { auth, transports: ['websocket'] });
      sockets.push(socket);
      for (const kind of STORE_KINDS) {
        const answer = await socket
          .timeout(5000)
          .emitWithAck('storeControl', { store: kind, member: 1, action: 'kill' });
        assert.equal(answer.ok, false);
        assert.match(answer.ok ? '' : answer.error, /read-only/);
      }
      socket.close();
    }
    assert.deepEqual(
      STORE_KINDS.map((kind) => clusters[kind].members.map((m) => m.pid)),
      pids,
    );
  });

  for (const kind of STORE_KINDS) {
    test(`${kind}: the presenter kills the leader through the socket; a new leader is elected, no device drops from the page, the member restarts`, async (t) => {
      const before = leaderMember(audience.stores.get(kind));
      assert.ok(before !== null, `${kind} has a leader`);
      const windowMs = livenessWindowMs(kind, DEFAULT_LIVENESS);
      const holder = kind === 'consul' ? DEVICES.map((id) => audience.device(kind, id)?.liveness) : [];
      const killedAt = Date.now();
      const answer = await presenter
        .timeout(60_000)
        .emitWithAck('storeControl', { store: kind, member: before, action: 'kill' });
      assert.ok(answer.ok, JSON.stringify(answer));
      assert.equal(answer.data.members[before - 1]?.state, 'killed');
      assert.equal(clusters[kind].members[before - 1]?.running, false);

      // Sampled every 50 ms until the new leader is seen and HOLD_MS have passed: every device in the
      // page's view; Consul's at most one check window critical.
      let electedMs: number | undefined;
      const criticalSince = new Map<string, number>();
      let longestCriticalMs = 0;
      while (Date.now() - killedAt < HOLD_MS || electedMs === undefined) {
        const now = Date.now();
        assert.ok(
          now - killedAt < ELECTION_TIMEOUT_MS,
          `${kind}: no new leader within ${ELECTION_TIMEOUT_MS} ms`,
        );
        const leader = leaderMember(audience.stores.get(kind));
        if (electedMs === undefined && leader !== null && leader !== before) electedMs = now - killedAt;
        for (const id of DEVICES) {
          const device = audience.device(kind, id);
          assert.ok(
            device,
            `${kind}: ${id} dropped from the page ${now - killedAt} ms after the kill; the timeline since: ${timelineSince(kind, killedAt)}`,
          );
          if (device.health === 'passing') {
            criticalSince.delete(id);
            continue;
          }
          assert.equal(kind, 'consul', `${kind}: ${id} ${device.health} ${now - killedAt} ms after the kill`);
          const since = criticalSince.get(id) ?? now;
          criticalSince.set(id, since);
          longestCriticalMs = Math.max(longestCriticalMs, now - since);
        }
        await delay(50);
      }
      assert.ok(
        longestCriticalMs <= windowMs,
        `${kind}: a device critical for ${longestCriticalMs} ms, over one check window (${windowMs} ms)`,
      );
      const after = leaderMember(audience.stores.get(kind));
      assert.ok(after !== null && after !== before, `${kind}: m${after} leads, not the killed m${before}`);
      const rows = memberRows(audience.stores.get(kind));
      assert.equal(rows[before - 1]?.state, 'killed', 'the page shows the killed member');
      await eventually(
        `${kind}: the timeline names the new leader`,
        () =>
          audience.timeline.some(
            (e) =>
              e.kind === 'leader' &&
              e.store === kind &&
              e.at >= killedAt &&
              e.text.startsWith(`${kind}: m${after} leads now`),
          ),
        { timeoutMs: 10_000 },
      );
      const election = audience.timeline.find(
        (e) => e.kind === 'leader' && e.store === kind && e.at >= killedAt,
      );
      assert.ok(
        audience.timeline.some(
          (e) =>
            e.kind === 'store-control' &&
            e.text.startsWith(`${kind} m${before} (the leader) killed (SIGKILL) by the presenter`),
        ),
      );

      const restartedAt = Date.now();
      const restarted = await presenter
        .timeout(RESTART_TIMEOUT_MS)
        .emitWithAck('storeControl', { store: kind, member: before, action: 'restart' });
      assert.ok(restarted.ok, JSON.stringify(restarted));
      const restartMs = Date.now() - restartedAt;
      await eventually(
        `${kind}: m${before} running on the page`,
        () => memberRows(audience.stores.get(kind))[before - 1]?.state === 'running',
        { timeoutMs: 10_000 },
      );
      await eventually(
        `${kind}: every device passing again, a leader known`,
        () =>
          DEVICES.every((id) => audience.device(kind, id)?.health === 'passing') &&
          leaderMember(audience.stores.get(kind)) !== null,
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      for (const id of DEVICES) assert.ok(audience.device(kind, id), `${kind}: ${id} still on the page`);
      t.diagnostic(
        `${kind}: killed m${before} (leader); m${after} seen leading on the page ${electedMs} ms later ` +
          `(the timeline: "${election?.text}"); longest critical ${longestCriticalMs} ms (window ${windowMs} ms); ` +
          `restart ${restartMs} ms` +
          (kind === 'consul'
            ? `; devices' nodes before: ${holder.map((l) => (l && 'node' in l ? l.node : '?')).join(', ')}`
            : ''),
      );
    });
  }

  test('consul: the presenter kills the member that holds the devices; each is critical at most one check window, never gone', async (t) => {
    // The agents register with the first endpoint they are given, m1: its death takes their checks with
    // it until the registry has moved them to another member.
    const holder = 1;
    const windowMs = livenessWindowMs('consul', DEFAULT_LIVENESS);
    await eventually(
      'every device passing, a leader known',
      () =>
        DEVICES.every((id) => audience.device('consul', id)?.health === 'passing') &&
        leaderMember(audience.stores.get('consul')) !== null,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const killedAt = Date.now();
    const answer = await presenter
      .timeout(60_000)
      .emitWithAck('storeControl', { store: 'consul', member: holder, action: 'kill' });
    assert.ok(answer.ok, JSON.stringify(answer));
    const criticalSince = new Map<string, number>();
    const longest = new Map<string, number>();
    while (Date.now() - killedAt < HOLD_MS) {
      const now = Date.now();
      for (const id of DEVICES) {
        const device = audience.device('consul', id);
        assert.ok(
          device,
          `consul: ${id} dropped from the page ${now - killedAt} ms after m${holder} was killed; the timeline: ${timelineSince('consul', killedAt)}`,
        );
        if (device.health === 'passing') {
          criticalSince.delete(id);
          continue;
        }
        const from = criticalSince.get(id) ?? now;
        criticalSince.set(id, from);
        longest.set(id, Math.max(longest.get(id) ?? 0, now - from));
      }
      await delay(50);
    }
    const worst = Math.max(0, ...longest.values());
    t.diagnostic(
      `consul: killed m${holder} (it held the devices); longest critical on the page ${worst} ms (window ${windowMs} ms); ` +
        `per device: ${DEVICES.map((id) => `${id} ${longest.get(id) ?? 0} ms`).join(', ')}`,
    );
    assert.ok(worst <= windowMs, `a device critical for ${worst} ms, over one check window (${windowMs} ms)`);
    for (const id of DEVICES)
      assert.equal(audience.device('consul', id)?.health, 'passing', `${id} passing again`);
    const restarted = await presenter
      .timeout(RESTART_TIMEOUT_MS)
      .emitWithAck('storeControl', { store: 'consul', member: holder, action: 'restart' });
    assert.ok(restarted.ok, JSON.stringify(restarted));
    await eventually(
      'consul: every device passing, a leader known, after the restart',
      () =>
        DEVICES.every((id) => audience.device('consul', id)?.health === 'passing') &&
        leaderMember(audience.stores.get('consul')) !== null,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  });

  test('Chromium 1280x720: the presenter clicks "kill the leader" in a column header; the room sees the election and no lost device', async (t) => {
    browser = await launchBrowser();
    const dir = await screenshotDir();
    const presenterPage = await openPage(browser, server.presenterUrl);
    const audiencePage = await openPage(browser, server.url);
    const readOnly = await openPage(browser, readOnlyServer!.presenterUrl);
    const { page } = presenterPage;
    const kind: StoreKind = 'etcd';
    const column = `.column[data-store="${kind}"]`;
    const killLeader = page.locator(`${column} [data-store-action="kill-leader"]`);
    await eventually('the kill-the-leader button, enabled', () => killLeader.isEnabled(), {
      timeoutMs: 30_000,
    });
    const before = leaderMember(audience.stores.get(kind));
    assert.ok(before !== null, 'a leader before the click');
    assert.equal(await killLeader.textContent(), `kill the leader (m${before})`);
    assert.equal(
      await page.locator(`${column} .kit-member[data-role="leader"]`).textContent(),
      `m${before} ★ leader`,
    );
    await page.screenshot({ path: path.join(dir, 'store-controls-1280x720-before.png') });

    const tiles = (p: typeof page) => p.locator(`${column} .tile[data-device]`).count();
    assert.equal(await tiles(page), DEVICES.length);
    const clickedAt = Date.now();
    await killLeader.click();
    const status = page.locator(`${column} .store-control-status`);
    // Progress while the kill runs, then the election said in words.
    await eventually(
      'the status says the new leader',
      async () =>
        /^m\d leads now \(seen \d+\.\d s after m\d was killed\); restart m\d to bring it back$/.test(
          (await status.textContent()) ?? '',
        ),
      {
        timeoutMs: ELECTION_TIMEOUT_MS,
        intervalMs: 50,
      },
    );
    const electedMs = Date.now() - clickedAt;
    // Through the election and after it, the room's page keeps every device.
    while (Date.now() - clickedAt < HOLD_MS) {
      for (const [who, p] of [
        ['audience', audiencePage.page],
        ['presenter', page],
      ] as const) {
        const n = await tiles(p);
        if (n !== DEVICES.length)
          await p.screenshot({ path: path.join(dir, `store-controls-lost-${who}.png`) });
        assert.equal(
          n,
          DEVICES.length,
          `a tile left the ${who} page; the timeline: ${timelineSince(kind, clickedAt)}`,
        );
      }
      await delay(100);
    }
    const after = leaderMember(audience.stores.get(kind));
    assert.ok(after !== null && after !== before);
    assert.equal(
      await page.locator(`${column} .kit-member[data-member="${before}"]`).textContent(),
      `m${before} killed`,
    );
    assert.equal(
      await page.locator(`${column} .kit-member[data-role="leader"]`).textContent(),
      `m${after} ★ leader`,
    );
    const restart = page.locator(`${column} [data-store-action="restart-${before}"]`);
    assert.equal(await restart.textContent(), `restart m${before}`);
    await page.screenshot({ path: path.join(dir, 'store-controls-1280x720-killed.png') });
    // Closed, "more" keeps its buttons out of sight (Chromium still lays them out: not measured).
    const shown = [
      `${column} .store-actions > .store-button`,
      `${column} .kit-member`,
      `${column} .store-control-status`,
      `${column} .store-more`,
    ];
    assert.deepEqual(await overlaps(page, [shown]), []);
    // Open: a line per member and one for the whole store, nothing on top of anything.
    await page.locator(`${column} .store-more-summary`).click();
    const lines = page.locator(`${column} .store-more-line`);
    assert.deepEqual(await lines.allTextContents(), [
      'm1stopkillrestart',
      'm2stopkillrestart',
      'm3stopkillrestart',
      'whole storestopkillrestart',
    ]);
    // The killed member's kill is disabled; its restart is not.
    const killedLine = lines.nth(before - 1);
    assert.equal(await killedLine.locator('button', { hasText: /^kill$/ }).isDisabled(), true);
    assert.equal(await killedLine.locator('button', { hasText: /^restart$/ }).isEnabled(), true);
    assert.deepEqual(
      await overlaps(page, [[...shown, `${column} .store-more-line > *`, `${column} .tile`]]),
      [],
    );
    await page.screenshot({ path: path.join(dir, 'store-controls-1280x720-more.png') });
    await page.locator(`${column} .store-more-summary`).click();
    await audiencePage.page.screenshot({ path: path.join(dir, 'store-controls-1280x720-audience.png') });
    // The audience sees the members and the election, and no button.
    assert.equal(await audiencePage.page.locator('[data-store-action]').count(), 0);
    assert.equal(
      await audiencePage.page.locator(`${column} .kit-member[data-member="${before}"]`).textContent(),
      `m${before} killed`,
    );
    assert.equal(await audiencePage.page.locator('.store-control-note:visible').count(), 0);

    // Restart from the page: the button's progress (at once "restarting m2…", then its seconds every
    // 0.2 s; a restart done sooner goes straight to its result), then the member running.
    await restart.click();
    const said: string[] = [];
    await eventually(
      'the status shows progress',
      async () => {
        const text = (await status.textContent()) ?? '';
        if (said.at(-1) !== text) said.push(text);
        return /^restarting m\d…|^m\d restarted in \d+\.\d s$/.test(text);
      },
      {
        timeoutMs: 5_000,
        intervalMs: 50,
      },
    ).catch((error: Error) => {
      throw new Error(`${error.message}; the status said: ${JSON.stringify(said)}`);
    });
    await eventually(
      'the member runs again',
      async () => /^m\d restarted in \d+\.\d s$/.test((await status.textContent()) ?? ''),
      {
        timeoutMs: RESTART_TIMEOUT_MS,
      },
    );
    await eventually(
      'm? shown as running on the page',
      async () =>
        !/killed|restarting/.test(
          (await page.locator(`${column} .kit-member[data-member="${before}"]`).textContent()) ?? '',
        ),
      { timeoutMs: 15_000 },
    );

    // The presenter's header at the other sizes: the controls fit, nothing on top of anything.
    for (const viewport of [
      { width: 1920, height: 1080 },
      { width: 390, height: 844 },
    ]) {
      const other = await openPage(browser, server.presenterUrl, viewport);
      const visible = other.page.locator(`${column} [data-store-action="kill-leader"]`);
      if (viewport.width < 600) {
        // One store at a time on a phone: its tab first.
        const tab = other.page.getByRole('tab', { name: new RegExp(kind) });
        if ((await tab.count()) > 0) await tab.first().click();
      }
      await eventually(
        `kill the leader shown at ${viewport.width}x${viewport.height}`,
        () => visible.isVisible(),
        {
          timeoutMs: 15_000,
        },
      );
      assert.deepEqual(
        await overlaps(other.page, [
          [
            `${column} .store-actions > .store-button`,
            `${column} .kit-member`,
            `${column} .store-more`,
            `${column} .column-count`,
            `${column} .tile`,
          ],
        ]),
        [],
      );
      await other.page.screenshot({
        path: path.join(dir, `store-controls-${viewport.width}x${viewport.height}.png`),
      });
      assert.deepEqual(other.problems, []);
      await other.close();
    }

    // Stores the kit did not hand to this server: no buttons, a note for the presenter saying why.
    await eventually(
      'the read-only note',
      () => readOnly.page.locator(`${column} .store-control-note`).isVisible(),
      {
        timeoutMs: 15_000,
      },
    );
    assert.match(
      (await readOnly.page.locator(`${column} .store-control-note`).textContent()) ?? '',
      /read-only: these stores were not started by the kit/,
    );
    assert.equal(await readOnly.page.locator('[data-store-action]').count(), 0);
    await readOnly.page.screenshot({ path: path.join(dir, 'store-controls-1280x720-read-only.png') });
    for (const p of [presenterPage, audiencePage, readOnly]) assert.deepEqual(p.problems, []);
    t.diagnostic(
      `clicked kill the leader of ${kind}: m${after} elected, said on the page ${electedMs} ms after the click; screenshots in ${dir}`,
    );
  });
});
