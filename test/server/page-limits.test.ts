// The live page at its limits, in a real Chromium, with the three real stores and the real
// `fleetkit server` capped at 3 tiles per column: devices over the cap counted ("and 2 more"), entries
// written by hand counted apart and never drawn, a 20,000-character key named in a short timeline line.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  createRegistry,
  type Registration,
  type Registry,
  STORE_KINDS,
  type StoreKind,
} from '../../lib/registry/index.ts';
import { launchBrowser, openPage, overlaps, screenshotDir } from '../support/browser.ts';
import { eventually } from '../support/eventually.ts';
import { type RawStore, rawStore } from '../support/raw-store.ts';
import { type RunningServer, startServer } from '../support/servers.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

const CAP = 3;
const DEVICES = 5;
const SERVICE = 'web';

const column = (store: StoreKind) => `[data-store="${store}"]`;
const shownIds = (page: Page, store: StoreKind) =>
  page
    .locator(`${column(store)} [data-device]`)
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-device') ?? ''));
/** The text of a column's element, '' when it is hidden (or absent). */
const visibleText = async (page: Page, selector: string) => {
  const element = page.locator(selector);
  return (await element.isVisible()) ? ((await element.textContent()) ?? '') : '';
};
const countText = (page: Page, store: StoreKind) => visibleText(page, `${column(store)} .column-count`);
const moreText = (page: Page, store: StoreKind) => visibleText(page, `${column(store)} .column-more`);
const skippedText = (page: Page, store: StoreKind) => visibleText(page, `${column(store)} .column-skipped`);

/** Elements sticking out of the viewport on the right (for the message when the page scrolls sideways). */
const tooWide = (page: Page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 5)
      .map(
        (e) =>
          `${e.tagName.toLowerCase()}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px)`,
      ),
  );

describe('fleetkit server: the live page at its limits (3 tiles per column)', { timeout: 300_000 }, () => {
  let stores: ThreeStores;
  const registries = {} as Record<StoreKind, Registry>;
  const raws = {} as Record<StoreKind, RawStore>;
  const registrations = {} as Record<StoreKind, Registration[]>;
  let server: RunningServer;
  let browser: Browser;
  const namespace = `limits${process.pid}`;

  /** openPage, with console errors counted as problems too (the page reloaded to catch those at load). */
  async function open(url: string, viewport?: { width: number; height: number }) {
    const opened = await openPage(browser, url, viewport);
    opened.page.on('console', (message) => {
      if (message.type() === 'error') opened.problems.push(`console error: ${message.text()}`);
    });
    await opened.page.reload();
    return opened;
  }

  before(async () => {
    stores = await startThreeStores();
    STORE_KINDS.forEach((kind) => {
      // Long liveness windows: nothing in these tests waits for a device to expire.
      registries[kind] = createRegistry({
        store: kind,
        endpoints: stores[kind].endpoints,
        namespace,
        liveness: { consulCheck: 'ttl', checkTtlSeconds: 30, leaseTtlSeconds: 30, sessionTimeoutMs: 20_000 },
      });
      raws[kind] = rawStore(kind, stores[kind].endpoints[0]!);
    });
    server = await startServer({
      ...stores.env(),
      FLEET_NAMESPACE: namespace,
      FLEET_MAX_DEVICES: String(CAP),
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await Promise.all(Object.values(registries).map((r) => r.close()));
    await Promise.all(Object.values(raws).map((r) => r.close()));
    await stores?.stop();
  });

  test(`${DEVICES} devices per store: ${CAP} tiles, "and 2 more", 5 counted; a shown one leaves: a hidden one takes its place`, async (t) => {
    const { page, problems, close } = await open(server.url);
    try {
      const registeredAt = Date.now();
      for (const kind of STORE_KINDS) {
        registrations[kind] = Array.from({ length: DEVICES }, (_, i) =>
          registries[kind].register({
            service: SERVICE,
            id: `cap-${i + 1}`,
            host: '127.0.0.1',
            port: 9100 + i,
          }),
        );
      }
      const shown = {} as Record<StoreKind, string[]>;
      await Promise.all(
        STORE_KINDS.map(async (kind) => {
          await eventually(
            `${CAP} tiles, "and 2 more" and "5 devices" in the ${kind} column`,
            async () => {
              shown[kind] = await shownIds(page, kind);
              return (
                shown[kind].length === CAP &&
                (await moreText(page, kind)) === 'and 2 more' &&
                /^5 devices\b/.test(await countText(page, kind))
              );
            },
            { timeoutMs: 10_000 },
          );
          t.diagnostic(`${kind}: 3 tiles + "and 2 more" ${Date.now() - registeredAt} ms after registering`);
        }),
      );
      // Stays so: no fourth tile drawn late.
      await new Promise((r) => setTimeout(r, 500));
      for (const kind of STORE_KINDS) {
        assert.equal((await shownIds(page, kind)).length, CAP, kind);
        assert.equal(await moreText(page, kind), 'and 2 more', kind);
      }

      const leftAt = Date.now();
      await Promise.all(
        STORE_KINDS.map(async (kind) => {
          const before = shown[kind];
          const hiddenBefore = registrations[kind]
            .map((r) => r.record.id)
            .filter((id) => !before.includes(id));
          const leaving = before[0]!;
          await registrations[kind].find((r) => r.record.id === leaving)!.deregister();
          let now: string[] = [];
          await eventually(
            `${leaving} replaced by a hidden device in the ${kind} column`,
            async () => {
              now = await shownIds(page, kind);
              return (
                now.length === CAP &&
                !now.includes(leaving) &&
                (await moreText(page, kind)) === 'and 1 more' &&
                /^4 devices\b/.test(await countText(page, kind))
              );
            },
            { timeoutMs: 10_000 },
          );
          const appeared = now.filter((id) => !before.includes(id));
          assert.equal(appeared.length, 1, `${kind}: one new tile (${now.join(', ')})`);
          assert.ok(
            hiddenBefore.includes(appeared[0]!),
            `${kind}: ${appeared[0]} was one of the hidden ${hiddenBefore.join(', ')}`,
          );
          t.diagnostic(
            `${kind}: ${leaving} left, ${appeared[0]} shown in its place ${Date.now() - leftAt} ms after deregistering`,
          );
        }),
      );
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test('entries written by hand: "2 not alive (written by hand) · 1 malformed" in every column, no tile, not counted', async (t) => {
    const { page, problems, close } = await open(server.url);
    try {
      await eventually(
        'the page shows the fleet',
        async () =>
          (await Promise.all(STORE_KINDS.map((k) => shownIds(page, k)))).every((s) => s.length === CAP),
        { timeoutMs: 5000 },
      );
      const handIds = ['by-hand-1', 'by-hand-2', 'by-hand-garbage'];
      const writtenAt = Date.now();
      await Promise.all(
        STORE_KINDS.map(async (kind) => {
          const raw = raws[kind];
          assert.ok(await raw.writeEntry(namespace, SERVICE, 'by-hand-1', '{"id":"by-hand-1"}', false));
          assert.ok(await raw.writeEntry(namespace, SERVICE, 'by-hand-2', 'hello', false));
          // Alive but not a device: garbage in etcd and ZooKeeper, no fleet_* Meta in Consul.
          assert.ok(await raw.writeEntry(namespace, SERVICE, 'by-hand-garbage', 'garbage', true));
          await eventually(
            `the ${kind} column's skipped line`,
            async () =>
              (await skippedText(page, kind)) ===
              'not devices, skipped: 2 not alive (written by hand) · 1 malformed',
            { timeoutMs: 10_000 },
          );
          t.diagnostic(`${kind}: skipped line ${Date.now() - writtenAt} ms after writing by hand`);
        }),
      );
      await new Promise((r) => setTimeout(r, 500));
      for (const kind of STORE_KINDS) {
        assert.match(await countText(page, kind), /^4 devices\b/, `${kind}: the count leaves them out`);
        assert.equal((await shownIds(page, kind)).length, CAP, kind);
        assert.equal(await moreText(page, kind), 'and 1 more', kind);
      }
      const drawn = await page.locator(handIds.map((id) => `[data-device="${id}"]`).join(', ')).count();
      assert.equal(drawn, 0, 'no tile for an entry written by hand');
      const found = await overlaps(page, [['.column-head > *', '[data-device]', '.column-more']]);
      assert.deepEqual(found, []);
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test('a 20,000-character key written by hand: its timeline entry is at most 300 characters, nothing wider than the viewport', async (t) => {
    const { page, problems, close } = await open(server.url);
    try {
      await page.waitForSelector('[data-device]', { timeout: 5000 });
      const lengths: Partial<Record<StoreKind, number>> = {};
      for (const kind of ['etcd', 'zookeeper'] as const) {
        // ZooKeeper may refuse a path that long: then 2,000 characters.
        for (const length of kind === 'zookeeper' ? [20_000, 2000] : [20_000]) {
          const id = `long-${'L'.repeat(length - 5)}`;
          let accepted = false;
          try {
            accepted = await raws[kind].writeEntry(namespace, SERVICE, id, 'x', false);
          } catch (error) {
            t.diagnostic(`${kind} refused a ${length}-character key: ${String(error).slice(0, 200)}`);
          }
          if (accepted) {
            lengths[kind] = length;
            break;
          }
        }
        assert.ok(lengths[kind], `${kind} took a long key`);
        t.diagnostic(`${kind}: a ${lengths[kind]}-character key written`);
      }
      const writtenAt = Date.now();
      for (const kind of ['etcd', 'zookeeper'] as const) {
        const event = page.locator(
          `#timeline .event[data-kind="invalid"]:has([data-event-store="${kind}"]):has-text("long-LLLLLLLLLL")`,
        );
        await eventually(
          `the ${kind} timeline entry naming the long key`,
          async () => (await event.count()) > 0,
          {
            timeoutMs: 10_000,
          },
        );
        t.diagnostic(`${kind}: named in the timeline ${Date.now() - writtenAt} ms after writing`);
        const text = (await event.first().locator('.event-text').textContent()) ?? '';
        t.diagnostic(`${kind}: "${text}"`);
        assert.ok(text.length <= 300, `${kind}: ${text.length} characters`);
        assert.match(text, /…" \(\d[\d,]* characters\)/, `${kind}: the key is cut and its length said`);
        await eventually(
          `the ${kind} column counts the long key as not alive`,
          async () => (await skippedText(page, kind)).endsWith('3 not alive (written by hand) · 1 malformed'),
          { timeoutMs: 5000 },
        );
      }
      for (const viewport of [
        { width: 1280, height: 720 },
        { width: 390, height: 844 },
      ]) {
        await page.setViewportSize(viewport);
        await new Promise((r) => setTimeout(r, 200));
        const { scrollWidth, innerWidth } = await page.evaluate(() => ({
          scrollWidth: document.documentElement.scrollWidth,
          innerWidth: window.innerWidth,
        }));
        assert.ok(
          scrollWidth <= innerWidth,
          `${scrollWidth} px wide at ${innerWidth}: ${(await tooWide(page)).join('; ')}`,
        );
      }
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test('screenshots at 1280x720, 1920x1080 and 390x844: "and N more" and the skipped line readable, nothing overlaps, no sideways scroll', async (t) => {
    const dir = await screenshotDir();
    for (const [width, height] of [
      [1280, 720],
      [1920, 1080],
      [390, 844],
    ] as const) {
      const { page, problems, close } = await open(server.presenterUrl, { width, height });
      try {
        // A phone shows one store at a time (the first tab); wider screens all three.
        await page.waitForSelector(`${column(width < 900 ? 'etcd' : 'consul')} .column-more:visible`, {
          timeout: 5000,
        });
        await new Promise((r) => setTimeout(r, 300));
        const file = path.join(dir, `page-limits-${width}x${height}.png`);
        await page.screenshot({ path: file, fullPage: true });
        t.diagnostic(`screenshot ${file}`);
        const found = await overlaps(page, [
          ['[data-store]'],
          ['.column-head > *', '[data-device]', '.column-more'],
          ['header', '[data-store]', '#timeline'],
        ]);
        assert.deepEqual(found, [], `at ${width}x${height}`);
        for (const kind of STORE_KINDS) {
          for (const selector of ['.column-more', '.column-skipped']) {
            const size = await page
              .locator(`${column(kind)} ${selector}`)
              .evaluate((e) => Number.parseFloat(getComputedStyle(e).fontSize));
            assert.ok(size >= 12, `${kind} ${selector}: ${size} px at ${width}x${height}`);
          }
          // "and 1 more" and each part of the skipped line on one line ("1" never apart from "malformed").
          const heights = await page
            .locator(`${column(kind)} .column-more, ${column(kind)} .column-skipped .piece`)
            .evaluateAll((els) =>
              els.map(
                (e) => e.getBoundingClientRect().height / Number.parseFloat(getComputedStyle(e).fontSize),
              ),
            );
          assert.ok(
            heights.length === 4 && heights.every((h) => h < 2),
            `${kind}: ${heights.map((h) => h.toFixed(1)).join(', ')} lines high at ${width}x${height}`,
          );
        }
        // Wide enough for three columns side by side: the capped columns fit on the first screen whole.
        const bottoms = await page
          .locator('.column-more')
          .evaluateAll((els) => els.map((e) => Math.round(e.getBoundingClientRect().bottom)));
        t.diagnostic(`${width}x${height}: "and 1 more" ends at ${bottoms.join(', ')} px`);
        if (width >= 900)
          assert.ok(
            bottoms.every((b) => b <= height),
            `off the first screen at ${width}x${height}`,
          );
        const scroll = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(
          scroll <= 0,
          `horizontal scroll of ${scroll} px at ${width}: ${(await tooWide(page)).join('; ')}`,
        );
        assert.deepEqual(problems, []);
      } finally {
        await close();
      }
    }
  });
});
