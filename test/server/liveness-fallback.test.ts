// A ZooKeeper the kit did not configure: its operator allows the usual four-letter words but not
// `cons` (the real ZooKeeper 3.8, started with the kit's zoo.cfg less `cons` in its
// 4lw.commands.whitelist). The store says nothing of a session's last contact, so the registry reads
// no countdown, and the page counts down from the device's last event instead, says so in the bar's
// title, and still records "expired after X s (window 2 s)" when the device is killed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { createRegistry, fourLetterWord, type Registry } from '../../lib/registry/index.ts';
import { launchStore } from '../../provision/stores/process.ts';
import type { StoreDriver, StoreProcess } from '../../provision/stores/types.ts';
import { zookeeperDriver } from '../../provision/stores/zookeeper.ts';
import { type RunningAgent, startAgent } from '../support/agents.ts';
import { launchBrowser, openPage } from '../support/browser.ts';
import { eventually } from '../support/eventually.ts';
import { type RunningServer, startServer } from '../support/servers.ts';

/** The kit's ZooKeeper driver, with `cons` taken out of the whitelist its zoo.cfg allows. */
const withoutCons: StoreDriver = {
  ...zookeeperDriver,
  async launchSpec(context) {
    const spec = await zookeeperDriver.launchSpec(context);
    return {
      ...spec,
      files: spec.files.map((file) =>
        file.path.endsWith('zoo.cfg')
          ? { ...file, content: file.content.replace(/^(4lw\.commands\.whitelist=.*),cons$/m, '$1') }
          : file,
      ),
    };
  },
};

const bar = '.tile[data-store="zookeeper"][data-device="fb-1"] .liveness';

describe('liveness without ZooKeeper’s cons: the last event stands in, and says so', {
  timeout: 180_000,
}, () => {
  let zk: StoreProcess;
  let server: RunningServer;
  let agent: RunningAgent;
  let registry: Registry;
  let browser: Browser;
  const namespace = `fallback${process.pid}`;

  before(async () => {
    zk = await launchStore(withoutCons);
    const env = { FLEET_ZOOKEEPER: zk.endpoints.join(','), FLEET_NAMESPACE: namespace };
    server = await startServer(env);
    agent = await startAgent({ ...env, FLEET_DEVICE_ID: 'fb-1' });
    registry = createRegistry({ store: 'zookeeper', endpoints: zk.endpoints, namespace });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    agent?.child.kill('SIGKILL');
    await registry?.close();
    await server?.stop();
    await zk?.stop({ removeData: true });
  });

  test('cons refused: no reading from the store; the bar counts from the last event and says so; "expired after" all the same', async (t) => {
    const [host, port] = zk.endpoints[0]!.split(':');
    const answer = await fourLetterWord(host!, Number(port), 'cons', { timeoutMs: 5000 });
    assert.match(answer, /not in the whitelist/, 'this ZooKeeper refuses cons');

    const watch = registry.watchInstances('web');
    await eventually('fb-1 in ZooKeeper', () => watch.get('fb-1') !== undefined, { timeoutMs: 15_000 });
    const readings = await registry.readLiveness([watch.get('fb-1')!]);
    assert.equal(readings.size, 0, 'no countdown read from a ZooKeeper that refuses cons');

    const { page, problems, close } = await openPage(browser, server.url);
    try {
      await eventually('the bar of fb-1', async () => (await page.locator(bar).count()) === 1, {
        timeoutMs: 15_000,
      });
      // Several seconds of polls by the server: still no reading, the last event stands in.
      await page.waitForTimeout(2500);
      const source = (await page.locator(bar).getAttribute('data-source')) ?? '';
      assert.match(source, /^the time since the last event/);
      assert.match(
        (await page.locator(bar).getAttribute('title')) ?? '',
        /allow cons in its 4lw\.commands\.whitelist/,
      );
      assert.match((await page.locator(`${bar} .liveness-text`).textContent()) ?? '', /^~\d+\.\d s left$/);

      agent.child.kill('SIGKILL');
      const ghost = page.locator('.tile-ghost[data-store="zookeeper"][data-ghost-of="fb-1"]');
      await eventually('the ghost of fb-1', async () => (await ghost.count()) === 1, { timeoutMs: 15_000 });
      const text = (await ghost.locator('.tile-ghost-text').textContent()) ?? '';
      t.diagnostic(text);
      const match = /^expired after (\d+\.\d) s \(window 2 s\)$/.exec(text);
      assert.ok(match, text);
      // From the last event: the agent reports its load every second, so at most a second earlier.
      const afterS = Number(match[1]);
      assert.ok(afterS >= 2 / 3 && afterS <= 2 * 3, `expired after ${afterS} s, window 2 s`);
      assert.match((await ghost.getAttribute('title')) ?? '', /measured from the last event/);
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
});
