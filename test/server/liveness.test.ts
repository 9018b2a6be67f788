// Liveness you can watch, against the three real stores, real agents and the real server, in a real
// Chromium at 1280x720: each record carries its agent's own liveness settings and each tile shows its
// own window; after an agent is frozen (SIGSTOP, an unplug) or killed (SIGKILL), the countdowns read
// from the stores themselves run down (etcd's lease TTL falls, ZooKeeper's last contact from `cons`
// grows), the page's bars drain at each store's speed, and the device's tile leaves a ghost saying
// "expired after X s (window Y s)" with X near Y.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  createRegistry,
  type DiscoveredInstance,
  type InstanceWatch,
  type LivenessReading,
  type Registry,
  STORE_KINDS,
  type StoreKind,
} from '../../lib/registry/index.ts';
import { type RunningAgent, startAgent } from '../support/agents.ts';
import { launchBrowser, openPage, overlaps, screenshotDir } from '../support/browser.ts';
import { delay, eventually } from '../support/eventually.ts';
import { type RunningServer, startServer } from '../support/servers.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

const bar = (store: StoreKind, id: string) => `.tile[data-store="${store}"][data-device="${id}"] .liveness`;
const ghost = (store: StoreKind, id: string) => `.tile-ghost[data-store="${store}"][data-ghost-of="${id}"]`;

/** The agent with its own, longer windows (the server runs with the tests' 2 s ones). */
const OWN = { ttl: 6, sessionMs: 6000, consulTtl: 4 };

interface Bar {
  remainingMs: number | null;
  windowMs: number;
  source: string;
  state: string;
  text: string;
}

/** The bar as the page shows it now, read in one go (undefined: no such tile, it may just have left). */
async function readBar(page: Page, store: StoreKind, id: string): Promise<Bar | undefined> {
  // Plain JavaScript: it runs in the page (see test/support/browser.ts).
  const read = `((selector) => {
    const el = document.querySelector(selector);
    if (!el) return null;
    const remaining = el.getAttribute('data-remaining-ms');
    return {
      remainingMs: remaining === null ? null : Number(remaining),
      windowMs: Number(el.getAttribute('data-window-ms')),
      source: el.getAttribute('data-source') || '',
      state: el.getAttribute('data-state') || '',
      text: el.querySelector('.liveness-text')?.textContent || '',
    };
  })(${JSON.stringify(bar(store, id))})`;
  return ((await page.evaluate(read)) as Bar | null) ?? undefined;
}

describe('liveness you can watch: countdowns from the stores, bars, "expired after"', {
  timeout: 300_000,
}, () => {
  let stores: ThreeStores;
  let server: RunningServer;
  let browser: Browser;
  const agents: RunningAgent[] = [];
  const registries: Registry[] = [];
  const namespace = `live${process.pid}`;
  const watches = new Map<StoreKind, InstanceWatch>();

  const startOne = (id: string, own: boolean) =>
    startAgent({
      ...stores.env(),
      FLEET_NAMESPACE: namespace,
      FLEET_DEVICE_ID: id,
      ...(own
        ? {
            FLEET_ETCD_TTL: String(OWN.ttl),
            FLEET_ZOOKEEPER_SESSION_TIMEOUT: String(OWN.sessionMs),
            FLEET_CONSUL_CHECK: 'ttl',
            FLEET_CONSUL_TTL: String(OWN.consulTtl),
          }
        : {}),
    });

  /** What the store says of one device now, through a registry of the test's own. */
  const readOne = async (store: 'etcd' | 'zookeeper', id: string): Promise<LivenessReading | undefined> => {
    const instance = watches.get(store)?.get(id) as DiscoveredInstance | undefined;
    if (!instance) return undefined;
    const registry = registries.find((r) => r.store === store)!;
    return (await registry.readLiveness([instance])).get(id);
  };

  before(async () => {
    stores = await startThreeStores();
    server = await startServer({ ...stores.env(), FLEET_NAMESPACE: namespace });
    agents.push(await startOne('own-1', true), await startOne('short-1', false));
    for (const store of ['etcd', 'zookeeper'] as const) {
      const registry = createRegistry({ store, endpoints: stores[store].endpoints, namespace });
      registries.push(registry);
      watches.set(store, registry.watchInstances('web'));
    }
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    for (const agent of agents) {
      agent.child.kill('SIGCONT');
      agent.child.kill('SIGKILL');
    }
    await Promise.all(registries.map((r) => r.close()));
    await server?.stop();
    await stores?.stop();
  });

  test('each record carries its agent’s own settings, and each tile shows its own window (the server’s stand in for none)', async () => {
    const { page, problems, close } = await openPage(browser, server.url);
    try {
      await eventually(
        'both devices in every column with a countdown read from etcd and ZooKeeper',
        async () => {
          for (const store of STORE_KINDS) {
            for (const id of ['own-1', 'short-1']) if (!(await readBar(page, store, id))) return false;
          }
          for (const store of ['etcd', 'zookeeper'] as const) {
            for (const id of ['own-1', 'short-1']) {
              const source = (await readBar(page, store, id))?.source ?? '';
              if (!/etcd lease TTL|ZooKeeper cons/.test(source)) return false;
            }
          }
          return true;
        },
        { timeoutMs: 20_000 },
      );
      const etcdRecord = watches.get('etcd')!.get('own-1')!.record;
      assert.deepEqual(etcdRecord.liveness, { leaseTtlSeconds: OWN.ttl });
      assert.deepEqual(watches.get('zookeeper')!.get('own-1')!.record.liveness, {
        sessionTimeoutMs: OWN.sessionMs,
      });
      // The window each store applies, as it says it (etcd's granted TTL, ZooKeeper's negotiated timeout).
      const windows = await Promise.all(
        (['etcd', 'zookeeper'] as const).flatMap((store) =>
          ['own-1', 'short-1'].map(
            async (id) => `${store}/${id}: ${(await readBar(page, store, id))?.windowMs}`,
          ),
        ),
      );
      assert.deepEqual(windows, [
        `etcd/own-1: ${OWN.ttl * 1000}`,
        'etcd/short-1: 2000',
        `zookeeper/own-1: ${OWN.sessionMs}`,
        'zookeeper/short-1: 2000',
      ]);
      // Consul: the device's own check from its record (a TTL check of 4 s), not the server's HTTP one.
      const consulTitle = (await page.locator(bar('consul', 'own-1')).getAttribute('title')) ?? '';
      assert.match(consulTitle, /TTL check 4 s, reaped 60 s after critical \(the device's own\)/);
      assert.match(
        (await page.locator(bar('consul', 'short-1')).getAttribute('title')) ?? '',
        /HTTP check every 1 s/,
      );
      assert.match(
        (await page.locator(bar('etcd', 'own-1')).getAttribute('title')) ?? '',
        /countdown from: etcd lease TTL/,
      );
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test('SIGSTOP (an unplug): etcd’s TTL falls, ZooKeeper’s last contact grows, three bars drain at three speeds; each tile records "expired after X s (window 6 s)"', async (t) => {
    const { page, problems, close } = await openPage(browser, server.url);
    // The same moment on a 1080p screen and on a phone, for the screenshots.
    const others = await Promise.all(
      [
        { width: 1920, height: 1080 },
        { width: 390, height: 844 },
      ].map((size) => openPage(browser, server.url, size)),
    );
    const shots = await screenshotDir();
    try {
      const agent = agents[0]!;
      await eventually(
        'own-1 with a bar in every column',
        async () => (await readBar(page, 'consul', 'own-1')) !== undefined,
        {
          timeoutMs: 20_000,
        },
      );
      const stoppedAt = Date.now();
      agent.child.kill('SIGSTOP');

      // What the stores themselves say (read through a registry of the test's own), and the page's bars,
      // side by side, a second apart. The lease and the session end a window after the last renewal,
      // which came up to a third of it before the SIGSTOP: at least 4 s from now. The first reading
      // waits for one poll of the server's (once a second) after the stop: a renewal sent just
      // before it may reach the store and the page after it, and lift the bar once.
      await delay(1200);
      const etcd: LivenessReading[] = [];
      const zk: LivenessReading[] = [];
      const bars: (Bar | undefined)[][] = [];
      for (let i = 0; i < 2; i++) {
        if (i > 0) await delay(1100);
        const [e, z, ...shown] = await Promise.all([
          readOne('etcd', 'own-1'),
          readOne('zookeeper', 'own-1'),
          readBar(page, 'etcd', 'own-1'),
          readBar(page, 'zookeeper', 'own-1'),
        ]);
        if (e) etcd.push(e);
        if (z) zk.push(z);
        bars.push(shown);
      }
      await page.screenshot({ path: path.join(shots, 'liveness-unplug-1280x720.png') });
      for (const other of others) {
        const { width, height } = other.page.viewportSize()!;
        await other.page.screenshot({ path: path.join(shots, `liveness-unplug-${width}x${height}.png`) });
      }
      assert.deepEqual(
        await overlaps(page, [
          ['.liveness-track', '.liveness-text', '.tile-id', '.metric-cpu', '.tile-ghost'],
        ]),
        [],
        'the bar and its words overlap nothing in the tile',
      );
      t.diagnostic(
        `etcd: ${etcd.map((r) => (r.kind === 'expires' ? `${r.minMs}-${r.maxMs}` : '')).join(', ')} ms left`,
      );
      t.diagnostic(
        `ZooKeeper: ${zk.map((r) => (r.kind === 'contact' ? r.sinceMs : '')).join(', ')} ms since contact`,
      );
      assert.equal(etcd.length, 2, 'etcd answered LeaseTimeToLive each time');
      const etcdLeft = etcd.map((r) => (r.kind === 'expires' ? r.maxMs : Number.NaN));
      assert.ok(etcdLeft[1]! < etcdLeft[0]!, `etcd's TTL falls: ${etcdLeft.join(', ')}`);
      assert.equal(zk.length, 2, 'ZooKeeper listed the session in cons each time');
      const since = zk.map((r) => (r.kind === 'contact' ? r.sinceMs : Number.NaN));
      assert.ok(since[1]! > since[0]!, `ZooKeeper's last contact grows: ${since.join(', ')}`);
      assert.equal(zk[0]!.source, 'ZooKeeper cons');

      // The page: etcd's and ZooKeeper's bars drain (the first two readings: the devices are still
      // there); Consul's check turns critical, then its reap bar drains.
      for (const [i, store] of ['etcd', 'zookeeper'].entries()) {
        const [a, b] = [bars[0]![i], bars[1]![i]];
        assert.ok(
          a && b && a.remainingMs !== null && b.remainingMs !== null,
          `${store}: ${JSON.stringify([a, b])}`,
        );
        t.diagnostic(`${store} bar: ${a.remainingMs} then ${b.remainingMs} ms left (${b.text})`);
        assert.ok(
          b.remainingMs < a.remainingMs,
          `${store}'s bar drains: ${a.remainingMs} then ${b.remainingMs}`,
        );
        assert.match(b.text, /^\d+\.\d s left$/);
        assert.match(b.source, store === 'etcd' ? /^etcd lease TTL$/ : /^ZooKeeper cons$/);
      }
      await eventually(
        'Consul: critical (its TTL check ran out), the reap countdown draining',
        async () => (await readBar(page, 'consul', 'own-1'))?.state === 'critical',
        { timeoutMs: OWN.consulTtl * 1000 * 3 + 5000 },
      );
      const reap1 = (await readBar(page, 'consul', 'own-1'))!;
      await delay(1500);
      const reap2 = (await readBar(page, 'consul', 'own-1'))!;
      t.diagnostic(`Consul reap bar: ${reap1.remainingMs} then ${reap2.remainingMs} ms (${reap2.text})`);
      assert.ok(reap2.remainingMs! < reap1.remainingMs!, 'the reap countdown drains');
      assert.match(reap2.text, /^reaped in \d+\.\d s$/);

      for (const store of ['etcd', 'zookeeper'] as const) {
        const locator = page.locator(ghost(store, 'own-1'));
        await eventually(`the ${store} ghost of own-1`, async () => (await locator.count()) === 1, {
          timeoutMs: OWN.ttl * 1000 * 3,
        });
        const text = (await locator.locator('.tile-ghost-text').textContent()) ?? '';
        t.diagnostic(`${store}: ${text} (${Date.now() - stoppedAt} ms after SIGSTOP)`);
        const match = /^expired after (\d+\.\d) s \(window 6 s\)$/.exec(text);
        assert.ok(match, `${store}: "${text}"`);
        const after = Number(match[1]);
        // Measured 6.0-7.0 s here; bound 3x loosely around the window.
        assert.ok(after >= 6 / 3 && after <= 6 * 3, `${store}: expired after ${after} s, window 6 s`);
      }
      await page.screenshot({ path: path.join(shots, 'liveness-expired-1280x720.png') });
      t.diagnostic(`screenshots in ${shots}`);
      assert.deepEqual(problems, []);
      for (const other of others) assert.deepEqual(other.problems, []);
    } finally {
      await close();
      for (const other of others) await other.close();
    }
  });

  test('SIGKILL: ZooKeeper’s connection closes while the session lives on; the last contact seen keeps growing; "expired after X s (window 2 s)"', async (t) => {
    const { page, problems, close } = await openPage(browser, server.url);
    try {
      const agent = agents[1]!;
      await eventually(
        'short-1 read from ZooKeeper',
        async () => (await readOne('zookeeper', 'short-1')) !== undefined,
        {
          timeoutMs: 10_000,
        },
      );
      agent.child.kill('SIGKILL');
      await agent.exited;
      const first = await readOne('zookeeper', 'short-1');
      await delay(600);
      const second = await readOne('zookeeper', 'short-1');
      if (first && second) {
        assert.equal(second.source, 'ZooKeeper cons (connection closed)');
        assert.ok(second.kind === 'contact' && first.kind === 'contact' && second.sinceMs > first.sinceMs);
      } else {
        t.diagnostic('ZooKeeper had already dropped the session (2 s window): only the stamp is checked');
      }
      for (const store of ['etcd', 'zookeeper'] as const) {
        const locator = page.locator(ghost(store, 'short-1'));
        await eventually(`the ${store} ghost of short-1`, async () => (await locator.count()) === 1, {
          timeoutMs: 15_000,
        });
        const text = (await locator.locator('.tile-ghost-text').textContent()) ?? '';
        t.diagnostic(`${store}: ${text}`);
        const match = /^expired after (\d+\.\d) s \(window 2 s\)$/.exec(text);
        assert.ok(match, `${store}: "${text}"`);
        const after = Number(match[1]);
        assert.ok(after >= 2 / 3 && after <= 2 * 3, `${store}: expired after ${after} s, window 2 s`);
      }
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test('a store down: its bars stop where they were and say so; back: they count again from the store', async (t) => {
    const { page, problems, close } = await openPage(browser, server.url);
    try {
      agents.push(await startOne('back-1', true));
      await eventually(
        'back-1 counted down from etcd',
        async () => (await readBar(page, 'etcd', 'back-1'))?.source === 'etcd lease TTL',
        { timeoutMs: 20_000 },
      );
      const stoppedAt = Date.now();
      await stores.etcd.stop();
      await eventually(
        'the etcd bar of back-1 stopped, saying the store is down',
        async () => (await readBar(page, 'etcd', 'back-1'))?.state === 'stale',
        { timeoutMs: 15_000 },
      );
      t.diagnostic(`stale ${Date.now() - stoppedAt} ms after etcd stopped`);
      const stale = (await readBar(page, 'etcd', 'back-1'))!;
      assert.equal(stale.text, 'store down: last known');
      assert.equal(stale.remainingMs, null);
      assert.equal(
        (await readBar(page, 'zookeeper', 'back-1'))?.state,
        'counting',
        'the other stores count on',
      );
      await stores.etcd.restart();
      await eventually(
        'back-1 counted down from etcd again',
        async () => {
          const again = await readBar(page, 'etcd', 'back-1');
          return again?.state === 'counting' && again.source === 'etcd lease TTL';
        },
        { timeoutMs: 30_000 },
      );
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
});
