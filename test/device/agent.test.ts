// The device agent, run as the real CLI against the three real stores.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildAgent } from '../../device/build.ts';
import { unitNodeFlags } from '../../device/unit.ts';
import { machineLoad, STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import { startStore } from '../../provision/stores/index.ts';
import { FLEETKIT, type RunningAgent, startAgent, TEST_WINDOWS_MS } from '../support/agents.ts';
import { eventually } from '../support/eventually.ts';
import { rawStore } from '../support/raw-store.ts';
import { StoreWatcher } from '../support/store-views.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

const WINDOWS_MS = TEST_WINDOWS_MS;

describe('fleetkit agent', { timeout: 300_000 }, () => {
  let stores: ThreeStores;
  const watcher = new StoreWatcher(() => stores);
  const agents: RunningAgent[] = [];
  let counter = 0;

  before(async () => {
    stores = await startThreeStores();
  });

  after(async () => {
    for (const agent of agents) agent.child.kill('SIGKILL');
    await watcher.close();
    await stores?.stop();
  });

  /** A namespace per test, and a watcher of the service in each store. */
  const fleet = () => watcher.watch(`agent${process.pid}n${++counter}`);

  async function agent(namespace: string, id: string, env: Record<string, string> = {}) {
    const running = await startAgent({
      ...stores.env(),
      FLEET_NAMESPACE: namespace,
      FLEET_DEVICE_ID: id,
      FLEET_LABELS: 'zone=stage,table=3',
      ...env,
    });
    agents.push(running);
    return running;
  }

  // 15 s: over three times the 4.2 s measured here on a busy 2-CPU machine (a 2 s bound failed a fresh
  // clone's CI at 2004 ms; 6 s, three times that CI's 2.0 s, left 1.4x over this machine's 4.2 s). The
  // figure itself is tracked by the bench (cold start).
  test('appears in all three stores within 15 s with id, host, port, labels and load; shows the color of each store within 1 s', async (t) => {
    const f = fleet();
    const a = await agent(f.namespace, 'pi-one');
    await eventually('pi-one passing in every store', () => f.passingEverywhere('pi-one'), {
      timeoutMs: 15_000,
    });
    const tookMs = Date.now() - a.startedAt;
    assert.ok(tookMs <= 15_000, `registered everywhere ${tookMs} ms after the process started`);
    t.diagnostic(`registered in all three stores ${tookMs} ms after the process started`);
    for (const kind of STORE_KINDS) {
      const { record } = f.views[kind].get('pi-one')!;
      assert.equal(record.host, '127.0.0.1', kind);
      assert.equal(record.port, a.port, kind);
      assert.equal(record.labels.zone, 'stage', kind);
      assert.equal(record.labels.table, '3', kind);
      assert.ok(record.labels.agent, `${kind}: the agent version is a label`);
      assert.ok((machineLoad(record.load)?.uptimeSeconds ?? 0) > 0, `${kind}: the load is reported`);
    }
    assert.equal((await fetch(`${a.url}/health`)).status, 200);

    for (const [kind, color] of [
      ['etcd', '#ff8800'],
      ['zookeeper', 'teal'],
      ['consul', '#00ff00'],
    ] as [StoreKind, string][]) {
      const setAt = Date.now();
      await f.clients[kind].setConfig('color', color);
      await eventually(
        `color ${color} from ${kind} applied`,
        async () => (await a.status()).color === color,
        {
          timeoutMs: 1000,
          intervalMs: 10,
        },
      );
      const page = await (await fetch(a.url)).text();
      assert.ok(page.includes(`"color":"${color}"`), 'the page carries the applied color');
      const appliedMs = Date.now() - setAt;
      assert.ok(appliedMs <= 1000, `${kind}: color applied ${appliedMs} ms after it was set`);
      t.diagnostic(`${kind}: color applied and on the page ${appliedMs} ms after it was set`);
      await eventually(
        `${kind} reports the applied color back`,
        () => f.views[kind].get('pi-one')?.record.color === color,
        {
          timeoutMs: 2000,
        },
      );
    }
  });

  test('SIGTERM: gone from all three within 2 s, exit code 143', async (t) => {
    const f = fleet();
    const a = await agent(f.namespace, 'pi-term');
    await eventually('pi-term everywhere', () => f.passingEverywhere('pi-term'), { timeoutMs: 5000 });
    const killedAt = Date.now();
    a.child.kill('SIGTERM');
    await eventually(
      'pi-term gone everywhere',
      () => STORE_KINDS.every((k) => f.views[k].get('pi-term') === undefined),
      { timeoutMs: 2000 },
    );
    assert.ok(Date.now() - killedAt <= 2000);
    t.diagnostic(`gone from all three ${Date.now() - killedAt} ms after SIGTERM`);
    assert.deepEqual(await a.exited, { code: 143, signal: null });
  });

  // The window is a configured wait that no machine shortens; what varies is the time after it: up to
  // 502 ms measured here (etcd: its lease expiry check, then the watch). 2 s is four times that (1.5 s
  // was three).
  // Beyond the window: up to 0.5 s here for etcd and ZooKeeper; Consul went critical 0.1-1.4 s after
  // the kill in most runs, but twice in a loaded CI run not within 3.5 and 4 s: it gets 6 s, and a
  // miss says whether Consul itself still said passing (slow) or only the watch did not see it.
  test("SIGKILL: gone (Consul: critical) within each store's window + 2 s (Consul + 6 s)", async (t) => {
    const f = fleet();
    const a = await agent(f.namespace, 'pi-kill');
    await eventually('pi-kill everywhere', () => f.passingEverywhere('pi-kill'), { timeoutMs: 5000 });
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await Promise.all(
      STORE_KINDS.map(async (kind) => {
        const limit = WINDOWS_MS[kind] + (kind === 'consul' ? 6000 : 2000);
        await eventually(`pi-kill gone from ${kind}`, () => f.goneFrom(kind, 'pi-kill'), {
          timeoutMs: limit,
        }).catch(async (error) => {
          if (kind !== 'consul') throw error;
          const checks = await fetch(`${stores.consul.endpoints[0]}/v1/health/checks/web`).then((r) =>
            r.json(),
          );
          const mine = (checks as { ServiceID: string; Status: string; Output: string }[]).filter(
            (c) => c.ServiceID === 'pi-kill',
          );
          throw new Error(`${(error as Error).message}; Consul's own checks: ${JSON.stringify(mine)}`);
        });
        assert.ok(Date.now() - killedAt <= limit, `${kind}: ${Date.now() - killedAt} ms`);
        t.diagnostic(
          `${kind}: gone ${Date.now() - killedAt} ms after SIGKILL (window ${WINDOWS_MS[kind]} ms)`,
        );
      }),
    );
  });

  test('two agents with one device id: the second reports the conflict; the first is not overwritten', async () => {
    const f = fleet();
    const first = await agent(f.namespace, 'pi-twin');
    await eventually('first everywhere', () => f.passingEverywhere('pi-twin'), { timeoutMs: 5000 });
    const second = await agent(f.namespace, 'pi-twin');
    await eventually(
      'second in conflict in every store',
      async () => (await second.status()).stores.every((s) => s.registration === 'conflict'),
      { timeoutMs: 5000 },
    );
    const status = await second.status();
    assert.ok(status.stores.every((s) => /already registered by another live process/.test(s.problem ?? '')));
    await eventually(
      'the conflict is logged',
      () => /already registered by another live process/.test(second.stderr()),
      {
        timeoutMs: 2000,
      },
    );
    await new Promise((r) => setTimeout(r, 1500));
    for (const kind of STORE_KINDS) assert.equal(f.views[kind].get('pi-twin')?.record.port, first.port, kind);
  });

  test('bad settings: exit code 2, every bad one named in one message, nothing started', async () => {
    const a = await startAgent(
      { FLEET_ETCD: 'gopher://x:1', FLEET_ETCD_TTL: '0', FLEET_NAMESPACE: 'a..b', FLEET_PORT: '70000' },
      { command: [FLEETKIT, 'agent', '--bogus-flag'], waitUntilServing: false },
    );
    const { code } = await a.exited;
    assert.equal(code, 2);
    const message = a.stderr();
    for (const field of ['--bogus-flag', 'FLEET_ETCD', 'FLEET_ETCD_TTL', 'FLEET_NAMESPACE', 'FLEET_PORT']) {
      assert.ok(message.includes(field), `names ${field}: ${message}`);
    }
    assert.match(message, /scheme "gopher"/);
  });

  test('a bad color found in a store is ignored with a warning; the last good color stays', async () => {
    const f = fleet();
    const a = await agent(f.namespace, 'pi-garbage');
    await eventually('pi-garbage everywhere', () => f.passingEverywhere('pi-garbage'), { timeoutMs: 5000 });
    await f.clients.etcd.setConfig('color', 'navy');
    await eventually('navy applied', async () => (await a.status()).color === 'navy', { timeoutMs: 2000 });
    const raw = rawStore('etcd', stores.etcd.endpoints[0]!);
    try {
      for (const garbage of ['javascript:alert(1)', 'x'.repeat(10 * 1024), 'not a color']) {
        const warningsBefore = (a.stderr().match(/ignored malformed value/g) ?? []).length;
        await raw.writeConfig(f.namespace, 'color', garbage);
        await eventually(
          'a warning',
          () => (a.stderr().match(/ignored malformed value/g) ?? []).length > warningsBefore,
          { timeoutMs: 2000 },
        );
        assert.equal((await a.status()).color, 'navy');
      }
    } finally {
      await raw.close();
    }
    assert.match(a.stderr(), /color/);
    assert.equal(f.views.etcd.get('pi-garbage')?.record.color, 'navy');
  });

  test('the bundled agent runs with plain node from an empty folder and registers', async (t) => {
    const f = fleet();
    const built = await buildAgent(await mkdtemp(path.join(tmpdir(), 'fleetkit-build-')));
    const empty = await mkdtemp(path.join(tmpdir(), 'fleetkit-pi-'));
    const file = path.join(empty, 'fleetkit-agent.mjs');
    await copyFile(built.file, file);
    const a = await startAgent(
      { ...stores.env(), FLEET_NAMESPACE: f.namespace, FLEET_DEVICE_ID: 'pi-bundle' },
      { command: [...unitNodeFlags(), file], cwd: empty },
    );
    agents.push(a);
    // 15 s, as for the CLI above (it measured 4.2 s here): a 5 s wait timed out on this machine under load.
    await eventually('the bundled agent everywhere', () => f.passingEverywhere('pi-bundle'), {
      timeoutMs: 15_000,
    });
    t.diagnostic(`the bundled agent registered everywhere ${Date.now() - a.startedAt} ms after it started`);
    assert.equal((await a.status()).version, f.views.etcd.get('pi-bundle')?.record.labels.agent);
  });

  test('stores down: it serves its page and says so, and registers when the store comes up', async (t) => {
    const namespace = `agent${process.pid}down`;
    const etcd = await startStore('etcd');
    await etcd.stop();
    try {
      const a = await startAgent({
        FLEET_ETCD: etcd.endpoints.join(','),
        FLEET_NAMESPACE: namespace,
        FLEET_DEVICE_ID: 'pi-down',
      });
      agents.push(a);
      await eventually(
        'etcd shown as down',
        async () => (await a.status()).stores[0]?.connection === 'disconnected',
        {
          timeoutMs: 5000,
        },
      );
      const page = await fetch(a.url);
      assert.equal(page.status, 200, 'the page is served with the store down');
      assert.equal((await a.status()).stores[0]?.registration, 'pending');
      await etcd.restart();
      const tookMs = await eventually(
        'registered once etcd is up',
        async () => (await a.status()).stores[0]?.registration === 'registered',
        {
          timeoutMs: 5000,
        },
      );
      assert.ok(tookMs <= 5000);
      t.diagnostic(`registered ${tookMs} ms after etcd came up`);
    } finally {
      await etcd.stop({ removeData: true });
    }
  });
});
