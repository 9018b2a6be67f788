// Whatever lies under the namespace, a registry's watches stay live and correct: megabytes written by
// hand under config/ and services/ (which once turned the etcd column DOWN for good: one whole-prefix
// read over grpc's 4 MiB), entries that nothing keeps alive, and config keys the kit does not use
// (only the keys in use are read). Against each real store, written with its plain client.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRegistry, type Registry, STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import { type StoreProcess, startStore } from '../../provision/stores/index.ts';
import { byteProxy } from '../support/byte-proxy.ts';
import { eventually } from '../support/eventually.ts';
import { type RawStore, rawStore } from '../support/raw-store.ts';

/** Near each store's own limit for one value: etcd 1.5 MiB a request, ZooKeeper 1 MB, Consul KV 512 KB. */
const BIG_VALUE: Record<StoreKind, number> = { etcd: 1_400_000, zookeeper: 900_000, consul: 500_000 };
const LIVENESS = {
  leaseTtlSeconds: 10,
  sessionTimeoutMs: 10_000,
  consulCheck: 'ttl',
  checkTtlSeconds: 30,
} as const;

for (const kind of STORE_KINDS) {
  describe(`${kind}: no amount of data under the namespace blinds a client`, { timeout: 120_000 }, () => {
    let store: StoreProcess;
    let raw: RawStore;
    const registries: Registry[] = [];
    const ns = `bounded${process.pid}${kind}`;
    const open = (endpoints = store.endpoints) => {
      const registry = createRegistry({ store: kind, endpoints, namespace: ns, liveness: LIVENESS });
      registries.push(registry);
      return registry;
    };

    before(async () => {
      store = await startStore(kind);
      raw = rawStore(kind, store.endpoints[0]!);
    });
    after(async () => {
      await Promise.all(registries.map((r) => r.close()));
      await raw?.close();
      await store?.stop({ removeData: true });
    });

    test('three values near the store limit under config/ and services/: the watch stays live, the device is seen, the garbage named in short messages', async (t) => {
      const big = (n: number) => `${n}`.repeat(BIG_VALUE[kind]).slice(0, BIG_VALUE[kind]);
      for (let i = 0; i < 3; i++) {
        await raw.writeConfig(ns, `pasted-${i}`, big(i));
        if (kind !== 'consul') assert.ok(await raw.writeEntry(ns, 'web', `pasted-${i}`, big(i), true));
      }
      const device = open().register({ service: 'web', id: 'real-1', host: '127.0.0.1', port: 8080 });
      const registry = open();
      const watch = registry.watchInstances('web');
      const invalid: string[] = [];
      watch.on('invalid', (e) => invalid.push(e.message));
      const color = registry.watchConfig('color');
      await raw.writeConfig(ns, 'color', 'teal');
      const took = await eventually(
        'the device seen and the color read',
        () => watch.get('real-1') && color.value === 'teal',
        {
          timeoutMs: 20_000,
        },
      );
      t.diagnostic(
        `seen ${took} ms after the watch started, with ${kind === 'consul' ? 3 : 6} values of ${BIG_VALUE[kind]} bytes`,
      );
      assert.equal(watch.state, 'live');
      assert.equal(registry.state, 'connected');
      assert.deepEqual(
        watch.instances().map((i) => i.record.id),
        ['real-1'],
      );
      if (kind !== 'consul') {
        await eventually('the three big entries named', () => invalid.length === 3, { timeoutMs: 5000 });
        for (const message of invalid) assert.ok(message.length < 300, `short: ${message.length} characters`);
        assert.deepEqual(watch.skipped(), { notAlive: 0, malformed: 3 });
      }
      await registry.setConfig('color', 'navy');
      await eventually('the new color read back', () => color.value === 'navy', { timeoutMs: 5000 });
      await device.deregister();
    });

    test('config: only the keys in use are read, not the megabytes beside them', async (t) => {
      const [host, port] = store.endpoints[0]!.replace(/^https?:\/\//, '').split(':') as [string, string];
      const proxy = await byteProxy(host, Number(port));
      try {
        const viaProxy = kind === 'zookeeper' ? proxy.address : `http://${proxy.address}`;
        const registry = open([viaProxy]);
        const color = registry.watchConfig('color');
        await raw.writeConfig(ns, 'color', 'olive');
        await eventually('the color read through the proxy', () => color.value === 'olive', {
          timeoutMs: 10_000,
        });
        proxy.reset();
        const others = 6;
        for (let i = 0; i < others; i++) await raw.writeConfig(ns, `other-${i}`, 'x'.repeat(BIG_VALUE[kind]));
        await raw.writeConfig(ns, 'color', 'lime');
        await eventually('the new color read through the proxy', () => color.value === 'lime', {
          timeoutMs: 10_000,
        });
        const written = others * BIG_VALUE[kind];
        t.diagnostic(
          `${proxy.received()} bytes reached the client while ${written} were written beside its key`,
        );
        assert.ok(proxy.received() < 64 * 1024, `${proxy.received()} bytes received`);
      } finally {
        await proxy.close();
      }
    });

    test('megabytes written during an outage: the watch comes back live with the device (no unbounded catch-up)', async (t) => {
      const [host, port] = store.endpoints[0]!.replace(/^https?:\/\//, '').split(':') as [string, string];
      const proxy = await byteProxy(host, Number(port));
      try {
        const viaProxy = kind === 'zookeeper' ? proxy.address : `http://${proxy.address}`;
        const device = open().register({ service: 'outage', id: 'real-2', host: '127.0.0.1', port: 8080 });
        const watch = open([viaProxy]).watchInstances('outage');
        await eventually('the device seen', () => watch.get('real-2'), { timeoutMs: 10_000 });
        proxy.cut();
        await eventually('the watch down', () => watch.state === 'down', { timeoutMs: 30_000 });
        const big = 'y'.repeat(BIG_VALUE[kind]);
        if (kind !== 'consul')
          for (let i = 0; i < 4; i++) await raw.writeEntry(ns, 'outage', `big-${i}`, big, true);
        proxy.restore();
        const back = await eventually(
          'live again, the device still there',
          () => watch.state === 'live' && watch.get('real-2'),
          {
            timeoutMs: 30_000,
          },
        );
        t.diagnostic(`live again ${back} ms after the link came back`);
        if (kind !== 'consul')
          await eventually('the big entries counted', () => watch.skipped().malformed === 4, {
            timeoutMs: 10_000,
          });
        await device.deregister();
      } finally {
        await proxy.close();
      }
    });

    test('entries nothing keeps alive are named "not alive (written by hand)" and never counted as devices', async () => {
      const watch = open().watchInstances('hand');
      const invalid: string[] = [];
      watch.on('invalid', (e) => invalid.push(e.message));
      const record = JSON.stringify({ id: 'by-hand', service: 'hand' });
      assert.ok(await raw.writeEntry(ns, 'hand', 'by-hand-1', record, false));
      assert.ok(await raw.writeEntry(ns, 'hand', 'by-hand-2', record, false));
      await eventually('both named', () => invalid.length === 2, { timeoutMs: 10_000 });
      for (const message of invalid) assert.match(message, /is not alive \(written by hand: /);
      assert.deepEqual(watch.skipped(), { notAlive: 2, malformed: 0 });
      assert.equal(watch.instances().length, 0);
      await raw.deleteInstance(ns, 'hand', 'by-hand-1');
      await eventually('one left', () => watch.skipped().notAlive === 1, { timeoutMs: 10_000 });
    });
  });
}
