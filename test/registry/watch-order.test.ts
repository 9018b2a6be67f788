// A burst of updates from many instances at once, in every store: a watcher ends with each instance's
// newest record and never shows one older than a record it already showed (its reads may overlap, as
// the ZooKeeper watch's do, but are applied in order).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createRegistry, type Registry, STORE_KINDS } from '../../lib/registry/index.ts';
import { type StoreProcess, startStore } from '../../provision/stores/index.ts';
import { eventually } from '../support/eventually.ts';

const INSTANCES = 20;
const ROUNDS = 10;
const colorOf = (round: number) => `#0000${round.toString(16).padStart(2, '0')}`;
const roundOf = (color: string | null) => (color ? Number.parseInt(color.slice(5), 16) : 0);

describe('watch order under a burst of updates', { timeout: 120_000 }, () => {
  const registries: Registry[] = [];
  const stores: StoreProcess[] = [];
  after(async () => {
    await Promise.all(registries.map((r) => r.close()));
    await Promise.all(stores.map((s) => s.stop({ removeData: true })));
  });

  for (const kind of STORE_KINDS) {
    test(`${kind}: ${INSTANCES} instances x ${ROUNDS} updates`, async (t) => {
      const store = await startStore(kind);
      stores.push(store);
      const open = () => {
        const registry = createRegistry({
          store: kind,
          endpoints: store.endpoints,
          namespace: `order${process.pid}`,
          liveness: {
            consulCheck: 'ttl',
            checkTtlSeconds: 30,
            leaseTtlSeconds: 30,
            sessionTimeoutMs: 20_000,
          },
        });
        registries.push(registry);
        return registry;
      };
      const watch = open().watchInstances('web');
      const seen = new Map<string, number[]>();
      watch.on('change', (change) => {
        if (change.type === 'removed') return;
        const { id, color } = change.instance.record;
        seen.set(id, [...(seen.get(id) ?? []), roundOf(color)]);
      });
      const writer = open();
      const registrations = Array.from({ length: INSTANCES }, (_, i) =>
        writer.register({
          service: 'web',
          id: `burst-${i}`,
          host: '127.0.0.1',
          port: 8080,
          labels: {},
          color: null,
        }),
      );
      await eventually(
        'every instance registered and watched',
        () => registrations.every((r) => r.state === 'registered') && watch.instances().length === INSTANCES,
        { timeoutMs: 20_000 },
      );
      const started = Date.now();
      const writes: Promise<void>[] = [];
      for (let round = 1; round <= ROUNDS; round++)
        for (const registration of registrations) writes.push(registration.update({ color: colorOf(round) }));
      await Promise.all(writes);
      const tookMs = await eventually(
        'the watcher shows every newest color',
        () => watch.instances().every((instance) => instance.record.color === colorOf(ROUNDS)),
        { timeoutMs: 20_000 },
      );
      for (const [id, rounds] of seen) {
        const backwards = rounds.findIndex((r, i) => i > 0 && r < rounds[i - 1]!);
        assert.equal(backwards, -1, `${id} went back to an older record: ${rounds.join(',')}`);
      }
      t.diagnostic(
        `${INSTANCES * ROUNDS} updates written and seen in ${Date.now() - started} ms (newest seen ${tookMs} ms after the last write)`,
      );
    });
  }
});
