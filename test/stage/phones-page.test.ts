// The audience's phones as the room sees them, in Chromium against the real server and the three real
// stores (`npm run test:stage`): the phone's own page at 390x844 (joined, a color change, flight mode
// draining its bars and the stores letting it go, back with the same id, leave), and the main page at
// 1280x720 with four Pis and twenty phones (the band under each column, the Pis' tiles untouched, a
// silence in each store's own time, the presenter's pause and remove-all). Screenshots of each step
// go to FLEET_SCREENSHOTS (or a temporary folder, named in the test's output).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { io, type Socket } from 'socket.io-client';
import {
  createRegistry,
  livenessWindowMs,
  type Registry,
  STORE_KINDS,
  type StoreKind,
} from '../../lib/registry/index.ts';
import { AUDIENCE_SERVICE, JOINING_PAUSED, SILENT_AFTER_MS } from '../../server/audience-contract.ts';
import type { Ack } from '../../server/contract.ts';
import { TEST_LIVENESS } from '../support/agents.ts';
import { launchBrowser, openPage, overlaps, screenshotDir } from '../support/browser.ts';
import { eventually } from '../support/eventually.ts';
import { TestPhone } from '../support/phones.ts';
import { type RunningServer, startServer } from '../support/servers.ts';
import { type StoreViews, StoreWatcher } from '../support/store-views.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

const PHONES = 20;
const PIS = 4;
/** A phone's window in each store: the tests' liveness, with a Consul TTL check. */
const PHONE_WINDOWS_MS = Object.fromEntries(
  STORE_KINDS.map((k) => [k, livenessWindowMs(k, { ...TEST_LIVENESS, consulCheck: 'ttl' })]),
) as Record<StoreKind, number>;

type Browser = Awaited<ReturnType<typeof launchBrowser>>;

describe('the audience phones on the stage (Chromium, the real server and stores)', {
  timeout: 600_000,
}, () => {
  let stores: ThreeStores;
  let server: RunningServer;
  let views: StoreViews;
  let browser: Browser;
  let dir: string;
  let presenter: Socket;
  const watcher = new StoreWatcher(() => stores);
  const namespace = `stage${process.pid}`;
  const pis: Registry[] = [];
  const phones: TestPhone[] = [];

  /** The presenter's socket, as the page's: the color for every store. */
  const setColor = async (color: string) => {
    const answer = (await presenter.timeout(10_000).emitWithAck('setColor', { color })) as Ack<unknown>;
    assert.ok(answer.ok, JSON.stringify(answer));
  };

  const shoot = async (page: Page, name: string, t: { diagnostic: (m: string) => void }) => {
    const file = path.join(dir, name);
    await page.screenshot({ path: file });
    t.diagnostic(`screenshot: ${file}`);
  };

  before(async () => {
    stores = await startThreeStores();
    server = await startServer({
      ...stores.env(),
      FLEET_NAMESPACE: namespace,
      FLEET_AUDIENCE_DEVICES: 'on',
      FLEET_AUDIENCE_CAP: '40',
    });
    views = watcher.watch(namespace, AUDIENCE_SERVICE);
    // Four Pis on the table, as their agents register (TTL checks in Consul: no HTTP server here).
    for (const store of STORE_KINDS) {
      const registry = createRegistry({
        store,
        endpoints: stores[store].endpoints,
        namespace,
        liveness: { ...TEST_LIVENESS, consulCheck: 'ttl' },
      });
      pis.push(registry);
      for (let i = 1; i <= PIS; i++)
        registry.register({
          service: 'web',
          id: `pi-${i}`,
          host: `10.0.0.${20 + i}`,
          port: 8080,
          labels: { table: '1' },
          load: { cpuPercent: 10 * i, load1: 0.2, memUsedPercent: 30, temperatureC: 48, uptimeSeconds: 600 },
          color: null,
        });
    }
    presenter = io(server.url, { auth: { token: server.token }, transports: ['websocket'], forceNew: true });
    await eventually('the presenter socket connected', () => presenter.connected, { timeoutMs: 10_000 });
    browser = await launchBrowser();
    dir = await screenshotDir();
  });

  after(async () => {
    for (const phone of phones) phone.close();
    presenter?.disconnect();
    await browser?.close();
    await Promise.all(pis.map((r) => r.close()));
    await server?.stop();
    await watcher.close();
    await stores?.stop();
  });

  test("the phone's page at 390x844: joined, the color, flight mode drains its bars and each store lets it go, back with its id, leave", async (t) => {
    await setColor('#f4a261');
    const { page, problems, close } = await openPage(browser, new URL('join', server.url).href, {
      width: 390,
      height: 844,
    });
    try {
      await page.waitForFunction(
        () => document.querySelectorAll('#phone-stores li[data-state="registered"]').length === 3,
        null,
        { timeout: 20_000 },
      );
      const id = (await page.textContent('#phone-id'))!.trim();
      await eventually(`${id} passing in every store`, () => views.passingEverywhere(id), {
        timeoutMs: 20_000,
      });
      assert.equal(
        await page.evaluate(() => getComputedStyle(document.body).backgroundColor),
        'rgb(244, 162, 97)',
      );
      // Its load: what the browser measured (the event loop's delay; no battery in headless Chromium).
      await eventually(
        `${id}'s load (kind browser) in every store`,
        () =>
          STORE_KINDS.every((k) => {
            const load = views.views[k].get(id)?.record.load;
            return (
              load !== null &&
              load !== undefined &&
              'kind' in load &&
              typeof load.eventLoopDelayMs === 'number'
            );
          }),
        { timeoutMs: 20_000 },
      );
      assert.match((await page.textContent('#phone-load')) ?? '', /^your load: loop \d+ ms/);
      const held = await page.$$eval('#phone-stores .left', (items) => items.map((i) => i.textContent));
      assert.deepEqual(held, ['held: the page beats', 'held: the page beats', 'held: the page beats']);
      await shoot(page, 'phone-joined-390x844.png', t);

      await setColor('#2a9d8f');
      await page.waitForFunction(
        () => getComputedStyle(document.body).backgroundColor === 'rgb(42, 157, 143)',
        null,
        {
          timeout: 10_000,
        },
      );
      await eventually(
        `${id}'s records took the new color`,
        () => STORE_KINDS.every((k) => views.views[k].get(id)?.record.color === '#2a9d8f'),
        { timeoutMs: 10_000 },
      );
      await shoot(page, 'phone-color-changed-390x844.png', t);

      // Flight mode: the page stays on screen, the network goes; its bars drain at each store's speed.
      const offAt = Date.now();
      await page.context().setOffline(true);
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll('#phone-stores .left')].every((i) =>
            /s left$/.test(i.textContent ?? ''),
          ),
        null,
        { timeout: 3 * SILENT_AFTER_MS + 5000 },
      );
      await shoot(page, 'phone-vanishing-390x844.png', t);
      await eventually(
        `${id} gone from etcd and ZooKeeper, critical in Consul`,
        () => STORE_KINDS.every((k) => views.goneFrom(k, id)),
        { timeoutMs: 3 * (SILENT_AFTER_MS + Math.max(...Object.values(PHONE_WINDOWS_MS)) + 1000) },
      );
      t.diagnostic(`flight mode: gone from all three ${Date.now() - offAt} ms after`);
      await page.waitForFunction(
        () => document.querySelectorAll('#phone-stores .fill[data-level="gone"]').length === 3,
        null,
        { timeout: 3 * Math.max(...Object.values(PHONE_WINDOWS_MS)) + 5000 },
      );
      const said = await page.$$eval('#phone-stores .left', (items) => items.map((i) => i.textContent));
      assert.deepEqual(said, [
        'gone from etcd by now',
        'gone from zookeeper by now',
        'critical in consul by now',
      ]);
      await shoot(page, 'phone-gone-390x844.png', t);

      // Back on the network: the same key, the same id, registered again everywhere.
      await page.context().setOffline(false);
      await eventually(`${id} back in every store`, () => views.passingEverywhere(id), { timeoutMs: 30_000 });
      assert.equal((await page.textContent('#phone-id'))!.trim(), id, 'the same id');

      await page.click('#phone-leave');
      await eventually(
        `${id} gone at once from every store`,
        () => STORE_KINDS.every((k) => !views.views[k].get(id)),
        {
          timeoutMs: 5000,
        },
      );
      await page.locator('#phone-watch').waitFor({ state: 'visible', timeout: 5000 });
      await shoot(page, 'phone-left-390x844.png', t);

      // Join again (a new device: leaving forgot the key), then close the tab: an unplug, each store's
      // window runs (3 s of silence first).
      await page.click('#phone-join');
      await page.waitForFunction(
        (before) => {
          const text = document.getElementById('phone-id')?.textContent ?? '';
          return text !== '' && text !== before;
        },
        id,
        { timeout: 20_000 },
      );
      const second = (await page.textContent('#phone-id'))!.trim();
      await eventually(`${second} passing in every store`, () => views.passingEverywhere(second), {
        timeoutMs: 20_000,
      });
      assert.deepEqual(problems, []);
      const closedAt = Date.now();
      await close();
      const gone: Partial<Record<StoreKind, number>> = {};
      await eventually(
        `${second} gone from etcd and ZooKeeper, critical in Consul, after the tab closed`,
        () => {
          for (const k of STORE_KINDS)
            if (gone[k] === undefined && views.goneFrom(k, second)) gone[k] = Date.now() - closedAt;
          return Object.keys(gone).length === STORE_KINDS.length;
        },
        {
          timeoutMs: 3 * (SILENT_AFTER_MS + Math.max(...Object.values(PHONE_WINDOWS_MS)) + 1000),
          intervalMs: 50,
        },
      );
      t.diagnostic(`tab closed: ${STORE_KINDS.map((k) => `${k} ${gone[k]} ms`).join(', ')}`);
      for (const k of STORE_KINDS)
        assert.ok(
          gone[k]! >= SILENT_AFTER_MS,
          `${k}: gone ${gone[k]} ms after the tab closed, before the silence ended`,
        );
    } finally {
      await close();
    }
  });

  test(`the main page at 1280x720: ${PHONES} phones in each column's band under ${PIS} Pis; a silence in each store's time; pause and remove all`, async (t) => {
    for (let i = 0; i < PHONES; i++) {
      const phone = await TestPhone.connect(server.url, `127.0.9.${10 + i}`);
      phones.push(phone);
      phone.load = { kind: 'browser', eventLoopDelayMs: 4 + i, batteryPercent: 100 - 3 * i };
      const answer = await phone.join();
      assert.ok(answer.ok, JSON.stringify(answer));
    }
    const { page, problems, close } = await openPage(browser, server.presenterUrl);
    const bandLines = () =>
      page.$$eval('.column .band-line', (lines) => lines.map((l) => l.textContent ?? ''));
    const cells = (store: StoreKind, selector = '') =>
      page.$$eval(`.column[data-store="${store}"] .phone-cell${selector}`, (c) => c.length);
    try {
      // Passing cells: the phone of the test before, let go when its tab closed, may still be a
      // critical entry in Consul (reaped 60 s after it turned critical).
      await page.waitForFunction(
        (n) =>
          [...document.querySelectorAll('.column')].every(
            (c) => c.querySelectorAll('.phone-cell[data-health="passing"]').length === n,
          ),
        PHONES,
        { timeout: 30_000 },
      );
      for (const store of STORE_KINDS)
        assert.equal(await cells(store, '[data-health="passing"]'), PHONES, store);
      const criticalBefore = await cells('consul', '[data-health="critical"]');
      const lines0 = await bandLines();
      assert.ok(lines0[0]!.startsWith(`${PHONES} phones`), lines0.join(' | '));
      // The Pis keep tiles (full or compact: id, color, CPU) and stay in view beside the band, which
      // stays in view too: nothing of either is scrolled out of its column.
      for (const store of STORE_KINDS) {
        const column = `.column[data-store="${store}"]`;
        assert.notEqual(await page.getAttribute(column, 'data-density'), 'dense', store);
        // (No named function inside: the test runner's compiler would wrap it in a helper the page lacks.)
        const seen = await page.$eval(column, (col) => ({
          tiles: [...col.querySelectorAll('.tile')].map(
            (e) => e.getBoundingClientRect().bottom <= col.getBoundingClientRect().bottom + 0.5,
          ),
          band:
            col.querySelector('.audience-band')!.getBoundingClientRect().bottom <=
            col.getBoundingClientRect().bottom + 0.5,
          scrolled: col.scrollTop,
        }));
        assert.deepEqual(seen, { tiles: Array(PIS).fill(true), band: true, scrolled: 0 }, store);
      }
      const overlapping = await overlaps(page, [['.column .tile', '.audience-band']]);
      assert.deepEqual(overlapping, []);
      await setColor('#9b5de5');
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll('.phone-cell[data-health="passing"]')].every(
            (c) => getComputedStyle(c).backgroundColor === 'rgb(155, 93, 229)',
          ),
        null,
        { timeout: 15_000 },
      );
      // Each column's head shows the new config color too (Consul's watch of a key missing until now
      // may wait up to a second: lib/registry/adapters/consul.ts).
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll('.column .config-text')].every((c) =>
            c.textContent?.includes('#9b5de5'),
          ),
        null,
        { timeout: 15_000 },
      );
      assert.equal(await page.getAttribute('#join-link', 'href'), new URL('join', server.url).href);
      await shoot(page, 'stage-audience-band-1280x720.png', t);

      // Five phones go quiet: gone from etcd and ZooKeeper, critical (ringed) in Consul, each in its time.
      const quiet = phones.slice(0, 5);
      for (const phone of quiet) phone.silence();
      await page.waitForFunction(
        (n) =>
          document.querySelectorAll('.column[data-store="consul"] .phone-cell[data-health="critical"]')
            .length === n,
        criticalBefore + quiet.length,
        { timeout: 3 * (SILENT_AFTER_MS + PHONE_WINDOWS_MS.consul + 1000) },
      );
      await page.waitForFunction(
        (n) =>
          ['etcd', 'zookeeper'].every(
            (s) => document.querySelectorAll(`.column[data-store="${s}"] .phone-cell`).length === n,
          ),
        PHONES - quiet.length,
        {
          timeout: 3 * (SILENT_AFTER_MS + Math.max(PHONE_WINDOWS_MS.etcd, PHONE_WINDOWS_MS.zookeeper) + 1000),
        },
      );
      const lines = await bandLines();
      assert.match(lines[2]!, new RegExp(`${criticalBefore + quiet.length} critical`), lines.join(' | '));
      assert.match(lines[0]!, /\/s out/, lines.join(' | '));
      await shoot(page, 'stage-audience-vanishing-1280x720.png', t);

      // The presenter pauses joining: a new phone is told so; the phones in stay.
      await page.click('.audience-pause');
      await page.locator('.audience-pause', { hasText: 'open joining' }).waitFor({ timeout: 10_000 });
      const late = await TestPhone.connect(server.url, '127.0.9.200');
      phones.push(late);
      assert.deepEqual(await late.join(), { ok: false, error: JOINING_PAUSED });
      // A phone opening /join now is told so and shows the fleet read-only: the color, a link to it.
      const refused = await openPage(browser, new URL('join', server.url).href, { width: 390, height: 844 });
      try {
        await refused.page.locator('#phone-watch').waitFor({ state: 'visible', timeout: 20_000 });
        assert.equal((await refused.page.textContent('#phone-status'))?.trim(), JOINING_PAUSED);
        await refused.page.waitForFunction(
          () => getComputedStyle(document.body).backgroundColor === 'rgb(155, 93, 229)',
          null,
          { timeout: 10_000 },
        );
        assert.equal(await refused.page.textContent('#phone-id'), '', 'no device');
        await shoot(refused.page, 'phone-paused-read-only-390x844.png', t);
        assert.deepEqual(refused.problems, []);
      } finally {
        await refused.close();
      }
      await page.click('.audience-pause');
      await page.locator('.audience-pause', { hasText: 'pause joining' }).waitFor({ timeout: 10_000 });

      // Remove all (two clicks): every phone deregistered at once, each told so.
      await page.click('.audience-remove');
      await page.locator('.audience-remove', { hasText: 'sure?' }).waitFor({ timeout: 5000 });
      await shoot(page, 'stage-audience-remove-armed-1280x720.png', t);
      const removedAt = Date.now();
      await page.click('.audience-remove');
      await eventually(
        'no audience phone left in any store',
        () => STORE_KINDS.every((k) => views.views[k].instances().every((i) => i.health === 'critical')),
        { timeoutMs: 10_000 },
      );
      t.diagnostic(`remove all: the stores empty of passing phones in ${Date.now() - removedAt} ms`);
      await page.waitForFunction(
        () =>
          ['etcd', 'zookeeper'].every(
            (s) => document.querySelectorAll(`.column[data-store="${s}"] .phone-cell`).length === 0,
          ),
        null,
        { timeout: 10_000 },
      );
      const told = phones.slice(quiet.length, PHONES).filter((p) => p.removed !== undefined).length;
      assert.equal(told, PHONES - quiet.length, 'every beating phone was told it was removed');
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test('the audience page at 390x844 shows the band in the store tab and no presenter buttons', async (t) => {
    for (let i = 0; i < 6; i++) {
      const phone = await TestPhone.connect(server.url, `127.0.10.${10 + i}`);
      phones.push(phone);
      assert.ok((await phone.join()).ok);
    }
    const { page, problems, close } = await openPage(browser, server.url, { width: 390, height: 844 });
    try {
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll('.column .band-line')].some((l) =>
            /^6 phones/.test(l.textContent ?? ''),
          ),
        null,
        { timeout: 20_000 },
      );
      assert.equal(await page.locator('.audience-controls').isVisible(), false, 'no presenter buttons');
      assert.equal(await page.getAttribute('#join-link', 'href'), new URL('join', server.url).href);
      const sideways = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      assert.equal(sideways, false, 'nothing scrolls sideways');
      await shoot(page, 'audience-band-390x844.png', t);
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
});
