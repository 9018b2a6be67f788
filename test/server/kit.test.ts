// The live page's /kit/ routes through the real `fleetkit server`: off by default (404 with the
// sentence that turns them on), and with --classroom the kit page, the kit file and stores.json,
// whatever Host header a request carries; the header's link to the kit; screenshots in Chromium.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { CLASSROOM_OFF, kitStoresSchema } from '../../server/kit-contract.ts';
import { lanAddress } from '../../server/lan-address.ts';
import { attendeeFolder, downloadKit, runKit } from '../support/attendee.ts';
import { launchBrowser, openPage, overlaps, screenshotDir } from '../support/browser.ts';
import { type RunningServer, startServer } from '../support/servers.ts';
import { PageWatch } from '../workshop/page-watch.ts';

// The page answers /kit/ without reaching a store: none runs, the endpoints only have to be valid.
const STORES = {
  FLEET_ETCD: 'http://127.0.0.1:1',
  FLEET_ZOOKEEPER: '0.0.0.0:2',
  FLEET_CONSUL: 'http://10.20.30.40:8500',
};

/** GET with a Host header of our choosing (fetch sets its own). */
function get(port: number, pathName: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: pathName, setHost: false, headers: { host }, agent: false },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('the page without --classroom', { timeout: 60_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(STORES);
  });
  after(() => server?.stop());

  test('every /kit/ path answers 404 with the sentence saying how to turn the classroom on; the snapshot says off', async () => {
    for (const p of ['kit/', 'kit', 'kit/fleetkit.mjs', 'kit/stores.json', 'kit/../kit/x']) {
      const res = await fetch(new URL(p, server.url));
      assert.equal(res.status, 404, p);
      assert.equal((await res.text()).trim(), CLASSROOM_OFF, p);
    }
    const page = await PageWatch.open(server.url);
    try {
      assert.equal(page.state.meta?.kitUrl, null);
    } finally {
      page.close();
    }
  });
});

describe('the page with --classroom', { timeout: 180_000 }, () => {
  let server: RunningServer;
  let browser: Browser;
  before(async () => {
    server = await startServer({ ...STORES, FLEET_CLASSROOM: 'on' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('stores.json: loopback and every-address stores at the host the request came to, others as they are', async () => {
    const { status, body } = await get(server.port, '/kit/stores.json', `192.0.2.77:${server.port}`);
    assert.equal(status, 200, body);
    const answer = kitStoresSchema.parse(JSON.parse(body));
    assert.deepEqual(answer.stores, {
      etcd: ['http://192.0.2.77:1'],
      zookeeper: ['192.0.2.77:2'],
      consul: ['http://10.20.30.40:8500'],
    });
    assert.equal(answer.page, `http://192.0.2.77:${server.port}/`);
    assert.equal(answer.namespace, 'fleet');
  });

  test('a hostile Host header: the LAN address instead, and none of its text in any answer', async () => {
    for (const host of ['<script>alert(1)</script>', 'evil"host', `${'x'.repeat(290)}:1`, 'a:b:c']) {
      for (const p of ['/kit/stores.json', '/kit/']) {
        const { status, body } = await get(server.port, p, host);
        assert.equal(status, 200, `${p} with Host ${host}`);
        assert.doesNotMatch(body, /script|evil|xxxxxxxxxx|a:b:c/, `${p} with Host ${host}`);
      }
      const answer = kitStoresSchema.parse(
        JSON.parse((await get(server.port, '/kit/stores.json', host)).body),
      );
      assert.deepEqual(answer.stores.zookeeper, [`${lanAddress()}:2`]);
    }
  });

  test('the kit file: downloaded as fleetkit.mjs, and it runs with node alone', async () => {
    const res = await fetch(new URL('kit/fleetkit.mjs', server.url));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /javascript/);
    assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="fleetkit.mjs"/);
    const kit = await downloadKit(server.url);
    assert.ok(kit.length > 100_000, `${kit.length} bytes`);
    const terminal = await runKit(await attendeeFolder(kit), ['--help']);
    const { code } = await terminal.exited;
    assert.equal(code, 0, terminal.output());
    for (const command of ['join', 'pick', 'watch', 'etcd', 'zookeeper', 'consul', 'agent'])
      assert.match(terminal.output(), new RegExp(`^  ${command} `, 'm'));
    // The same file is what `npm run build:kit` writes (one build, device/kit/build.ts).
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'device/kit/build.ts', path.join(terminal.folder, 'built')],
      {
        cwd: path.join(import.meta.dirname, '../..'),
      },
    );
    assert.match(stdout, /built .*fleetkit\.mjs/);
  });

  test('an unknown /kit/ path: 404 naming where the kit is', async () => {
    const res = await fetch(new URL('kit/nothing', server.url));
    assert.equal(res.status, 404);
    assert.match(await res.text(), /not found: the attendee kit is at \/kit\//);
  });

  test('/kit/ in Chromium: the two lines with the address typed, the download link; the page header links to it; screenshots', async (t) => {
    const dir = await screenshotDir();
    const kitPage = await openPage(browser, new URL('kit/', server.url).href, { width: 1280, height: 720 });
    try {
      const commands = await kitPage.page.locator('#kit-commands').textContent();
      assert.equal(
        commands,
        `curl -O http://127.0.0.1:${server.port}/kit/fleetkit.mjs\nnode fleetkit.mjs join 127.0.0.1:${server.port} --name yourname`,
      );
      assert.equal(
        await kitPage.page.locator('a[download]').getAttribute('href'),
        `http://127.0.0.1:${server.port}/kit/fleetkit.mjs`,
      );
      const file = path.join(dir, 'kit-1280x720.png');
      await kitPage.page.screenshot({ path: file, fullPage: true });
      t.diagnostic(`screenshot ${file}`);
      assert.deepEqual(kitPage.problems, []);
    } finally {
      await kitPage.close();
    }
    const phone = await openPage(browser, new URL('kit/', server.url).href, { width: 390, height: 844 });
    try {
      const file = path.join(dir, 'kit-390x844.png');
      await phone.page.screenshot({ path: file, fullPage: true });
      t.diagnostic(`screenshot ${file}`);
      const scroll = await phone.page.evaluate(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      );
      assert.equal(scroll, 0, 'no sideways scroll on a phone');
    } finally {
      await phone.close();
    }
    const live = await openPage(browser, server.url, { width: 1280, height: 720 });
    try {
      const link = live.page.locator('#kit-link');
      await link.waitFor({ state: 'visible', timeout: 10_000 });
      assert.equal(await link.getAttribute('href'), `${server.url}kit/`);
      assert.equal(await link.textContent(), `${server.url}kit/`);
      const file = path.join(dir, 'page-classroom-header-1280x720.png');
      await live.page.screenshot({ path: file });
      t.diagnostic(`screenshot ${file}`);
      assert.deepEqual(await overlaps(live.page, [['header .brand', 'header .audience', '#connection']]), []);
      assert.deepEqual(live.problems, []);
    } finally {
      await live.close();
    }
  });
});
