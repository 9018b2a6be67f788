// The live page at classroom size, in a real Chromium, with the three real stores and the real
// `fleetkit server`: 40 attendees x 3 devices (labels attendee=a1..a40, TTL checks in Consul, as the
// attendee kit joins them) and the instructor's 3 own devices (no attendee label, HTTP checks), all
// registered from this process. Checked: each column's density tier as the fleet grows and with the
// viewport, every device once, the filter by attendee (kept in the URL), the counts per attendee,
// Consul's check kind on each tile; screenshots at 1280x720, 1920x1080 and 390x844 (and 4K).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  createRegistry,
  type InstanceSpec,
  type Registration,
  type Registry,
  STORE_KINDS,
  type StoreKind,
} from '../../lib/registry/index.ts';
import { launchBrowser, openPage, overlaps, screenshotDir } from '../support/browser.ts';
import { eventually } from '../support/eventually.ts';
import { type RunningServer, startServer } from '../support/servers.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

const SERVICE = 'web';
const ATTENDEES = 40;
const PER_ATTENDEE = 3;
/** The first group joins before the rest: few enough for compact tiles at 1920x1080. */
const FIRST_GROUP = 10;
const OWN = ['pi-1', 'pi-2', 'pi-3'];
/** Colors of the attendees' devices: light and dark ones, so that both inks show. */
const COLORS = ['#ffd700', '#1f6feb', '#2ea043', '#ff8800', '#000080', '#f0f0f0', '#b00020', '#8957e5'];

const attendee = (n: number) => `a${n}`;
const idsOf = (n: number) => Array.from({ length: PER_ATTENDEE }, (_, k) => `${attendee(n)}-${k + 1}`);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A spread of loads with one clear least-loaded device (a17-2 at 1 %); the instructor's at 50 %. */
function cpuOf(id: string): number {
  const match = /^a(\d+)-(\d+)$/.exec(id);
  if (!match) return 50;
  return id === LEAST_LOADED ? 1 : 10 + ((Number(match[1]) * 7 + Number(match[2]) * 13) % 80);
}

const column = (store: StoreKind) => `.column[data-store="${store}"]`;
/** The ids of the tiles a column shows (not left out by the filter), in page order. */
const shownIds = (page: Page, store: StoreKind) =>
  page
    .locator(`${column(store)} [data-device]`)
    .evaluateAll((els) =>
      els.filter((e) => !(e as HTMLElement).hidden).map((e) => e.getAttribute('data-device') ?? ''),
    );
const density = (page: Page, store: StoreKind) => page.getAttribute(column(store), 'data-density');
const countText = (page: Page, store: StoreKind) =>
  page.locator(`${column(store)} .column-count`).textContent();

/** The lowest CPU of the classroom: every store's next pick (least-loaded) once it has joined. */
const LEAST_LOADED = 'a17-2';

/**
 * The column's marked next pick among the tiles shown: the id, and whether the mark shows in the column's density (a
 * "next pick" badge on a tile; on a dense cell, its ring and star), and the head's line.
 */
const pickShown = (page: Page, store: StoreKind) =>
  page.locator(column(store)).evaluate((col) => {
    const marked = [...col.querySelectorAll<HTMLElement>('[data-pick="true"]')].filter((e) => !e.hidden);
    const tile = marked[0];
    let mark = false;
    if (tile && col.getAttribute('data-density') === 'dense') {
      const after = getComputedStyle(tile, '::after');
      mark =
        getComputedStyle(tile).outlineStyle === 'solid' &&
        after.content === '"★"' &&
        after.display !== 'none';
    } else if (tile) {
      mark = tile.querySelector<HTMLElement>('.tile-pick')?.checkVisibility() ?? false;
    }
    return {
      ids: marked.map((e) => e.getAttribute('data-device')),
      mark,
      head: col.querySelector('.column-pick')?.textContent ?? '',
    };
  });

/** Every column marks `id` as its next pick, visibly in its density. */
async function marksPick(page: Page, id: string): Promise<boolean> {
  for (const kind of STORE_KINDS) {
    const shown = await pickShown(page, kind);
    if (shown.ids.join() !== id || !shown.mark || shown.head !== `next pick: ${id}`) return false;
  }
  return true;
}

/** Elements sticking out of the viewport on the right (for the message when the page scrolls sideways). */
const tooWide = (page: Page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 5)
      .map((e) => `${e.tagName.toLowerCase()}.${e.className}`),
  );

describe('fleetkit server: the live page at classroom size (40 attendees x 3 devices)', {
  timeout: 600_000,
}, () => {
  let stores: ThreeStores;
  /** Per store: the attendees' registry (Consul: TTL checks) and the instructor's (Consul: HTTP checks). */
  const joined = {} as Record<StoreKind, Registry>;
  const own = {} as Record<StoreKind, Registry>;
  const registrations = new Map<string, Registration>();
  const health = createServer((_req, res) => res.end('ok'));
  let healthPort = 0;
  let server: RunningServer;
  let browser: Browser;
  const namespace = `class${process.pid}`;
  let expected: string[] = [];

  /** openPage, with console errors counted as problems too. */
  async function open(url: string, viewport?: { width: number; height: number }) {
    const opened = await openPage(browser, url, viewport);
    opened.page.on('console', (message) => {
      if (message.type() === 'error') opened.problems.push(`console error: ${message.text()}`);
    });
    await opened.page.reload();
    return opened;
  }

  const spec = (
    id: string,
    labels: Record<string, string>,
    cpu: number,
    color: string | null,
  ): InstanceSpec => ({
    service: SERVICE,
    id,
    host: '127.0.0.1',
    port: healthPort,
    labels,
    load: { cpuPercent: cpu, load1: 0.2, memUsedPercent: 30, temperatureC: null, uptimeSeconds: 60 },
    color,
  });

  /** Registers the attendees' devices in every store and waits until each says so. */
  async function join(numbers: number[]): Promise<number> {
    const started = Date.now();
    const pending: Registration[] = [];
    for (const n of numbers) {
      for (const id of idsOf(n)) {
        for (const kind of STORE_KINDS) {
          const registration = joined[kind].register(
            spec(id, { attendee: attendee(n), zone: 'room' }, cpuOf(id), COLORS[n % COLORS.length]!),
          );
          registrations.set(`${kind}/${id}`, registration);
          pending.push(registration);
        }
      }
    }
    await eventually(
      `${pending.length} registrations registered`,
      () => pending.every((r) => r.state === 'registered'),
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expected = [...expected, ...numbers.flatMap(idsOf)];
    return Date.now() - started;
  }

  /** Every column shows exactly these ids, each once. */
  async function showsExactly(page: Page, ids: string[]): Promise<boolean> {
    const want = [...ids].sort().join(',');
    for (const kind of STORE_KINDS) {
      if ([...(await shownIds(page, kind))].sort().join(',') !== want) return false;
    }
    return true;
  }

  before(async () => {
    stores = await startThreeStores();
    health.listen(0, '127.0.0.1');
    await new Promise((resolve) => health.once('listening', resolve));
    healthPort = (health.address() as AddressInfo).port;
    for (const kind of STORE_KINDS) {
      // Long windows: nothing here waits for a device to expire.
      const liveness = { leaseTtlSeconds: 30, sessionTimeoutMs: 20_000, checkTtlSeconds: 60 };
      joined[kind] = createRegistry({
        store: kind,
        endpoints: stores[kind].endpoints,
        namespace,
        liveness: { ...liveness, consulCheck: 'ttl' },
      });
      own[kind] = createRegistry({
        store: kind,
        endpoints: stores[kind].endpoints,
        namespace,
        liveness: { ...liveness, consulCheck: 'http', checkIntervalSeconds: 2, checkTimeoutSeconds: 1 },
      });
    }
    server = await startServer({ ...stores.env(), FLEET_NAMESPACE: namespace });
    browser = await launchBrowser();
    const owned = OWN.flatMap((id) =>
      STORE_KINDS.map((kind) => own[kind].register(spec(id, { zone: 'desk' }, 50, null))),
    );
    await eventually(
      "the instructor's devices registered",
      () => owned.every((r) => r.state === 'registered'),
      {
        timeoutMs: 20_000,
      },
    );
    expected = [...OWN];
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await Promise.all([...Object.values(joined), ...Object.values(own)].map((r) => r.close()));
    health.close();
    await stores?.stop();
  });

  test('the tiers: full for 3 devices, compact for 33 at 1920x1080, a dense grid for 123; 123 compact at 4K, dense at 1280x720 and 1024x768; every device once', async (t) => {
    const { page, problems, close } = await open(server.url, { width: 1920, height: 1080 });
    try {
      await eventually("the instructor's 3 devices in every column", () => showsExactly(page, OWN), {
        timeoutMs: 10_000,
      });
      for (const kind of STORE_KINDS) assert.equal(await density(page, kind), 'full', kind);
      assert.equal(await page.locator('#attendees').isVisible(), false, 'no attendee label yet: no filter');
      // Equal loads: the first id (HTTP checks pass only after Consul's first check: up to its interval).
      await eventually('pi-1 marked as the next pick on full tiles', () => marksPick(page, 'pi-1'), {
        timeoutMs: 10_000,
      });

      const firstTook = await join(range(1, FIRST_GROUP));
      const firstAt = Date.now();
      await eventually('33 devices in every column', () => showsExactly(page, expected), {
        timeoutMs: 20_000,
      });
      t.diagnostic(
        `${FIRST_GROUP * PER_ATTENDEE} devices x 3 stores registered in ${firstTook} ms, on the page ${Date.now() - firstAt} ms later`,
      );
      for (const kind of STORE_KINDS)
        assert.equal(await density(page, kind), 'compact', `${kind} at 33 devices`);
      const compactShot = path.join(await screenshotDir(), 'page-classroom-1920x1080-33.png');
      await page.screenshot({ path: compactShot });
      t.diagnostic(`screenshot ${compactShot} (compact)`);
      // a17 has not joined yet: the least loaded of these 33.
      const least = expected
        .filter((id) => !OWN.includes(id))
        .sort((a, b) => cpuOf(a) - cpuOf(b) || (a < b ? -1 : 1))[0]!;
      await eventually(`${least} marked on compact tiles`, () => marksPick(page, least), { timeoutMs: 5000 });
      assert.equal(
        await page.locator('#attendees').isVisible(),
        true,
        'the filter offered once attendees joined',
      );

      const restTook = await join(range(FIRST_GROUP + 1, ATTENDEES));
      const restAt = Date.now();
      await eventually('123 devices in every column', () => showsExactly(page, expected), {
        timeoutMs: 30_000,
      });
      t.diagnostic(
        `${(ATTENDEES - FIRST_GROUP) * PER_ATTENDEE} more devices x 3 stores registered in ${restTook} ms, on the page ${Date.now() - restAt} ms later`,
      );
      for (const kind of STORE_KINDS) {
        assert.equal(await density(page, kind), 'dense', `${kind} at 123 devices`);
        assert.match((await countText(page, kind)) ?? '', /^123 devices\b/, kind);
        // A cell says which device it is (its id shows nowhere else).
        const cells = await page
          .locator(`${column(kind)} [data-device]`)
          .evaluateAll((els) =>
            els.map((e) => [
              e.getAttribute('data-device'),
              e.getAttribute('title'),
              e.getAttribute('aria-label'),
            ]),
          );
        for (const [id, title, label] of cells) {
          assert.ok(title?.startsWith(`${id}: `) && label === title, `${kind} ${id}: "${title}"`);
        }
        // Consul's checks start critical until their first pass (a TTL check's first one is sent just
        // after the registration): the count line catches up.
        await eventually(
          `${kind}: the dense grid's count line "123 passing"`,
          async () =>
            ((await page.locator(`${column(kind)} .column-summary`).textContent()) ?? '').startsWith(
              '123 passing ',
            ),
          { timeoutMs: 10_000 },
        );
      }
      await eventually(`${LEAST_LOADED} marked on the dense grid`, () => marksPick(page, LEAST_LOADED), {
        timeoutMs: 5000,
      });

      for (const [viewport, want] of [
        [{ width: 3840, height: 2160 }, 'compact'],
        [{ width: 1280, height: 720 }, 'dense'],
        [{ width: 1024, height: 768 }, 'dense'],
        [{ width: 1920, height: 1080 }, 'dense'],
      ] as const) {
        await page.setViewportSize(viewport);
        await eventually(
          `${want} at ${viewport.width}x${viewport.height}`,
          async () => (await Promise.all(STORE_KINDS.map((k) => density(page, k)))).every((d) => d === want),
          { timeoutMs: 3000 },
        );
        assert.ok(
          await showsExactly(page, expected),
          `every device once at ${viewport.width}x${viewport.height}`,
        );
        assert.ok(
          await marksPick(page, LEAST_LOADED),
          `the next pick marked at ${viewport.width}x${viewport.height}`,
        );
      }
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test("the filter by attendee: a select with each attendee's count; one attendee's devices only, full tiles; kept in the URL across a reload", async () => {
    const { page, problems, close } = await open(server.url, { width: 1280, height: 720 });
    try {
      await eventually('123 devices in every column', () => showsExactly(page, expected), {
        timeoutMs: 20_000,
      });
      const options = await page.locator('#attendee-filter option').allTextContents();
      assert.deepEqual(options, [
        `all: ${ATTENDEES} attendees, ${ATTENDEES * PER_ATTENDEE + OWN.length} devices`,
        ...range(1, ATTENDEES).map((n) => `${attendee(n)} · 3 devices`),
        'no attendee · 3 devices',
      ]);
      const chips = await page
        .locator('.attendee-button')
        .evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
      assert.equal(chips.length, ATTENDEES + 1);
      assert.equal(chips[6], 'show a7: 3 devices');

      await page.selectOption('#attendee-filter', { label: 'a7 · 3 devices' });
      await eventually("only a7's devices", () => showsExactly(page, idsOf(7)), { timeoutMs: 3000 });
      for (const kind of STORE_KINDS) {
        assert.equal(await density(page, kind), 'full', kind);
        assert.match((await countText(page, kind)) ?? '', /^3 of 123 devices shown\b/, kind);
        // Another attendee's device is the next pick: named in the head, no tile of a7's marked.
        assert.deepEqual(await pickShown(page, kind), {
          ids: [],
          mark: false,
          head: `next pick: ${LEAST_LOADED}`,
        });
      }
      assert.equal(new URL(page.url()).hash, '#attendee=a7');
      assert.equal(await page.locator('.attendee-summary').textContent(), 'showing a7: 3 devices of 123');
      // The attendees' devices keep alive with a TTL check in Consul, and their tiles say so.
      const live = await page
        .locator(`${column('consul')} [data-device]:not([hidden]) .tile-live`)
        .allTextContents();
      assert.deepEqual(live, ['TTL check passing', 'TTL check passing', 'TTL check passing']);

      await page.reload();
      await eventually('a7 still chosen after a reload', () => showsExactly(page, idsOf(7)), {
        timeoutMs: 10_000,
      });
      assert.equal(await page.inputValue('#attendee-filter'), '=a7');

      await page.selectOption('#attendee-filter', { label: 'no attendee · 3 devices' });
      await eventually("the instructor's own devices", () => showsExactly(page, OWN), { timeoutMs: 3000 });
      assert.equal(new URL(page.url()).hash, '#attendee=');
      await eventually(
        'their tiles say HTTP check',
        async () =>
          (
            await page.locator(`${column('consul')} [data-device]:not([hidden]) .tile-live`).allTextContents()
          ).join() === 'HTTP check passing,HTTP check passing,HTTP check passing',
        { timeoutMs: 10_000 },
      );

      await page.selectOption('#attendee-filter', { label: 'a17 · 3 devices' });
      await eventually(`${LEAST_LOADED} marked on a full tile`, () => marksPick(page, LEAST_LOADED), {
        timeoutMs: 3000,
      });

      // A chip filters too; pressed again, it shows everyone.
      await page.locator('.attendee-counts > summary').click();
      await page.locator('.attendee-button[data-attendee="a33"]').click();
      await eventually("only a33's devices", () => showsExactly(page, idsOf(33)), { timeoutMs: 3000 });
      await page.locator('.attendee-button[data-attendee="a33"]').click();
      await eventually('everyone again', () => showsExactly(page, expected), { timeoutMs: 3000 });
      assert.equal(new URL(page.url()).hash, '');

      // A device leaves: its attendee's count follows.
      await registrations.get('etcd/a5-2')!.deregister();
      await registrations.get('zookeeper/a5-2')!.deregister();
      await registrations.get('consul/a5-2')!.deregister();
      await eventually(
        'a5 counted with 2 devices',
        async () =>
          (await page.locator('#attendee-filter option').allTextContents()).includes('a5 · 2 devices'),
        { timeoutMs: 10_000 },
      );
      expected = expected.filter((id) => id !== 'a5-2');
      assert.ok(await showsExactly(page, expected));
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test('screenshots at 1280x720, 1024x768, 1920x1080, 390x844 and 3840x2160 (all, and a7 alone): nothing overlaps, no sideways scroll', async (t) => {
    const dir = await screenshotDir();
    for (const [width, height, filter] of [
      [1280, 720, ''],
      [1024, 768, ''],
      [1920, 1080, ''],
      [390, 844, ''],
      [3840, 2160, ''],
      [1280, 720, 'a7'],
    ] as const) {
      const hash = filter ? `#attendee=${filter}` : '';
      const { page, problems, close } = await open(`${server.presenterUrl}${hash}`, { width, height });
      try {
        const ids = filter ? idsOf(7) : expected;
        await eventually(`${ids.length} devices in every column`, () => showsExactly(page, ids), {
          timeoutMs: 20_000,
        });
        // With a filter, the counts per attendee unfolded (the chosen one pressed).
        if (filter) await page.locator('.attendee-counts > summary').click();
        await new Promise((r) => setTimeout(r, 300));
        const densities = await Promise.all(STORE_KINDS.map((k) => density(page, k)));
        const file = path.join(dir, `page-classroom-${width}x${height}${filter ? `-${filter}` : ''}.png`);
        await page.screenshot({ path: file, fullPage: true });
        t.diagnostic(`screenshot ${file} (${densities.join(', ')})`);
        const found = await overlaps(page, [
          ['.column'],
          ['.column-head > *', '[data-device]', '.column-summary', '.column-more'],
          ['header', '#attendees', '.column', '#timeline'],
        ]);
        assert.deepEqual(found, [], `at ${width}x${height}`);
        const scroll = await page.evaluate(
          () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
        );
        assert.ok(
          scroll <= 0,
          `horizontal scroll of ${scroll} px at ${width}: ${(await tooWide(page)).join('; ')}`,
        );
        if (!filter && width >= 900) {
          // The whole classroom on the first screen: each column's grid and its count line end above the fold.
          const bottoms = await page
            .locator('.column .tiles, .column .column-summary:not([hidden])')
            .evaluateAll((els) => els.map((e) => Math.round(e.getBoundingClientRect().bottom)));
          assert.ok(
            bottoms.every((b) => b <= height),
            `grids and count lines end at ${bottoms.join(', ')} px at ${width}x${height}`,
          );
        }
        assert.deepEqual(problems, []);
      } finally {
        await close();
      }
    }
  });
});
