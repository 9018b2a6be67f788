// Where the stores disagree, in a real Chromium, with the three real stores, real agents and the real
// `fleetkit server`: a device registered in two stores only (missing from the third), one id held by two
// processes in different stores (a conflict, as the server can see it: two host:ports), config colors
// written into one store by hand (the stores hold different colors, and so the two processes applied
// different ones), and a SIGKILLed device that etcd and ZooKeeper drop while Consul keeps it critical.
// Flagged on the tiles and in the column heads, named in the timeline, cleared once the stores agree.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { StoreKind } from '../../lib/registry/index.ts';
import { GRACE_MS } from '../../server/fleet/disagreement.ts';
import { type RunningAgent, startAgent, storeEnv, TEST_WINDOWS_MS } from '../support/agents.ts';
import { launchBrowser, openPage, overlaps, screenshotDir } from '../support/browser.ts';
import { eventually } from '../support/eventually.ts';
import { rawStore } from '../support/raw-store.ts';
import { type RunningServer, startServer } from '../support/servers.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

const ALL: StoreKind[] = ['etcd', 'zookeeper', 'consul'];
const tile = (store: StoreKind, id: string) => `.column[data-store="${store}"] [data-device="${id}"]`;
const headFlag = (store: StoreKind, flag: string) =>
  `.column[data-store="${store}"] .column-flags [data-flag="${flag}"]`;
const text = async (page: Page, selector: string) =>
  (await page.locator(selector).count()) > 0
    ? ((await page.locator(selector).first().textContent()) ?? '')
    : '';
const eventText = (page: Page, kind: string) =>
  page.locator(`#timeline .event[data-kind="${kind}"] .event-text`).allTextContents();

describe('fleetkit server: disagreement and conflict flags on the page', { timeout: 300_000 }, () => {
  let stores: ThreeStores;
  let server: RunningServer;
  let browser: Browser;
  const agents: RunningAgent[] = [];
  const namespace = `flags${process.pid}`;

  async function agent(id: string, only: StoreKind[]) {
    const env = storeEnv(Object.fromEntries(only.map((s) => [s, stores[s]])));
    const running = await startAgent({ ...env, FLEET_NAMESPACE: namespace, FLEET_DEVICE_ID: id });
    agents.push(running);
    return running;
  }

  async function writeColor(store: StoreKind, color: string) {
    const raw = rawStore(store, stores[store].endpoints[0]!);
    try {
      await raw.writeConfig(namespace, 'color', color);
    } finally {
      await raw.close();
    }
  }

  before(async () => {
    stores = await startThreeStores();
    server = await startServer({ ...stores.env(), FLEET_NAMESPACE: namespace });
    browser = await launchBrowser();
    await agent('fl-all', ALL);
    await agent('fl-two', ['etcd', 'zookeeper']);
    // One id, two processes: one registered in etcd, the other in ZooKeeper and Consul.
    await agent('fl-dup', ['etcd']);
    await agent('fl-dup', ['zookeeper', 'consul']);
  });

  after(async () => {
    for (const a of agents) a.child.kill('SIGKILL');
    await browser?.close();
    await server?.stop();
    await stores?.stop();
  });

  test('missing from a store: the tile says "not in consul", the consul head counts it, the timeline names it', async (t) => {
    const { page, problems, close } = await openPage(browser, server.url);
    try {
      const took = await eventually(
        'fl-two counted as missing in the consul head',
        async () => /1 device missing here/.test(await text(page, headFlag('consul', 'missing'))),
        { timeoutMs: 15_000 },
      );
      t.diagnostic(`consul head counts the missing device ${took} ms after the page loaded`);
      assert.equal(await text(page, `${tile('etcd', 'fl-two')} .tile-missing`), 'not in consul');
      assert.match(
        (await page.locator(headFlag('consul', 'missing')).getAttribute('title')) ?? '',
        /not in consul, but in another store: .*fl-two/,
      );
      await eventually(
        'named in the timeline after the grace',
        async () =>
          (await eventText(page, 'missing')).some((e) =>
            e.includes('fl-two missing from consul, still in etcd, zookeeper'),
          ),
        { timeoutMs: GRACE_MS * 3 + 5000 },
      );
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test('one id at two host:ports, and config colors written into the stores by hand: conflict, colors differ and config differs on tiles and heads, named in the timeline; cleared when they agree', async (t) => {
    const { page, problems, close } = await openPage(browser, server.url);
    try {
      const [etcdDup, zkDup] = [agents[2], agents[3]]; // fl-dup in etcd; fl-dup in ZooKeeper and Consul
      await writeColor('zookeeper', '#2a9d8f');
      await writeColor('consul', '#2a9d8f');
      const writtenAt = Date.now();
      await writeColor('etcd', '#e63946');
      for (const store of ALL) {
        await eventually(
          `the conflict badge on fl-dup in ${store}`,
          async () =>
            (await page.locator(`${tile(store, 'fl-dup')} .tile-flags [data-flag="conflict"]`).count()) === 1,
          { timeoutMs: GRACE_MS * 3 + 10_000 },
        );
      }
      t.diagnostic(`conflict on every fl-dup tile ${Date.now() - writtenAt} ms after the last color write`);
      const conflictBadge = page.locator(`${tile('etcd', 'fl-dup')} [data-flag="conflict"]`);
      assert.equal(await conflictBadge.textContent(), 'conflict');
      assert.equal(
        await conflictBadge.getAttribute('title'),
        `two processes claim fl-dup: etcd has 127.0.0.1:${etcdDup!.port}, zookeeper has 127.0.0.1:${zkDup!.port}, consul has 127.0.0.1:${zkDup!.port}`,
      );
      assert.equal(
        await page.locator(`${tile('consul', 'fl-dup')} [data-flag="conflict"]`).getAttribute('title'),
        `two processes claim fl-dup: consul has 127.0.0.1:${zkDup!.port}, etcd has 127.0.0.1:${etcdDup!.port}`,
      );
      await eventually(
        'the colors badge on fl-dup',
        async () =>
          (
            await page.locator(`${tile('etcd', 'fl-dup')} [data-flag="colors"]`).getAttribute('title')
          )?.startsWith('fl-dup applied #e63946 in etcd, zookeeper #2a9d8f, consul #2a9d8f'),
        { timeoutMs: GRACE_MS * 3 + 10_000 },
      );
      for (const store of ALL) {
        await eventually(
          `the ${store} head: 1 conflict, 1 color differs, config color differs`,
          async () => {
            const heads = await Promise.all(
              ['conflict', 'colors', 'config'].map((f) => text(page, headFlag(store, f))),
            );
            return heads.join(' | ') === '1 conflict | 1 color differs | config color differs';
          },
          { timeoutMs: GRACE_MS * 3 + 5000 },
        );
      }
      assert.match(
        (await page.locator(headFlag('etcd', 'config')).getAttribute('title')) ?? '',
        /etcd #e63946, zookeeper #2a9d8f, consul #2a9d8f/,
      );
      const conflicts = await eventText(page, 'conflict');
      assert.ok(
        conflicts.some((e) => e.startsWith('fl-dup: two processes claim this id (etcd holds 127.0.0.1:')),
        conflicts.join('\n'),
      );
      assert.ok(
        (await eventText(page, 'colors-differ')).some((e) =>
          e.startsWith('fl-dup applied different colors: '),
        ),
      );
      assert.ok(
        (await eventText(page, 'config-differs')).some((e) =>
          e.includes('the stores hold different colors: etcd #e63946, zookeeper #2a9d8f, consul #2a9d8f'),
        ),
      );
      // Only fl-dup is flagged: the others applied one color, wherever it came from.
      assert.equal(await page.locator('.tile-flags [data-flag="colors"]').count(), 3);

      const shots = await screenshotDir();
      for (const [width, height] of [
        [1280, 720],
        [1920, 1080],
        [390, 844],
      ] as const) {
        await page.setViewportSize({ width, height });
        await page.waitForTimeout(300);
        assert.deepEqual(
          await overlaps(page, [
            ['.tile-flag', '.tile-missing', '.tile-color'],
            ['.column-flag', '.column-count', '.column-config'],
          ]),
          [],
          `no badge overlaps another at ${width}x${height}`,
        );
        await page.screenshot({ path: path.join(shots, `flags-${width}x${height}.png`) });
      }
      await page.setViewportSize({ width: 1280, height: 720 });

      // The stores agree on a color again: the color flags go at once; the conflict stays.
      await writeColor('etcd', '#2a9d8f');
      await eventually(
        'the colors and config badges gone',
        async () =>
          (await page
            .locator(
              '.tile-flags [data-flag="colors"], .column-flags [data-flag="config"], .column-flags [data-flag="colors"]',
            )
            .count()) === 0,
        { timeoutMs: 10_000 },
      );
      assert.equal(
        await page.locator('.tile-flags [data-flag="conflict"]').count(),
        3,
        'still two processes',
      );
      await eventually(
        'the timeline says the config colors agree again',
        async () =>
          (await eventText(page, 'agreed')).some((e) => e === "the stores' config colors agree again"),
        { timeoutMs: 5000 },
      );
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test('a SIGKILLed device: etcd and ZooKeeper drop it, Consul keeps it critical: flagged missing from etcd and zookeeper', async (t) => {
    const { page, problems, close } = await openPage(browser, server.url);
    try {
      const victim = agents[0]!; // fl-all
      await eventually(
        'fl-all on the page',
        async () => (await page.locator(tile('consul', 'fl-all')).count()) === 1,
        {
          timeoutMs: 10_000,
        },
      );
      const killedAt = Date.now();
      victim.child.kill('SIGKILL');
      await eventually(
        'the consul tile says "not in etcd, zookeeper"',
        async () =>
          (await text(page, `${tile('consul', 'fl-all')} .tile-missing`)) === 'not in etcd, zookeeper',
        { timeoutMs: Math.max(TEST_WINDOWS_MS.etcd, TEST_WINDOWS_MS.zookeeper) * 3 + 5000 },
      );
      t.diagnostic(`marked missing ${Date.now() - killedAt} ms after SIGKILL`);
      for (const store of ['etcd', 'zookeeper'] as const) {
        assert.match(await text(page, headFlag(store, 'missing')), /^[12] devices? missing here$/);
        assert.match((await page.locator(headFlag(store, 'missing')).getAttribute('title')) ?? '', /fl-all/);
      }
      // Named as soon as both dropped it within the grace; on a loaded machine ZooKeeper may drop it
      // after etcd's flag was named (then a second entry names both).
      await eventually(
        'named in the timeline',
        async () =>
          (await eventText(page, 'missing')).some(
            (e) => e === 'fl-all missing from etcd, zookeeper, still in consul',
          ),
        { timeoutMs: GRACE_MS * 3 + 5000 },
      ).catch(async (error: Error) => {
        const named = await page.locator('#timeline .event .event-text').allTextContents();
        throw new Error(`${error.message}; the timeline: ${named.slice(0, 15).join(' | ')}`);
      });
      t.diagnostic(`named in the timeline ${Date.now() - killedAt} ms after SIGKILL (grace ${GRACE_MS} ms)`);
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
});
