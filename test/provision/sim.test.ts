// The simulated fleet, against the real stores: unplug (a link down in a network namespace, as
// root; a frozen process otherwise) and replug, each store at the speed of its own liveness model.
// In namespaces mode it runs as a service manager starts it (SHLVL unset) with a ~/.bashrc that leaves a
// marker: none of its `ip` commands may run it.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { unitNodeFlags } from '../../device/unit.ts';
import {
  createRegistry,
  DEFAULT_LIVENESS,
  type InstanceWatch,
  livenessWindowMs,
  type Registry,
  STORE_KINDS,
  type StoreKind,
} from '../../lib/registry/index.ts';
import { machineLoad } from '../../lib/registry/load-kinds.ts';
import { SimControlClient, serveControl } from '../../provision/sim/control.ts';
import { SimFleet } from '../../provision/sim/fleet.ts';
import { canUseNamespaces, leftovers } from '../../provision/sim/netns.ts';
import { type StoreProcess, startStore } from '../../provision/stores/index.ts';
import { type BashrcTrap, bashrcTrap } from '../support/bashrc-trap.ts';
import { eventually } from '../support/eventually.ts';
import { freePort } from '../support/ports.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LIVENESS = {
  ...DEFAULT_LIVENESS,
  leaseTtlSeconds: 2,
  sessionTimeoutMs: 2000,
  checkIntervalSeconds: 1,
  checkTimeoutSeconds: 1,
};

const alive = (pid: number | null) => {
  try {
    return pid !== null && process.kill(pid, 0);
  } catch {
    return false;
  }
};

for (const mode of ['namespaces', 'processes'] as const) {
  describe(`fleetkit sim (${mode})`, {
    timeout: 300_000,
    skip: mode === 'namespaces' && !canUseNamespaces() ? 'needs root' : false,
  }, () => {
    const stores = {} as Record<StoreKind, StoreProcess>;
    const registries: Registry[] = [];
    const views = {} as Record<StoreKind, InstanceWatch>;
    let fleet: SimFleet;
    const namespace = `sim${process.pid}${mode}`;
    let trap: BashrcTrap | undefined;
    const startedEnv = { HOME: process.env.HOME, SHLVL: process.env.SHLVL };

    before(async () => {
      if (mode === 'namespaces') {
        trap = bashrcTrap();
        assert.equal(
          trap.plainBashRuns().length,
          1,
          'the trap is real here: a plain bash -c, stdin a socket, runs it',
        );
        // This process is the sim: zx takes process.env as it is at each command.
        process.env.HOME = trap.home;
        delete process.env.SHLVL;
      }
      // Devices in namespaces reach the stores through the bridge: the stores listen on every address.
      const started = await Promise.all(
        STORE_KINDS.map((k) => startStore(k, { host: mode === 'namespaces' ? '0.0.0.0' : '127.0.0.1' })),
      );
      STORE_KINDS.forEach((k, i) => {
        stores[k] = started[i]!;
        const registry = createRegistry({ store: k, endpoints: stores[k].endpoints, namespace });
        registries.push(registry);
        views[k] = registry.watchInstances('web');
      });
      fleet = await SimFleet.start({
        count: 3,
        mode,
        stores: Object.fromEntries(STORE_KINDS.map((k) => [k, stores[k].endpoints])),
        namespace,
        service: 'web',
        liveness: LIVENESS,
        nodeFlags: unitNodeFlags(),
      });
    });

    after(async () => {
      await fleet?.stop();
      await Promise.all(registries.map((r) => r.close()));
      await Promise.all(Object.values(stores).map((s) => s.stop({ removeData: true })));
      if (trap) {
        for (const [key, value] of Object.entries(startedEnv)) {
          if (value === undefined) delete process.env[key];
          else process.env[key] = value;
        }
        trap.remove();
      }
    });

    const passing = (kind: StoreKind, id: string) => views[kind].get(id)?.health === 'passing';
    const gone = (kind: StoreKind, id: string) => {
      const seen = views[kind].get(id);
      return seen === undefined || seen.health === 'critical';
    };

    test('unplug: gone from etcd and ZooKeeper, critical in Consul, each within its window + 1.5 s, the process still running; replug: back within 5 s', async (t) => {
      await eventually(
        'three devices in every store',
        () => STORE_KINDS.every((k) => ['sim-1', 'sim-2', 'sim-3'].every((id) => passing(k, id))),
        {
          timeoutMs: 20_000,
        },
      );
      const unplugged = await fleet.act('sim-2', 'unplug');
      const unpluggedAt = Date.now();
      await Promise.all(
        STORE_KINDS.map(async (kind) => {
          const limit = livenessWindowMs(kind, LIVENESS) + 1500;
          await eventually(`sim-2 gone from ${kind}`, () => gone(kind, 'sim-2'), { timeoutMs: limit });
          t.diagnostic(
            `${kind}: ${Date.now() - unpluggedAt} ms after unplug (window ${livenessWindowMs(kind, LIVENESS)} ms)`,
          );
        }),
      );
      assert.ok(alive(unplugged.pid), 'the unplugged device keeps running');
      assert.ok(passing('etcd', 'sim-1') && passing('consul', 'sim-3'), 'the others carry on');

      await fleet.act('sim-2', 'replug');
      const replugAt = Date.now();
      await eventually('sim-2 back everywhere', () => STORE_KINDS.every((k) => passing(k, 'sim-2')), {
        timeoutMs: 5000,
      });
      t.diagnostic(`back in every store ${Date.now() - replugAt} ms after replug`);
    });

    test('kill through the control API: the process is gone; replug starts it again', async () => {
      const control = await serveControl(fleet, await freePort(), () => {});
      try {
        const client = new SimControlClient(control.url, control.secret);
        const killed = await client.act('sim-3', 'kill');
        assert.equal(killed.state, 'killed');
        await eventually('sim-3 gone from etcd', () => !passing('etcd', 'sim-3'), { timeoutMs: 5000 });
        await assert.rejects(client.act('sim-9', 'kill'), /no simulated device "sim-9"/);
        await assert.rejects(client.act('sim-3', 'unplug'), /sim-3 is killed/);
        await client.act('sim-3', 'replug');
        await eventually('sim-3 back', () => STORE_KINDS.every((k) => passing(k, 'sim-3')), {
          timeoutMs: 10_000,
        });
        assert.equal((await client.list()).length, 3);
      } finally {
        await control.close();
      }
    });

    test('stress through the control API: the device burns 80 % of one core and its CPU figure rises in every store; bad loads and a frozen device are refused', async (t) => {
      const control = await serveControl(fleet, await freePort(), () => {});
      const cpu = (kind: StoreKind) => machineLoad(views[kind].get('sim-1')?.record.load)?.cpuPercent;
      const figures = () => STORE_KINDS.map((k) => `${k} ${cpu(k) ?? '-'} %`).join(', ');
      /** eventually(), and on a miss the figures as they were at the end. */
      const waitFor = (what: string, check: () => boolean, timeoutMs: number) =>
        eventually(what, check, { timeoutMs }).catch((error: Error) => {
          throw new Error(`${error.message}; at the end: ${figures()}`);
        });
      try {
        const url = control.url;
        const client = new SimControlClient(url, control.secret);
        const headers = { authorization: `Bearer ${control.secret}` };
        await assert.rejects(
          client.act('sim-1', 'stress', { percent: 150, seconds: 5 }),
          /^Error: percent: a whole percent of one core from 0 to 100$/,
        );
        const raw = await fetch(`${url}/devices/sim-1/stress`, {
          method: 'POST',
          headers,
          body: '{"percent": 80,',
        });
        assert.equal(raw.status, 400);
        assert.match(((await raw.json()) as { error: string }).error, /^body: JSON such as/);
        const big = await fetch(`${url}/devices/sim-1/stress`, {
          method: 'POST',
          headers,
          body: 'x'.repeat(5000),
        });
        assert.equal(big.status, 400);

        await waitFor(
          'sim-1 idle in every store',
          () => STORE_KINDS.every((k) => (cpu(k) ?? 100) < 30),
          20_000,
        );
        const sentAt = Date.now();
        const stressed = await client.act('sim-1', 'stress', { percent: 80, seconds: 120 });
        assert.equal(stressed.stress?.percent, 80);
        assert.equal((await client.list()).find((d) => d.id === 'sim-1')?.stress?.percent, 80);
        // Above 40 %: at least half the 80 % asked (the figure is real CPU: with other work on both
        // cores the worker gets less: 23 % at a load average of 11-19). The devices report every 5 s
        // (the agent's default); Consul writes a load-only change at most every 15 s (its default
        // pacing, a configured wait). Measured at a load average of 6: etcd and ZooKeeper 6.0 s
        // (namespaces) and 8.1 s (processes), Consul 6.3 s and 23.0 s; bounds three times those: 25 s and
        // 70 s (the load lasts 120 s, past both; it is calmed below).
        await Promise.all(
          STORE_KINDS.map(async (kind) => {
            await waitFor(
              `sim-1 busy in ${kind}`,
              () => (cpu(kind) ?? 0) > 40,
              kind === 'consul' ? 70_000 : 25_000,
            );
            t.diagnostic(`${kind}: above 40 % ${Date.now() - sentAt} ms after the stress (${cpu(kind)} %)`);
          }),
        );

        const calm = await client.act('sim-1', 'stress', { percent: 0, seconds: 0 });
        assert.equal(calm.stress, null);
        await waitFor('sim-1 idle again in etcd', () => (cpu('etcd') ?? 100) < 30, 18_000);

        await client.act('sim-2', 'unplug');
        await assert.rejects(
          client.act('sim-2', 'stress', { percent: 80, seconds: 5 }),
          /sim-2 is unplugged, not running: replug it first/,
        );
        await client.act('sim-2', 'replug');
        await eventually('sim-2 back everywhere', () => STORE_KINDS.every((k) => passing(k, 'sim-2')), {
          timeoutMs: 10_000,
        });
      } finally {
        await control.close();
      }
    });

    if (mode === 'namespaces') {
      test('a second fleet in another process is refused while this one runs, and takes nothing of it', async () => {
        const before = await leftovers();
        const second = spawnSync(
          process.execPath,
          [
            '--import',
            'tsx',
            '-e',
            "import('./provision/sim/netns.ts').then((m) => m.claimNamespaces()).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(3); })",
          ],
          { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
        );
        assert.equal(second.status, 3, second.stderr);
        assert.match(second.stderr, new RegExp(`another simulated fleet \\(process ${process.pid}\\)`));
        assert.match(second.stderr, /--mode processes/);
        assert.deepEqual(await leftovers(), before, 'every namespace and link is still there');
        await eventually(
          'sim-1 still passing everywhere',
          () => STORE_KINDS.every((k) => passing(k, 'sim-1')),
          {
            timeoutMs: 5000,
          },
        );
      });

      test('stop: every device deregisters; no namespace or link is left', async () => {
        await fleet.stop();
        await eventually(
          'no sim device in any store',
          () => STORE_KINDS.every((k) => views[k].instances().every((i) => i.health === 'critical')),
          {
            timeoutMs: 5000,
          },
        );
        assert.deepEqual(await leftovers(), []);
      });

      test('started with SHLVL unset: no command of the sim (claim, hosts, unplug, replug, stop) ran ~/.bashrc', () => {
        assert.deepEqual(trap!.runs(), [], 'pid and command of each shell that ran it');
      });
    }
  });
}
