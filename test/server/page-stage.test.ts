// The stage: the live page as a projector shows it, in a real Chromium, against the real `fleetkit
// server`, the three real stores and a simulated fleet of 6 real agents (processes mode), as
// `npm run demo` runs them. Measured, not guessed: at 1280x720 and 1920x1080 every column, every tile
// of the 6 devices and the newest 3 events lie inside the screen with nothing to scroll; ids and CPU
// figures in at least 18 px; the applied color fills each tile with text in an ink that passes WCAG AA;
// labels folded away (tooltip, detail panel). The presenter's keys (palette, apply, arrows, U / R / K,
// ?, Esc) and the phone's store tabs at 390x844. Screenshots at each size.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { StoreKind } from '../../lib/registry/index.ts';
import { contrastRatio, parseHexColor, relativeLuminance } from '../../server/page/contrast.ts';
import { launchBrowser, openPage, screenshotDir } from '../support/browser.ts';
import { eventually } from '../support/eventually.ts';
import type { RunningServer } from '../support/servers.ts';
import { type SimPage, startSimPage } from '../support/sim-page.ts';

const DEVICES = 6;
const tile = (store: StoreKind, id: string) => `.column[data-store="${store}"] .tile[data-device="${id}"]`;

interface Box {
  what: string;
  top: number;
  bottom: number;
  left: number;
  right: number;
}

interface Layout {
  viewport: { width: number; height: number };
  scroll: { height: number; width: number };
  columns: Box[];
  tiles: (Box & { column: Box })[];
  timeline: Box;
  events: Box[];
  idPx: number[];
  cpuPx: number[];
}

// Plain JavaScript, not TypeScript: it runs in the page, and the test's own transpiler would add helper
// calls (__name) to the functions it compiled.
const LAYOUT_IN_PAGE = `(() => {
  const box = (what, el) => {
    const r = el.getBoundingClientRect();
    return { what, top: r.top, bottom: r.bottom, left: r.left, right: r.right };
  };
  const columns = [...document.querySelectorAll('.column')].map((c) => box('column ' + c.dataset.store, c));
  const tiles = [...document.querySelectorAll('.column .tile')].map((t) => {
    const column = t.closest('.column');
    return { ...box('tile ' + column.dataset.store + '/' + t.dataset.device, t), column: box('', column) };
  });
  const px = (selector) =>
    [...document.querySelectorAll(selector)].map((e) => Number.parseFloat(getComputedStyle(e).fontSize));
  return {
    viewport: { width: window.innerWidth, height: window.innerHeight },
    scroll: { height: document.documentElement.scrollHeight, width: document.documentElement.scrollWidth },
    columns,
    tiles,
    timeline: box('timeline', document.querySelector('.timeline')),
    events: [...document.querySelectorAll('.event')].slice(0, 3).map((e, i) => box('event ' + (i + 1), e)),
    idPx: px('.column .tile-id'),
    cpuPx: px('.column .metric-cpu'),
  };
})()`;

/** Everything the projector rule names, as the page lays it out now (CSS px, viewport coordinates). */
const layout = (page: Page): Promise<Layout> => page.evaluate(LAYOUT_IN_PAGE) as Promise<Layout>;

/** Parses "rgb(r, g, b)" as the browser computes colors. */
function rgbOf(css: string): [number, number, number] {
  const match = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(css);
  assert.ok(match, `not a computed color: ${css}`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

describe('fleetkit server: the stage (projector, keys, phone)', { timeout: 300_000 }, () => {
  let sim: SimPage;
  let server: RunningServer;
  let browser: Browser;
  const ids = Array.from({ length: DEVICES }, (_, i) => `sim-${i + 1}`);

  before(async () => {
    sim = await startSimPage(DEVICES, `stage${process.pid}`);
    ({ server } = sim);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await sim?.stop();
  });

  /** Until every column shows every device and at least 3 events are listed. */
  async function allShown(page: Page) {
    await eventually(
      `${DEVICES} tiles in each of the 3 columns and 3 events`,
      async () =>
        (await page.locator('.column .tile').count()) === DEVICES * 3 &&
        (await page.locator('.event').count()) >= 3,
      { timeoutMs: 60_000 },
    );
    await page.waitForTimeout(500); // the columns measure their room after a resize observer's turn
  }

  for (const size of [
    { width: 1280, height: 720 },
    { width: 1920, height: 1080 },
  ]) {
    test(`projector ${size.width}x${size.height}: three columns, all ${DEVICES} devices and the newest 3 events on screen, nothing to scroll; ids and CPU at least 18 px`, async (t) => {
      const { page, problems, close } = await openPage(browser, server.presenterUrl, size);
      try {
        await allShown(page);
        const shown = await layout(page);
        const file = path.join(await screenshotDir(), `page-stage-${size.width}x${size.height}.png`);
        await page.screenshot({ path: file });
        t.diagnostic(`screenshot ${file}`);
        const outside = (b: Box, within: Omit<Box, 'what'>) =>
          b.top < within.top - 0.5 ||
          b.bottom > within.bottom + 0.5 ||
          b.left < within.left - 0.5 ||
          b.right > within.right + 0.5;
        const screen = { top: 0, left: 0, bottom: size.height, right: size.width };
        assert.ok(shown.scroll.height <= size.height, `the page scrolls: ${shown.scroll.height} px tall`);
        assert.ok(shown.scroll.width <= size.width, `the page scrolls sideways: ${shown.scroll.width} px`);
        assert.equal(shown.columns.length, 3);
        for (const column of shown.columns) assert.ok(!outside(column, screen), `${column.what} off screen`);
        assert.equal(shown.tiles.length, DEVICES * 3);
        for (const tileBox of shown.tiles) {
          assert.ok(!outside(tileBox, screen), `${tileBox.what} off screen: ${JSON.stringify(tileBox)}`);
          assert.ok(!outside(tileBox, tileBox.column), `${tileBox.what} cut by its column (it would scroll)`);
        }
        assert.equal(shown.events.length, 3);
        for (const event of shown.events) {
          assert.ok(!outside(event, screen), `${event.what} off screen: ${JSON.stringify(event)}`);
          assert.ok(!outside(event, shown.timeline), `${event.what} scrolled out of the timeline strip`);
        }
        if (size.width === 1280) {
          assert.ok(Math.min(...shown.idPx) >= 18, `device ids in ${Math.min(...shown.idPx)} px`);
          assert.ok(Math.min(...shown.cpuPx) >= 18, `CPU figures in ${Math.min(...shown.cpuPx)} px`);
        }
        assert.deepEqual(problems, []);
      } finally {
        await close();
      }
    });
  }

  test('keys: a number picks a palette color and A applies it; each tile is filled with it, its text in an AA ink', async (t) => {
    const { page, problems, close } = await openPage(browser, server.presenterUrl);
    try {
      await allShown(page);
      const palette = await page
        .locator('.swatch-button')
        .evaluateAll((b) => b.map((e) => (e as HTMLElement).dataset.color ?? ''));
      // Every palette color, light and dark, is checked against its ink; the third ends up applied.
      for (const [index, color] of palette.entries()) {
        if (index >= 9) break;
        await page.keyboard.press(String(index + 1));
        assert.equal(await page.inputValue('#color-input'), color.toLowerCase());
        await page.keyboard.press('a');
        await eventually(
          `every tile shows ${color}`,
          async () => (await page.locator(`.column .tile[data-color="${color}"]`).count()) === DEVICES * 3,
          { timeoutMs: 20_000 },
        );
        const painted = await page.locator('.column .tile').evaluateAll((tiles) =>
          tiles.map((t) => {
            const id = t.querySelector('.tile-id')!;
            const cpu = t.querySelector('.metric-cpu')!;
            return {
              background: getComputedStyle(t).backgroundColor,
              inks: [getComputedStyle(id).color, getComputedStyle(cpu).color],
            };
          }),
        );
        const expected = parseHexColor(color)!;
        for (const { background, inks } of painted) {
          assert.deepEqual(rgbOf(background), [...expected], `the tile is not filled with ${color}`);
          for (const ink of inks) {
            const ratio = contrastRatio(relativeLuminance(rgbOf(background)), relativeLuminance(rgbOf(ink)));
            assert.ok(ratio >= 4.5, `${ink} on ${color}: contrast ${ratio.toFixed(2)} < 4.5 (WCAG AA)`);
          }
        }
        t.diagnostic(`${color}: filled, ink contrast checked on ${painted.length} tiles`);
      }
      const file = path.join(await screenshotDir(), 'page-stage-1280x720-colored.png');
      await page.screenshot({ path: file });
      t.diagnostic(`screenshot ${file}`);
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test('labels are folded away: in the tooltip, and in the detail panel a click (or an arrow key) opens', async () => {
    const { page, problems, close } = await openPage(browser, server.url);
    try {
      await allShown(page);
      const first = page.locator(tile('etcd', ids[0]!));
      assert.equal(
        await page.locator('.column .chip').first().isVisible(),
        false,
        'labels shown on the tile',
      );
      assert.match((await first.getAttribute('title')) ?? '', /sim: processes/);
      await first.click();
      const detail = page.locator(`#detail[data-device="${ids[0]}"][data-store="etcd"]`);
      await detail.waitFor({ state: 'visible', timeout: 5000 });
      assert.match((await detail.textContent()) ?? '', /simprocesses/);
      await page.keyboard.press('Escape');
      await detail.waitFor({ state: 'hidden', timeout: 5000 });
      // The arrows: from nothing selected the first tile, then the one to its right on screen.
      await page.keyboard.press('ArrowRight');
      await page.keyboard.press('ArrowRight');
      const selected = page.locator('.column .tile[data-selected="true"]');
      assert.equal(await selected.count(), 1);
      const [a, b] = await Promise.all([first.boundingBox(), selected.boundingBox()]);
      assert.ok(
        a && b && b.x > a.x && Math.abs(b.y - a.y) < 2,
        `the selection did not move right: ${JSON.stringify([a, b])}`,
      );
      await page.waitForSelector('#detail:not([hidden])', { timeout: 5000 });
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test('keys: U, R and K act on the selected simulated device; ? shows the keys; the audience is told its page is read-only', async (t) => {
    const presenter = await openPage(browser, server.presenterUrl);
    const audience = await openPage(browser, server.url);
    try {
      const { page } = presenter;
      await allShown(page);
      const target = ids[DEVICES - 1]!;
      await page.locator(tile('zookeeper', target)).click();
      await page.waitForSelector(`#detail[data-device="${target}"]`, { timeout: 5000 });
      const state = () => page.locator(tile('etcd', target)).getAttribute('data-sim-state');
      for (const [key, expected] of [
        ['u', 'unplugged'],
        ['r', 'running'],
        ['k', 'killed'],
        ['r', 'running'],
      ] as const) {
        await page.keyboard.press(key);
        await eventually(
          `${key.toUpperCase()}: ${target} ${expected}`,
          async () => (await state()) === expected,
          {
            timeoutMs: 20_000,
          },
        );
        t.diagnostic(`${key.toUpperCase()} -> ${expected}: ${await page.textContent('#message')}`);
      }
      await eventually(
        `${target} back in every column after its restart`,
        async () => (await page.locator(`.column .tile[data-device="${target}"]`).count()) === 3,
        { timeoutMs: 30_000 },
      );
      // K on nothing selected says what to do.
      await page.keyboard.press('Escape');
      await page.keyboard.press('k');
      assert.match((await page.textContent('#message')) ?? '', /select a device first/);

      await page.keyboard.press('?');
      const help = page.locator('dialog#help');
      await help.waitFor({ state: 'visible', timeout: 5000 });
      assert.match((await help.textContent()) ?? '', /apply the chosen color/);
      const file = path.join(await screenshotDir(), 'page-stage-1280x720-help.png');
      await page.screenshot({ path: file });
      t.diagnostic(`screenshot ${file}`);
      await page.keyboard.press('Escape');
      await help.waitFor({ state: 'hidden', timeout: 5000 });

      await allShown(audience.page);
      await audience.page.keyboard.press('2');
      assert.match(
        (await audience.page.textContent('.notice')) ?? '',
        /presenter key: this page is read-only/,
      );
      assert.equal(await audience.page.locator('#controls').count(), 0);
      assert.deepEqual([...presenter.problems, ...audience.problems], []);
    } finally {
      await presenter.close();
      await audience.close();
    }
  });

  test('phone 390x844: the stores behind tabs, one column at a time, nothing sideways', async (t) => {
    const { page, problems, close } = await openPage(browser, server.url, { width: 390, height: 844 });
    try {
      await allShown(page);
      const dir = await screenshotDir();
      for (const store of ['etcd', 'consul'] as const) {
        if (store !== 'etcd') await page.locator(`.store-tab[data-tab="${store}"]`).click();
        assert.equal(
          await page.locator(`.store-tab[data-tab="${store}"]`).getAttribute('aria-selected'),
          'true',
        );
        const visible = await page
          .locator('.column')
          .evaluateAll((columns) =>
            columns
              .filter((c) => (c as HTMLElement).offsetParent !== null)
              .map((c) => (c as HTMLElement).dataset.store),
          );
        assert.deepEqual(visible, [store]);
        assert.match(
          (await page.locator(`.store-tab[data-tab="${store}"]`).textContent()) ?? '',
          /6 devices/,
        );
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(width <= 390, `the phone scrolls sideways: ${width} px`);
        const file = path.join(dir, `page-stage-390x844-${store}.png`);
        await page.screenshot({ path: file });
        t.diagnostic(`screenshot ${file}`);
      }
      assert.match(page.url(), /store=consul/);
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
});
