// The floor: a raw write reaching a raw watcher, with each store's own client and nothing of the kit in
// between (etcd watch, ZooKeeper data watch re-armed after each event, Consul blocking query). Every
// other latency is held against it.
import { Etcd3 } from 'etcd3';
import zookeeper from 'node-zookeeper-client';
import { STORE_KINDS, type StoreKind } from '../../../lib/registry/index.ts';
import { startStore } from '../../../provision/stores/index.ts';
import { delay } from '../../support/eventually.ts';
import { now } from '../support/clock.ts';
import type { BenchContext, Scenario } from '../support/context.ts';
import { distributionFigure } from '../support/figures.ts';
import { recordStoreDurability } from '../support/stack.ts';
import { summarize } from '../support/stats.ts';

/** One timed write-to-watch per call; `close` ends the client. */
interface RawPair {
  sample(value: string): Promise<number>;
  close(): Promise<void>;
}

async function etcdPair(endpoint: string): Promise<RawPair> {
  const client = new Etcd3({ hosts: endpoint });
  const key = '/bench/floor';
  const watcher = await client.watch().key(key).create();
  let expect: { value: string; resolve: (at: number) => void } | undefined;
  watcher.on('put', (kv) => {
    if (expect && kv.value.toString() === expect.value) expect.resolve(now());
  });
  return {
    async sample(value) {
      const seen = new Promise<number>((resolve) => (expect = { value, resolve }));
      const t0 = now();
      await client.put(key).value(value);
      return (await seen) - t0;
    },
    async close() {
      await watcher.cancel();
      client.close();
    },
  };
}

async function zookeeperPair(endpoint: string): Promise<RawPair> {
  const client = zookeeper.createClient(endpoint, { sessionTimeout: 10_000 });
  await new Promise<void>((resolve) => {
    client.once('connected', () => resolve());
    client.connect();
  });
  const path = '/bench-floor';
  await new Promise<void>((resolve, reject) =>
    client.mkdirp(path, (error) => (error ? reject(error) : resolve())),
  );
  return {
    async sample(value) {
      let fired!: (at: number) => void;
      const seen = new Promise<number>((resolve) => (fired = resolve));
      // Arm the one-shot watch (as a watcher re-arms after each event), then write.
      await new Promise<void>((resolve, reject) =>
        client.getData(
          path,
          () => fired(now()),
          (error) => (error ? reject(error) : resolve()),
        ),
      );
      const t0 = now();
      await new Promise<void>((resolve, reject) =>
        client.setData(path, Buffer.from(value), (error) => (error ? reject(error) : resolve())),
      );
      return (await seen) - t0;
    },
    async close() {
      client.close();
    },
  };
}

async function consulPair(endpoint: string): Promise<RawPair> {
  const url = `${endpoint}/v1/kv/bench/floor`;
  await fetch(url, { method: 'PUT', body: 'start' });
  return {
    async sample(value) {
      const index = (await fetch(url)).headers.get('x-consul-index');
      const blocking = fetch(`${url}?index=${index}&wait=30s`).then(async (r) => {
        const at = now();
        await r.arrayBuffer();
        return at;
      });
      await delay(10); // the query is parked on the server before the write
      const t0 = now();
      await fetch(url, { method: 'PUT', body: value });
      return (await blocking) - t0;
    },
    async close() {},
  };
}

const PAIRS: Record<StoreKind, (endpoint: string) => Promise<RawPair>> = {
  etcd: etcdPair,
  zookeeper: zookeeperPair,
  consul: consulPair,
};

export const floorScenario: Scenario = {
  id: 'floor',
  title: 'floor: a raw store write reaching a raw watcher',
  async run(ctx: BenchContext) {
    const samples = ctx.quick ? 60 : 300;
    for (const store of STORE_KINDS) {
      const process = await startStore(store); // without fsync, as every store of the bench
      recordStoreDurability(process);
      ctx.log(`  ${store}: ${process.durability.how}`);
      const pair = await PAIRS[store](process.endpoints[0]!);
      try {
        for (let i = 0; i < 10; i++) await pair.sample(`warm-${i}`); // connections and JIT, not measured
        const latencies: number[] = [];
        for (let i = 0; i < samples; i++) {
          latencies.push(await pair.sample(`v-${i}-${Math.random()}`));
          await delay(5);
        }
        ctx.floor[store] = summarize(latencies);
        ctx.record(
          distributionFigure(
            { scenario: 'floor', metric: 'raw-write-to-watch', store, unit: 'ms', floor: null },
            latencies,
          ),
        );
        ctx.log(
          `  ${store}: p50 ${ctx.floor[store]!.p50.toFixed(2)} ms, p99 ${ctx.floor[store]!.p99.toFixed(2)} ms over ${samples} writes`,
        );
      } finally {
        await pair.close();
        await process.stop({ removeData: true });
      }
    }
  },
};
