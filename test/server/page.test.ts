// The control host's live page in a real Chromium, with the three real stores, real agents and the
// real `fleetkit server`.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { io } from 'socket.io-client';
import { createRegistry, STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import { type RunningAgent, startAgent, TEST_WINDOWS_MS } from '../support/agents.ts';
import { launchBrowser, openPage, overlaps, screenshotDir } from '../support/browser.ts';
import { eventually } from '../support/eventually.ts';
import { type RunningServer, startServer } from '../support/servers.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

const WINDOWS_MS = TEST_WINDOWS_MS;

const alive = (a: RunningAgent) => a.child.exitCode === null && a.child.signalCode === null;
const tile = (store: StoreKind, id: string) => `[data-store="${store}"] [data-device="${id}"]`;
const tileCount = (page: Page, store: StoreKind) =>
  page.locator(`[data-store="${store}"] [data-device]`).count();

describe('fleetkit server: the live page', { timeout: 300_000 }, () => {
  let stores: ThreeStores;
  const agents: RunningAgent[] = [];
  let server: RunningServer;
  let browser: Browser;
  const namespace = `page${process.pid}`;
  const env = () => ({ ...stores.env(), FLEET_NAMESPACE: namespace });

  async function agent(id: string, extra: Record<string, string> = {}) {
    const running = await startAgent({ ...env(), FLEET_DEVICE_ID: id, ...extra });
    agents.push(running);
    return running;
  }

  before(async () => {
    stores = await startThreeStores();
    server = await startServer(env());
    browser = await launchBrowser();
    await Promise.all([agent('pi-a'), agent('pi-b'), agent('pi-c')]);
  });

  after(async () => {
    for (const a of agents) a.child.kill('SIGKILL');
    await browser?.close();
    await server?.stop();
    await stores?.stop();
  });

  // Bounds of at least three times what this machine measured (busy, 2 CPUs), in two runs: tiles 675
  // and 1015 ms, the color 1382 and 528 ms, a column down 1485 and 639 ms, the fleet again after a
  // server restart 1041 and 444 ms; after SIGKILL, the time past the store's window (a configured wait)
  // up to 366 ms here and 502 ms in the agent's test.
  test('three tiles in every column within 4 s; SIGKILL leaves etcd and ZooKeeper, turns critical in Consul; a new agent appears', async (t) => {
    const { page, problems, close } = await openPage(browser, server.url);
    try {
      const loadedAt = Date.now();
      await eventually(
        'three tiles in every column',
        async () => (await Promise.all(STORE_KINDS.map((k) => tileCount(page, k)))).every((n) => n === 3),
        { timeoutMs: 4000 },
      );
      t.diagnostic(`three tiles in every column ${Date.now() - loadedAt} ms after loading`);

      const victim = agents.find(alive)!;
      const victimId = (await victim.status()).id;
      const killedAt = Date.now();
      victim.child.kill('SIGKILL');
      await Promise.all(
        STORE_KINDS.map(async (kind) => {
          const limit = WINDOWS_MS[kind] + 2000;
          const done =
            kind === 'consul'
              ? async () =>
                  (await page.locator(tile(kind, victimId)).getAttribute('data-health')) === 'critical'
              : async () => (await page.locator(tile(kind, victimId)).count()) === 0;
          await eventually(`${victimId} gone/critical in the ${kind} column`, done, { timeoutMs: limit });
          t.diagnostic(`${kind}: ${Date.now() - killedAt} ms after SIGKILL (window ${WINDOWS_MS[kind]} ms)`);
        }),
      );

      await agent('pi-new');
      await eventually(
        'pi-new in every column without a reload',
        async () => {
          const counts = await Promise.all(STORE_KINDS.map((k) => page.locator(tile(k, 'pi-new')).count()));
          return counts.every((n) => n === 1);
        },
        { timeoutMs: 5000 },
      );
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test('the presenter sets a color: every tile and every device page turn it within 5 s; the audience cannot; bad colors are refused', async (t) => {
    const audience = await openPage(browser, server.url);
    const presenter = await openPage(browser, server.presenterUrl);
    try {
      await presenter.page.waitForSelector('#color-apply', { timeout: 5000 });
      assert.equal(
        await audience.page.locator('#color-apply:visible').count(),
        0,
        'no controls for the audience',
      );

      const etcd = createRegistry({ store: 'etcd', endpoints: stores.etcd.endpoints, namespace });
      try {
        const before = await etcd.getConfig('color');
        // Without the token the server refuses, whatever a page sends, and nothing is written.
        for (const auth of [{}, { token: 'wrong-token-value' }]) {
          const socket = io(server.url, { auth, transports: ['websocket'] });
          const answer = await socket.timeout(3000).emitWithAck('setColor', { color: '#abcdef' });
          socket.close();
          assert.equal(answer.ok, false);
          assert.match(answer.ok ? '' : answer.error, /read-only/);
        }
        assert.equal(await etcd.getConfig('color'), before, 'nothing written without the token');
        await presenter.page.fill('#color-input', '#12ab34');
        const setAt = Date.now();
        await presenter.page.click('#color-apply');
        const running = agents.filter(alive);
        await eventually(
          'every tile and every device page in #12ab34',
          async () => {
            const colors = await presenter.page
              .locator('[data-device]:not([data-health="critical"])')
              .evaluateAll((els) => els.map((e) => e.getAttribute('data-color')));
            const devices = await Promise.all(running.map(async (a) => (await a.status()).color));
            return (
              colors.length > 0 &&
              colors.every((c) => c === '#12ab34') &&
              devices.every((c) => c === '#12ab34')
            );
          },
          { timeoutMs: 5000, intervalMs: 20 },
        );
        t.diagnostic(`every tile and device page in the new color ${Date.now() - setAt} ms after the click`);
        assert.notEqual(before, '#12ab34');

        // Invalid: refused with a message on the page.
        await presenter.page.evaluate(() => {
          const input = document.querySelector<HTMLInputElement>('#color-input')!;
          input.type = 'text';
          input.value = 'javascript:alert(1)';
        });
        await presenter.page.click('#color-apply');
        await eventually(
          'a refusal message',
          async () => /color/i.test((await presenter.page.textContent('#message')) ?? ''),
          {
            timeoutMs: 2000,
          },
        );
        assert.equal(await etcd.getConfig('color'), '#12ab34', 'nothing written');
        assert.deepEqual([...audience.problems, ...presenter.problems], []);
      } finally {
        await etcd.close();
      }
    } finally {
      await audience.close();
      await presenter.close();
    }
  });

  test('markup in labels is shown as text and never runs', async () => {
    await agent('pi-evil', {
      FLEET_LABELS: 'note=<img src=x onerror=alert(1)>,end=</script><script>alert(2)</script>',
    });
    const { page, problems, close } = await openPage(browser, server.url);
    try {
      await page.waitForSelector(tile('etcd', 'pi-evil'), { timeout: 5000 });
      const text = await page.locator(tile('etcd', 'pi-evil')).textContent();
      assert.ok(text?.includes('<img src=x onerror=alert(1)>'), text ?? '');
      assert.ok(text?.includes('</script><script>alert(2)</script>'));
      assert.equal(
        await page.locator(`${tile('etcd', 'pi-evil')} img, ${tile('etcd', 'pi-evil')} script`).count(),
        0,
      );
      // The labels are folded into the detail panel a click opens: there too as text.
      await page.locator(tile('etcd', 'pi-evil')).click();
      const detail = page.locator('#detail[data-device="pi-evil"]');
      await detail.waitFor({ state: 'visible', timeout: 5000 });
      assert.ok((await detail.textContent())?.includes('<img src=x onerror=alert(1)>'));
      assert.equal(await page.locator('#detail img, #detail script').count(), 0);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test('a store stopped: its column says so within 5 s while the others carry on; restarted: it recovers', async (t) => {
    const { page, close } = await openPage(browser, server.url);
    try {
      await page.waitForSelector('[data-store="zookeeper"][data-watch="live"]', { timeout: 5000 });
      const stoppedAt = Date.now();
      await stores.zookeeper.stop();
      await eventually(
        'the zookeeper column says down',
        async () => (await page.getAttribute('[data-store="zookeeper"]', 'data-watch')) === 'down',
        {
          timeoutMs: 5000,
        },
      );
      t.diagnostic(`column down ${Date.now() - stoppedAt} ms after the store stopped`);
      assert.ok((await tileCount(page, 'zookeeper')) > 0, 'down is not shown as no devices');
      assert.equal(await page.getAttribute('[data-store="etcd"]', 'data-watch'), 'live');
      await stores.zookeeper.restart();
      await eventually(
        'zookeeper live again',
        async () => (await page.getAttribute('[data-store="zookeeper"]', 'data-watch')) === 'live',
        {
          timeoutMs: 10_000,
        },
      );
    } finally {
      await close();
    }
  });

  test('the server restarted: the open page shows the fleet again within 5 s, no reload', async (t) => {
    const { page, close } = await openPage(browser, server.url);
    try {
      await page.waitForSelector(tile('etcd', 'pi-new'), { timeout: 5000 });
      await page.evaluate(() => {
        (window as unknown as { notReloaded: boolean }).notReloaded = true;
      });
      await server.stop();
      await eventually(
        'the page says its server is gone',
        async () => (await page.getAttribute('#connection', 'data-state')) !== 'connected',
        {
          timeoutMs: 5000,
        },
      );
      server = await startServer(env(), server.port);
      const restartedAt = Date.now();
      await eventually(
        'the fleet again',
        async () =>
          (await page.getAttribute('#connection', 'data-state')) === 'connected' &&
          (await tileCount(page, 'etcd')) > 0,
        {
          timeoutMs: 5000,
        },
      );
      t.diagnostic(`fleet shown again ${Date.now() - restartedAt} ms after the server answered`);
      assert.equal(
        await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded),
        true,
      );
    } finally {
      await close();
    }
  });

  test('screenshots at 1280x720 and 390x844: nothing overlaps, no horizontal scroll on the phone', async (t) => {
    const dir = await screenshotDir();
    for (const [width, height] of [
      [1280, 720],
      [390, 844],
    ] as const) {
      const { page, close } = await openPage(browser, server.presenterUrl, { width, height });
      try {
        await page.waitForSelector('[data-device]', { timeout: 5000 });
        await new Promise((r) => setTimeout(r, 300));
        const file = path.join(dir, `page-${width}x${height}.png`);
        await page.screenshot({ path: file, fullPage: true });
        t.diagnostic(`screenshot ${file}`);
        const found = await overlaps(page, [
          ['[data-store]'],
          ['[data-device]'],
          ['header', '[data-store]', '#timeline'],
          ['#controls button', '#controls input', '#controls select'],
        ]);
        assert.deepEqual(found, [], `at ${width}x${height}`);
        const scroll = await page.evaluate(
          () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
        );
        assert.ok(scroll <= 0, `horizontal scroll of ${scroll} px at ${width}`);
      } finally {
        await close();
      }
    }
  });
});
