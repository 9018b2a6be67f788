// The registry contract: the same tests, run against each store (and both Consul check kinds), on real
// store processes. Acceptance a-h of the foundation issue, plus bad input.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Load } from '../../lib/registry/index.ts';
import {
  createRegistry,
  DEFAULT_LIVENESS,
  type InstanceSpec,
  isValidationError,
  type LivenessSettings,
  livenessWindowMs,
  type Registry,
  type RegistryOptions,
  type StoreKind,
  ValidationError,
} from '../../lib/registry/index.ts';
import { machineLoad } from '../../lib/registry/load-kinds.ts';
import { type StoreProcess, startStore } from '../../provision/stores/index.ts';
import { delay, eventually } from '../support/eventually.ts';
import { type RawStore, rawStore } from '../support/raw-store.ts';

export interface ContractVariant {
  name: string;
  store: StoreKind;
  /** Short windows, so that the suite runs in a minute or so. */
  liveness: Partial<LivenessSettings>;
}

const CHILD = fileURLToPath(new URL('../support/register-child.ts', import.meta.url));
const load = (cpuPercent: number) => ({
  cpuPercent,
  load1: 0.5,
  memUsedPercent: 40,
  temperatureC: 48.5,
  uptimeSeconds: 1234,
});

/** A port nothing listens on (bound, read, closed). */
async function deadPort(): Promise<number> {
  const server: Server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  return typeof address === 'object' && address ? address.port : 1;
}

export function registryContract(variant: ContractVariant): void {
  describe(`registry contract: ${variant.name}`, { timeout: 240_000 }, () => {
    let store: StoreProcess;
    let raw: RawStore;
    const registries: Registry[] = [];
    const children: ChildProcess[] = [];
    let nsCounter = 0;

    /** Each test gets its own namespace, so that tests cannot see each other's instances. */
    const newNamespace = () => `t${process.pid}-${variant.name.replace(/\W+/g, '')}-${++nsCounter}`;
    const open = (namespace: string, extra: Partial<RegistryOptions> = {}) => {
      const registry = createRegistry({
        store: variant.store,
        endpoints: store.endpoints,
        namespace,
        liveness: variant.liveness,
        backoff: { initialMs: 100, maxMs: 1000 },
        ...extra,
      });
      registries.push(registry);
      return registry;
    };
    const windowMs = () => livenessWindowMs(variant.store, { ...DEFAULT_LIVENESS, ...variant.liveness });

    /** A listening /health for the Consul HTTP check; its port is the instance's port. */
    async function healthServer(): Promise<number> {
      const http = await import('node:http');
      const server = http.createServer((_req, res) => res.end('ok'));
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      after(() => server.close());
      const address = server.address();
      return typeof address === 'object' && address ? address.port : 0;
    }

    async function spec(id: string, extra: Partial<InstanceSpec> = {}): Promise<InstanceSpec> {
      return {
        service: 'web',
        id,
        host: '127.0.0.1',
        port: await healthServer(),
        labels: { zone: 'stage', model: 'Raspberry Pi 4' },
        load: load(10),
        color: null,
        ...extra,
      };
    }

    const passing = (registry: Registry, service: string) => {
      const watch = registry.watchInstances(service);
      return {
        watch,
        has: (id: string) => watch.get(id)?.health === 'passing',
        gone: (id: string) => watch.get(id) === undefined || watch.get(id)?.health === 'critical',
      };
    };

    before(async () => {
      store = await startStore(variant.store);
      raw = rawStore(variant.store, store.endpoints[0]!);
    });

    after(async () => {
      for (const child of children) child.kill('SIGKILL');
      await Promise.all(registries.map((r) => r.close()));
      await raw?.close();
      await store?.stop({ removeData: true });
    });

    test('a. register: an independent watcher sees it within 1 s, stored as documented', async (t) => {
      const ns = newNamespace();
      const watcher = passing(open(ns), 'web');
      const instance = await spec('pi-a');
      const registration = open(ns).register(instance);
      const tookMs = await eventually('the watcher sees pi-a', () => watcher.has('pi-a'), {
        timeoutMs: 1000,
      });
      // The watcher's event may come before the registering client has read its own write's answer.
      await eventually('pi-a reports itself registered', () => registration.state === 'registered', {
        timeoutMs: 1000,
      });
      const seen = watcher.watch.get('pi-a')!;
      assert.equal(seen.record.host, '127.0.0.1');
      assert.equal(seen.record.port, instance.port);
      assert.deepEqual(seen.record.labels, instance.labels);
      assert.deepEqual(seen.record.load, instance.load);
      assert.ok(tookMs <= 1000);
      t.diagnostic(`seen by the watcher after ${tookMs} ms`);

      const stored = await raw.readInstance(ns, 'web', 'pi-a');
      assert.ok(stored, 'the instance is at the documented place');
      if (variant.store === 'consul') {
        assert.equal(stored.value.Address, '127.0.0.1');
        assert.equal(stored.value.Port, instance.port);
        const meta = stored.value.Meta as Record<string, string>;
        assert.equal(meta.zone, 'stage');
        assert.equal(meta.fleet_cpu, undefined, 'the load is not in the service (docs/stores.md)');
        const status = stored.value.Status as { load?: Load; incarnation?: string };
        assert.equal(machineLoad(status?.load)?.cpuPercent, 10, 'the load is in the status entry');
        assert.equal(status?.incarnation, meta.fleet_incarnation);
        assert.equal(stored.liveness, variant.liveness.consulCheck === 'ttl' ? 'ttl' : 'http');
        // The registry reads the check's kind from Consul's own health answer, as the raw client does.
        assert.equal(seen.liveness.model, 'check');
        assert.equal(seen.liveness.model === 'check' && seen.liveness.checkType, stored.liveness);
      } else {
        assert.equal(stored.value.id, 'pi-a');
        assert.equal(stored.value.port, instance.port);
        assert.deepEqual(stored.value.labels, instance.labels);
        assert.notEqual(stored.liveness.replace(/0/g, ''), '', 'attached to a lease / an ephemeral session');
      }
    });

    test('b. deregister: gone from the watcher within 1 s', async (t) => {
      const ns = newNamespace();
      const watcher = passing(open(ns), 'web');
      const registration = open(ns).register(await spec('pi-b'));
      await eventually('pi-b registered', () => watcher.has('pi-b'), { timeoutMs: 2000 });
      const started = Date.now();
      await registration.deregister();
      await eventually('pi-b gone', () => watcher.watch.get('pi-b') === undefined, { timeoutMs: 1000 });
      assert.ok(Date.now() - started <= 1000);
      t.diagnostic(`gone ${Date.now() - started} ms after deregister()`);
      assert.equal(registration.state, 'deregistered');
    });

    test('c. SIGKILL of the registering process: gone (Consul: not passing) within the window + 1.5 s', async (t) => {
      const ns = newNamespace();
      const watcher = passing(open(ns), 'web');
      const options: RegistryOptions = {
        store: variant.store,
        endpoints: store.endpoints,
        namespace: ns,
        liveness: variant.liveness,
      };
      const { port: _port, ...childSpec } = await spec('pi-c');
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', CHILD, JSON.stringify({ options, spec: childSpec })],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      children.push(child);
      await eventually('pi-c registered by the child', () => watcher.has('pi-c'), { timeoutMs: 15_000 });
      await delay(300); // let a heartbeat or two pass, as a device in the field would
      const killedAt = Date.now();
      child.kill('SIGKILL');
      const limit = windowMs() + 1500;
      await eventually('pi-c gone or critical after SIGKILL', () => watcher.gone('pi-c'), {
        timeoutMs: limit,
      });
      const tookMs = Date.now() - killedAt;
      assert.ok(tookMs <= limit, `took ${tookMs} ms, window ${windowMs()} ms`);
      t.diagnostic(`gone ${tookMs} ms after SIGKILL (window ${windowMs()} ms)`);
    });

    test('c2. drop(): left as an unplugged device is, gone (Consul: not passing) at the end of the window, not at once', async (t) => {
      const ns = newNamespace();
      const watcher = passing(open(ns), 'web');
      // An HTTP check is answered by the device, not by the registry: an unplug takes both away.
      const http = await import('node:http');
      const health = http.createServer((_req, res) => res.end('ok'));
      health.listen(0, '127.0.0.1');
      await once(health, 'listening');
      const address = health.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const holder = open(ns);
      holder.register(await spec('pi-drop', { port }));
      await eventually('pi-drop registered', () => watcher.has('pi-drop'), { timeoutMs: 5000 });
      await delay(300); // a heartbeat or two, as for SIGKILL
      const droppedAt = Date.now();
      await holder.drop();
      health.closeAllConnections();
      health.close();
      const limit = windowMs() + 1500;
      await eventually('pi-drop gone or critical after drop()', () => watcher.gone('pi-drop'), {
        timeoutMs: limit,
        intervalMs: 20,
      });
      const tookMs = Date.now() - droppedAt;
      t.diagnostic(`gone ${tookMs} ms after drop() (window ${windowMs()} ms)`);
      assert.ok(tookMs <= limit, `took ${tookMs} ms, window ${windowMs()} ms`);
      // A clean close() ends a ZooKeeper session at once (the node goes in tens of ms); drop() must not.
      // etcd's lease and Consul's TTL check have at least two thirds of their TTL left after a heartbeat.
      // Consul's HTTP check may run right after the health server closed: no lower bound there.
      if (variant.liveness.consulCheck !== 'http')
        assert.ok(tookMs >= 400, `gone ${tookMs} ms after drop(): that is a goodbye, not an unplug`);
    });

    test('d. update: the new load reaches the watcher within 1 s', async (t) => {
      const ns = newNamespace();
      const watcher = passing(open(ns), 'web');
      const registration = open(ns).register(await spec('pi-d'));
      await eventually('pi-d registered', () => watcher.has('pi-d'), { timeoutMs: 2000 });
      const started = Date.now();
      await registration.update({ load: load(77.5), color: '#00ff00' });
      await eventually(
        'new load seen',
        () => machineLoad(watcher.watch.get('pi-d')?.record.load)?.cpuPercent === 77.5,
        {
          timeoutMs: 1000,
        },
      );
      assert.ok(Date.now() - started <= 1000);
      t.diagnostic(`update seen after ${Date.now() - started} ms`);
      assert.equal(watcher.watch.get('pi-d')?.record.color, '#00ff00');
      assert.equal(watcher.watch.get('pi-d')?.health, 'passing', 'an update does not reset the check');
    });

    test('e. config: a set value reaches another client within 1 s; garbage is reported and skipped', async (t) => {
      const ns = newNamespace();
      const watch = open(ns).watchConfig('color');
      const invalid: string[] = [];
      watch.on('invalid', (error) => invalid.push(error.message));
      await eventually('config watch live', () => watch.state === 'live', { timeoutMs: 3000 });
      const started = Date.now();
      await open(ns).setConfig('color', '#ff8800');
      await eventually('color seen', () => watch.value === '#ff8800', { timeoutMs: 1000 });
      assert.ok(Date.now() - started <= 1000);
      t.diagnostic(`config value seen after ${Date.now() - started} ms`);

      await raw.writeConfig(ns, 'color', 'javascript:alert(1)');
      await eventually('garbage reported', () => invalid.length > 0, { timeoutMs: 1000 });
      assert.match(invalid[0]!, /color/);
      assert.match(invalid[0]!, /expected a color/);
      assert.equal(watch.value, '#ff8800', 'the last good value stays');

      await open(ns).setConfig('color', 'teal');
      await eventually('the watch goes on after garbage', () => watch.value === 'teal', { timeoutMs: 1000 });
      await assert.rejects(open(ns).setConfig('color', 'url(x)'), isValidationError);
    });

    test('f. store down 5 s: watchers say down (not empty); registration back within 5 s of its return', async (t) => {
      const ns = newNamespace();
      const watcherRegistry = open(ns);
      const watcher = passing(watcherRegistry, 'web');
      const registration = open(ns).register(await spec('pi-f'));
      await eventually('pi-f registered', () => watcher.has('pi-f'), { timeoutMs: 2000 });
      const states: string[] = [];
      watcher.watch.on('state', (s) => states.push(s));

      await store.stop();
      await eventually('watcher reports down', () => watcher.watch.state === 'down', { timeoutMs: 20_000 });
      // Consul's config watch, woken with nothing new, waits up to 1 s before asking again: 3x that.
      await eventually('the registry says disconnected', () => watcherRegistry.state === 'disconnected', {
        timeoutMs: 3000,
      });
      assert.ok(watcher.watch.instances().length > 0, 'down is not shown as an empty list');
      await delay(5000);
      assert.equal(watcher.watch.state, 'down');
      await store.restart();
      const backMs = await eventually(
        'registration back after restart',
        () => watcher.watch.state === 'live' && watcher.has('pi-f') && registration.state === 'registered',
        { timeoutMs: 5000 },
      );
      assert.ok(backMs <= 5000);
      t.diagnostic(`registration back ${backMs} ms after the store answered again`);
      assert.ok(states.includes('down'));
    });

    test('g. a registry started with its store down does not throw and registers within 5 s of it coming up', async (t) => {
      const ns = newNamespace();
      await store.stop();
      const registry = open(ns);
      const registration = registry.register(await spec('pi-g'));
      await delay(1500);
      assert.notEqual(registration.state, 'registered');
      await store.restart();
      const tookMs = await eventually('pi-g registered', () => registration.state === 'registered', {
        timeoutMs: 5000,
      });
      const watcher = passing(open(ns), 'web');
      await eventually('pi-g visible', () => watcher.has('pi-g'), { timeoutMs: 2000 });
      assert.ok(tookMs <= 5000);
      t.diagnostic(`registered ${tookMs} ms after the store answered`);
    });

    test('h. two endpoints, one dead: it works', async () => {
      const ns = newNamespace();
      const dead = store.endpoints[0]!.replace(/:\d+$/, `:${await deadPort()}`);
      const endpoints = [dead, ...store.endpoints];
      const registration = open(ns, { endpoints }).register(await spec('pi-h'));
      const watcher = passing(open(ns, { endpoints }), 'web');
      await eventually(
        'pi-h registered and seen through the live endpoint',
        () => watcher.has('pi-h') && registration.state === 'registered',
        { timeoutMs: 8000 },
      );
    });

    test('deleted by hand (etcdctl del, zkCli delete, deregister): the registration comes back', async () => {
      const ns = newNamespace();
      const watcher = passing(open(ns), 'web');
      const registration = open(ns).register(await spec('pi-del'));
      const expired: string[] = [];
      registration.on('expired', (reason) => expired.push(reason));
      await eventually('pi-del registered', () => watcher.has('pi-del'), { timeoutMs: 2000 });
      await raw.deleteInstance(ns, 'web', 'pi-del');
      await eventually('the watcher saw it go', () => !watcher.has('pi-del') || expired.length > 0, {
        timeoutMs: 2000,
      });
      await eventually('pi-del back', () => watcher.has('pi-del') && registration.state === 'registered', {
        timeoutMs: 3000,
      });
      assert.equal(expired.length, 1, `one expiry reported: ${expired.join(', ')}`);
    });

    test('conflict: a second process with the same id does not overwrite the first', async () => {
      const ns = newNamespace();
      const first = open(ns).register(await spec('pi-same', { labels: { owner: 'first' } }));
      await eventually('first registered', () => first.state === 'registered', { timeoutMs: 3000 });
      const second = open(ns).register(await spec('pi-same', { labels: { owner: 'second' } }));
      await eventually('second reports a conflict', () => second.state === 'conflict', { timeoutMs: 3000 });
      const stored = await raw.readInstance(ns, 'web', 'pi-same');
      assert.ok(stored);
      const labels = (variant.store === 'consul' ? stored.value.Meta : stored.value.labels) as Record<
        string,
        string
      >;
      const owner = labels.owner;
      assert.equal(owner, 'first');
    });

    test('members: the store tells its members and who leads', async (t) => {
      const members = await open(newNamespace()).members();
      assert.ok(members.length >= 1);
      assert.ok(members.every((m) => m.healthy));
      assert.ok(
        members.some((m) => m.role === 'leader' || m.role === 'standalone'),
        JSON.stringify(members),
      );
      t.diagnostic(members.map((m) => `${m.name} ${m.role}`).join(', '));
    });

    test('bad input: a typed error naming the field, nothing written', async () => {
      const ns = newNamespace();
      const registry = open(ns);
      const good = await spec('pi-ok');
      const cases: [Partial<InstanceSpec>, string][] = [
        [{ id: 'a/b' }, 'id'],
        [{ service: 'we/b' }, 'service'],
        [{ port: 70000 }, 'port'],
        [{ port: 0 }, 'port'],
        [{ host: 'not a host' }, 'host'],
        [{ color: 'javascript:alert(1)' }, 'color'],
        [{ labels: { fleet_cpu: '1' } }, 'labels.fleet_cpu'],
      ];
      for (const [bad, field] of cases) {
        assert.throws(
          () => registry.register({ ...good, ...bad }),
          (e: unknown) => e instanceof ValidationError && e.fields.includes(field),
          `register with ${JSON.stringify(bad)} names ${field}`,
        );
      }
      for (const namespace of ['', '..', 'a b', 'a/b']) {
        assert.throws(
          () => createRegistry({ store: variant.store, endpoints: store.endpoints, namespace }),
          (e: unknown) => e instanceof ValidationError && e.fields.includes('namespace'),
        );
      }
      for (const liveness of [{ leaseTtlSeconds: 0 }, { sessionTimeoutMs: -1 }, { checkTtlSeconds: 0 }]) {
        assert.throws(
          () => createRegistry({ store: variant.store, endpoints: store.endpoints, liveness }),
          (e: unknown) => e instanceof ValidationError && e.fields.some((f) => f.startsWith('liveness.')),
        );
      }
      await assert.rejects(registry.setConfig('color', 'x'.repeat(10_000)), isValidationError);
      await delay(300);
      assert.deepEqual(await raw.listNamespace(ns), [], 'nothing was written under the namespace');
      assert.equal(await raw.readInstance(ns, 'web', 'pi-ok'), undefined, 'no instance was registered');
    });
  });
}
