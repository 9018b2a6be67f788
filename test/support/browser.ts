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
  for (const selectors of groups) {
    const elements = selectors.flatMap((s) => [...document.querySelectorAll(s)]).filter((el) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0;
    });
    for (let i = 0; i < elements.length; i++) {
      for (let j = i + 1; j < elements.length; j++) {
        if (elements[i].contains(elements[j]) || elements[j].contains(elements[i])) continue;
        const a = elements[i].getBoundingClientRect();
        const b = elements[j].getBoundingClientRect();
        const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (x > 1 && y > 1) found.push(describe(elements[i]) + ' overlaps ' + describe(elements[j]));
      }
    }
  }
  return found;
}`;

/** Pairs of elements (from the given selector groups) whose boxes overlap by more than a pixel. */
export async function overlaps(page: Page, groups: string[][]): Promise<string[]> {
  return page.evaluate(`(${OVERLAPS_IN_PAGE})(${JSON.stringify(groups)})`) as Promise<string[]>;
}
