// Debian's Chromium driven by playwright-core (no browser download), as the workplace allows it.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.FLEET_CHROMIUM ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A page that records every dialog and page error (an XSS would show up here). */
export async function openPage(browser: Browser, url: string, viewport = { width: 1280, height: 720 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  await page.goto(url);
  return { page, problems, close: () => context.close() };
}

export const screenshotDir = async () =>
  process.env.FLEET_SCREENSHOTS ?? (await mkdtemp(path.join(tmpdir(), 'fleetkit-screens-')));

// Plain JavaScript, not TypeScript: it runs in the page, and the test's own transpiler would add
// helper calls (__name) to functions it compiled.
const OVERLAPS_IN_PAGE = `(groups) => {
  const found = [];
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.dataset.device ? '[device=' + el.dataset.device + ']' : '') + (el.dataset.store ? '[store=' + el.dataset.store + ']' : '');
  // What is seen of an element: its box cut by every scrolling or clipping ancestor (a column that
  // scrolls on its own shows only part of its tiles); null when nothing of it is seen.
  const seen = (el) => {
    const r = el.getBoundingClientRect();
    let box = { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
    for (let up = el.parentElement; up; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
      const c = up.getBoundingClientRect();
      box = {
        left: Math.max(box.left, c.left), top: Math.max(box.top, c.top),
        right: Math.min(box.right, c.right), bottom: Math.min(box.bottom, c.bottom),
      };
    }
    return box.right - box.left > 0 && box.bottom - box.top > 0 ? box : null;
  };
  for (const selectors of groups) {
    const elements = selectors.flatMap((s) => [...document.querySelectorAll(s)])
      .map((el) => ({ el, box: seen(el) }))
      .filter((e) => e.box !== null);
    for (let i = 0; i < elements.length; i++) {
      for (let j = i + 1; j < elements.length; j++) {
        const a = elements[i];
        const b = elements[j];
        if (a.el.contains(b.el) || b.el.contains(a.el)) continue;
        const x = Math.min(a.box.right, b.box.right) - Math.max(a.box.left, b.box.left);
        const y = Math.min(a.box.bottom, b.box.bottom) - Math.max(a.box.top, b.box.top);
        if (x > 1 && y > 1) found.push(describe(a.el) + ' overlaps ' + describe(b.el));
      }
    }
  }
  return found;
}`;

/**
 * Pairs of elements (from the given selector groups) whose seen parts (boxes cut by scrolling
 * ancestors) overlap by more than a pixel.
 */
export async function overlaps(page: Page, groups: string[][]): Promise<string[]> {
  return page.evaluate(`(${OVERLAPS_IN_PAGE})(${JSON.stringify(groups)})`) as Promise<string[]>;
}
