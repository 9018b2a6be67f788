// A device told to carry a load: the real agent CLI with an IPC channel, as the simulated fleet and
// `join` start it, against the three real stores. Its process's CPU figure (`--load-from process`)
// rises in every store while it burns, and falls again after; its own page (Chromium) says so; bad
// messages are answered, never fatal.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { type StressReply, sendStress } from '../../device/stress-message.ts';
import { type InstanceWatch, STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import { machineLoad } from '../../lib/registry/load-kinds.ts';
import { type RunningAgent, startAgent } from '../support/agents.ts';
import { launchBrowser, openPage } from '../support/browser.ts';
import { eventually } from '../support/eventually.ts';
import { StoreWatcher } from '../support/store-views.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

const ID = 'stressed-1';
/**
 * Below this an idle agent reads (1-5 % here, up to 15 % on a machine busy with other work); above
 * this it burns at least half the 80 % asked (78-83 % here when the machine is otherwise quiet; the
 * figure is real CPU, so with other work on both cores the worker gets less: 25-40 % at a load
 * average of 13-23).
 */
const IDLE_BELOW = 30;
const BUSY_ABOVE = 40;
const STRESS_SECONDS = 20;

describe('fleetkit agent: a load told over its IPC channel', { timeout: 180_000 }, () => {
  let stores: ThreeStores;
  let agent: RunningAgent;
  let browser: Browser;
  const watcher = new StoreWatcher(() => stores);
  const views = {} as Record<StoreKind, InstanceWatch>;
  const namespace = `stress${process.pid}`;

  const cpuIn = (kind: StoreKind) => machineLoad(views[kind].get(ID)?.record.load)?.cpuPercent;
  const everyStore = (check: (cpu: number) => boolean) =>
    STORE_KINDS.every((kind) => {
      const cpu = cpuIn(kind);
      return cpu !== undefined && check(cpu);
    });
  // The machine's load average beside them: on a machine busy with other work, the worker gets less
  // than it asks (the figure is real CPU), and a miss there is the machine's, not the agent's.
  const figures = () =>
    `${STORE_KINDS.map((kind) => `${kind} ${cpuIn(kind) ?? '-'} %`).join(', ')}; machine load1 ${
      machineLoad(views.etcd.get(ID)?.record.load)?.load1 ?? '-'
    }`;

  /** eventually(), and on a miss the figures as they were at the end (with the machine's load). */
  const waitFor = (what: string, check: () => boolean, timeoutMs: number) =>
    eventually(what, check, { timeoutMs }).catch((error: Error) => {
      throw new Error(`${error.message}; at the end: ${figures()}`);
    });

  /** The next answer the agent sends with this ref (raw, to see exactly what a parent gets). */
  const answer = (ref: string) =>
    new Promise<StressReply>((resolve) => {
      const on = (message: StressReply) => {
        if (message?.ref !== ref) return;
        agent.child.off('message', on);
        resolve(message);
      };
      agent.child.on('message', on);
    });

  before(async () => {
    stores = await startThreeStores();
    browser = await launchBrowser();
    Object.assign(views, watcher.watch(namespace).views);
    agent = await startAgent(
      {
        ...stores.env(),
        FLEET_NAMESPACE: namespace,
        FLEET_DEVICE_ID: ID,
        FLEET_LOAD_FROM: 'process',
        // Every load change written at once (Consul paces them to one per 15 s by default).
        FLEET_CONSUL_LOAD_INTERVAL: '0',
      },
      { ipc: true },
    );
    await waitFor(
      `${ID} registered and idle in every store`,
      () => everyStore((cpu) => cpu < IDLE_BELOW),
      30_000,
    );
  });

  after(async () => {
    agent?.child.kill('SIGKILL');
    await browser?.close();
    await watcher.close();
    await stores?.stop();
  });

  test('bad messages are answered with the field and what was expected; the agent carries on unloaded', async () => {
    const bad = answer('bad');
    agent.child.send({ type: 'stress', percent: 150, seconds: 'soon', ref: 'bad' });
    assert.deepEqual(await bad, {
      type: 'error',
      ref: 'bad',
      error:
        'percent: expected a whole percent of one core from 0 to 100; seconds: expected whole seconds (0 ends a load) from 0 to 86400',
    });
    const wrongType = answer('t');
    agent.child.send({ type: 'burn', percent: 80, seconds: 5, ref: 't' });
    assert.equal((await wrongType).type, 'error');
    // No ref to echo: the answer comes without one, in order.
    const unnamed = new Promise<StressReply>((resolve) => agent.child.once('message', resolve));
    agent.child.send('stress 80');
    assert.match(((await unnamed) as { error: string }).error, /^message: expected an object/);
    await assert.rejects(
      sendStress(agent.child, { percent: 101, seconds: 5 }),
      /percent: expected a whole percent/,
    );

    const status = await agent.status();
    assert.deepEqual(status.stress, { percent: 0, base: 0, endsAt: null, secondsLeft: null });
    assert.equal(status.loadFrom, 'process');
    assert.equal(agent.child.exitCode, null, 'still running');
  });

  test(`80 % for ${STRESS_SECONDS} s: its CPU figure rises in every store, and falls again when the load ends`, async (t) => {
    // The device's own page, live (its /events stream), in a real Chromium.
    const devicePage = await openPage(browser, `${agent.url}/`);
    const stressLine = () => devicePage.page.locator('#stress').textContent();
    await eventually(
      'the device page is live',
      async () => (await devicePage.page.locator('#live').textContent()) === 'live',
      {
        timeoutMs: 10_000,
      },
    );
    assert.equal(await stressLine(), '', 'no load to show yet');

    const sentAt = Date.now();
    const told = await sendStress(agent.child, { percent: 80, seconds: STRESS_SECONDS });
    assert.equal(told.percent, 80);
    assert.ok(told.endsAt !== null && Math.abs(told.endsAt - (sentAt + STRESS_SECONDS * 1000)) < 2000);
    const status = await agent.status();
    assert.equal(status.stress.percent, 80, '/status shows the load it carries');
    assert.ok(status.stress.secondsLeft !== null && status.stress.secondsLeft <= STRESS_SECONDS);
    await eventually(
      'the device page says the load and counts its seconds down',
      async () => /^carrying 80 % of one core for (1\d|20) s more$/.test((await stressLine()) ?? ''),
      { timeoutMs: 5000 },
    );

    // Measured here: 1.0 s in a quiet machine (a 1 s report interval, then the write and the watch),
    // 2-5 s with other work on both cores.
    const rose = await waitFor(
      `CPU above ${BUSY_ABOVE} % in every store`,
      () => everyStore((cpu) => cpu > BUSY_ABOVE),
      15_000,
    );
    t.diagnostic(`above ${BUSY_ABOVE} % in every store ${rose} ms after the message: ${figures()}`);
    const endsIn = told.endsAt! - Date.now();
    assert.ok(endsIn > 0, 'the load is still on when every store showed it');

    // After its end (timer in the agent), the next reading falls; measured 1.0-2.0 s after the end.
    const fell = await waitFor(
      `CPU back below ${IDLE_BELOW} % in every store`,
      () => everyStore((cpu) => cpu < IDLE_BELOW),
      endsIn + 7000,
    );
    t.diagnostic(
      `below ${IDLE_BELOW} % in every store ${fell - endsIn} ms after the load ended: ${figures()}`,
    );
    assert.ok(
      fell >= endsIn - 1500,
      `fell ${fell} ms after the end was ${endsIn} ms away: not while still burning`,
    );
    assert.deepEqual((await agent.status()).stress, { percent: 0, base: 0, endsAt: null, secondsLeft: null });
    await eventually('the device page no longer shows a load', async () => (await stressLine()) === '', {
      timeoutMs: 5000,
    });
    assert.deepEqual(devicePage.problems, []);
    await devicePage.close();
  });

  test('a load can be ended early (seconds 0), and SIGTERM while burning still stops the agent at once', async (t) => {
    await sendStress(agent.child, { percent: 80, seconds: 600 });
    await waitFor('busy in etcd', () => (cpuIn('etcd') ?? 0) > BUSY_ABOVE, 15_000);
    const calm = await sendStress(agent.child, { percent: 0, seconds: 0 });
    assert.deepEqual(calm, { percent: 0, base: 0, endsAt: null, secondsLeft: null });
    await waitFor('idle in etcd', () => (cpuIn('etcd') ?? 100) < IDLE_BELOW, 7000);

    await sendStress(agent.child, { percent: 100, seconds: 600 });
    const stoppedAt = Date.now();
    agent.child.kill('SIGTERM');
    const exit = await agent.exited;
    t.diagnostic(`exited ${Date.now() - stoppedAt} ms after SIGTERM, burning 100 %`);
    assert.deepEqual(exit, { code: 143, signal: null });
    await eventually(
      'deregistered everywhere',
      () => STORE_KINDS.every((k) => views[k].get(ID) === undefined),
      {
        timeoutMs: 5000,
      },
    );
  });
});
