// docs/run-sheet.md, driven in order as a speaker would on stage: the real `fleetkit demo --members 3`
// (three 3-member clusters, 6 simulated devices as processes, the live page), the presenter's page in a
// real Chromium at 1280x720, and what the room should see checked at each step: the columns and the
// devices, a color applied with the keys, an unplug draining away with its "expired after" stamp, the
// replug, each store's leader killed with no device lost and restarted, the timeline pinned and
// downloaded.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { STORE_KINDS } from '../../lib/registry/index.ts';
import { launchBrowser, openPage, screenshotDir } from '../support/browser.ts';
import { delay, eventually } from '../support/eventually.ts';
import { freePort } from '../support/ports.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEVICES = 6;
const column = (store: string) => `.column[data-store="${store}"]`;

/** How many device tiles each column shows now, etcd / ZooKeeper / Consul. */
const counts = (page: Page) =>
  Promise.all(STORE_KINDS.map((s) => page.locator(`${column(s)} .tile[data-device]`).count()));

describe('the run sheet on stage: npm run demo -- --members 3, driven in order', { timeout: 600_000 }, () => {
  let demo: ChildProcess;
  let output = '';
  let browser: Browser;
  let page: Page;
  let problems: string[];
  let close: () => Promise<void>;
  let shots: string;

  const shot = async (t: { diagnostic: (m: string) => void }, name: string) => {
    const file = path.join(shots, `run-sheet-${name}.png`);
    await page.screenshot({ path: file });
    t.diagnostic(`screenshot ${file}`);
  };

  before(async () => {
    const port = await freePort();
    demo = spawn(
      process.execPath,
      ['provision/fleetkit.mjs', 'demo', '--members', '3', '--mode', 'processes', '--port', String(port)],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
        env: { ...process.env, FLEET_LOG_LEVEL: 'warn' },
      },
    );
    demo.stdout!.on('data', (d) => (output += d));
    demo.stderr!.on('data', (d) => (output += d));
    // The run sheet allows two minutes for nine store processes on a 2-core laptop; three times that.
    await eventually(
      `the demo is ready (output so far: ${output.slice(-800)})`,
      () => /^ready in /m.test(output),
      {
        timeoutMs: 360_000,
      },
    );
    const presenter = /presenter[^:]*: (http\S+token=\S+)/.exec(output)?.[1];
    assert.ok(presenter, `the demo prints the presenter URL: ${output.slice(-800)}`);
    browser = await launchBrowser();
    ({ page, problems, close } = await openPage(browser, presenter));
    shots = await screenshotDir();
  });

  after(async () => {
    await close?.();
    await browser?.close();
    if (demo?.exitCode === null) {
      process.kill(-demo.pid!, 'SIGINT');
      const exited = new Promise((resolve) => demo.once('exit', resolve));
      const timer = setTimeout(() => process.kill(-demo.pid!, 'SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
    }
  });

  test('before the talk: three columns of 6 devices, three members each with a leader, the QR code, the keys', async (t) => {
    await eventually(
      `${DEVICES} devices in every column`,
      async () => (await counts(page)).every((n) => n === DEVICES),
      { timeoutMs: 60_000 },
    );
    for (const store of STORE_KINDS) {
      await eventually(
        `${store}: 3 members, one of them the leader`,
        async () =>
          (await page.locator(`${column(store)} .kit-member`).count()) === 3 &&
          (await page.locator(`${column(store)} .kit-member[data-role="leader"]`).count()) === 1,
        { timeoutMs: 60_000 },
      );
    }
    assert.ok(await page.locator('img.qr').isVisible(), 'the QR code is on screen');
    assert.ok(!page.url().includes('token='), 'the token is out of the address bar');
    await page.keyboard.press('?');
    await page.locator('dialog#help').waitFor({ state: 'visible', timeout: 5000 });
    await page.keyboard.press('Escape');
    await shot(t, '0-before');
  });

  test('minute 2-3: 3 then A: every tile in every column fills with the third palette color', async (t) => {
    const color = await page.locator('.swatch-button').nth(2).getAttribute('data-color');
    await page.keyboard.press('3');
    await page.keyboard.press('a');
    await eventually(
      `every tile shows ${color}`,
      async () => (await page.locator(`.column .tile[data-color="${color}"]`).count()) === DEVICES * 3,
      { timeoutMs: 20_000 },
    );
    assert.match((await page.locator('.event').first().textContent()) ?? '', /applied|color set/);
    await shot(t, '1-color');
  });

  test('minute 3-6: U on a selected device: its bars drain, it expires from each store with its stamp; R brings it back', async (t) => {
    const target = 'sim-6';
    await page.locator(`${column('etcd')} .tile[data-device="${target}"]`).click();
    await page.locator(`#detail[data-device="${target}"]`).waitFor({ state: 'visible', timeout: 5000 });
    await page.keyboard.press('u');
    await eventually(
      `${target} unplugged`,
      async () =>
        (await page
          .locator(`${column('etcd')} .tile[data-device="${target}"]`)
          .getAttribute('data-sim-state')) === 'unplugged',
      { timeoutMs: 20_000 },
    );
    await delay(2000);
    await shot(t, '2-draining');
    for (const store of ['etcd', 'zookeeper'] as const) {
      await eventually(
        `${target} expired from ${store}, a ghost says after how long`,
        async () =>
          /expired after [\d.]+ s \(window [\d.]+ s\)/.test(
            (await page
              .locator(`${column(store)} .tile-ghost[data-ghost-of="${target}"]`)
              .textContent()
              .catch(() => '')) ?? '',
          ),
        { timeoutMs: 30_000 },
      );
    }
    await eventually(
      `${target} critical in consul`,
      async () =>
        (await page
          .locator(`${column('consul')} .tile[data-device="${target}"]`)
          .getAttribute('data-health')) === 'critical',
      { timeoutMs: 30_000 },
    );
    await shot(t, '3-expired');
    await page.keyboard.press('r');
    await eventually(
      `${target} back in every column, passing`,
      async () =>
        (await counts(page)).every((n) => n === DEVICES) &&
        (await page.locator(`.column .tile[data-device="${target}"][data-health="passing"]`).count()) === 3,
      { timeoutMs: 60_000 },
    );
  });

  for (const store of STORE_KINDS) {
    test(`minute 6-9: kill the ${store} leader: a new leader, no device leaves any column; restart it`, async (t) => {
      const leaderOf = async () =>
        page.locator(`${column(store)} .kit-member[data-role="leader"]`).getAttribute('data-member');
      const before = await leaderOf();
      assert.ok(before, 'etcd has a leader');
      let lowest = [DEVICES, DEVICES, DEVICES];
      let watching = true;
      const watch = (async () => {
        while (watching) {
          const now = await counts(page);
          lowest = lowest.map((n, i) => Math.min(n, now[i]!));
          await delay(200);
        }
      })();
      await page.locator(`${column(store)} .store-button[data-store-action="kill-leader"]`).click();
      await eventually(
        `m${before} killed, another member leads`,
        async () => {
          const now = await leaderOf();
          return (
            now !== null &&
            now !== before &&
            (await page
              .locator(`${column(store)} .kit-member[data-member="${before}"]`)
              .getAttribute('data-state')) === 'killed'
          );
        },
        { timeoutMs: 60_000 },
      );
      await shot(t, `4-${store}-leader-killed`);
      await delay(5000); // a few windows more: nothing may drop after the election either
      watching = false;
      await watch;
      assert.deepEqual(
        lowest,
        [DEVICES, DEVICES, DEVICES],
        `a device left a column: lowest counts ${lowest.join(' / ')}`,
      );
      await page.locator(`${column(store)} .store-button[data-store-action="restart-${before}"]`).click();
      await eventually(
        `m${before} running again`,
        async () =>
          (await page
            .locator(`${column(store)} .kit-member[data-member="${before}"]`)
            .getAttribute('data-state')) === 'running',
        { timeoutMs: 120_000 },
      );
      const events = await page
        .locator('.event')
        .evaluateAll((items) =>
          items.map((e) => [
            e.querySelector('.event-store')?.textContent ?? '',
            e.querySelector('.event-text')?.textContent ?? '',
          ]),
        );
      assert.ok(
        events.some(([from, text]) => from === store && /leader|elect/i.test(text ?? '')),
        `the timeline names ${store}'s election: ${JSON.stringify(events.slice(0, 8))}`,
      );
    });
  }

  test('minute 9-10: pin the best line for everyone; the timeline downloads as CSV with every entry', async (t) => {
    const first = page.locator('.event').first();
    const text = (await first.locator('.event-text').textContent()) ?? '';
    await first.locator('.event-pin').click();
    await eventually(
      'the pinned line above the strip',
      async () => ((await page.locator('#timeline-pinned').textContent()) ?? '').includes(text),
      { timeoutMs: 10_000 },
    );
    const href = await page.locator('a.timeline-link', { hasText: 'CSV' }).getAttribute('href');
    assert.ok(href, 'a CSV link');
    const csv = await (await fetch(new URL(href, page.url()))).text();
    const lines = csv.trim().split('\n');
    assert.ok(lines.length > 20, `the CSV has ${lines.length} lines`);
    assert.ok(csv.includes('kill') || csv.includes('leader'), 'the CSV has the leader kill');
    await shot(t, '5-pinned');
    assert.deepEqual(problems, []);
  });
});
