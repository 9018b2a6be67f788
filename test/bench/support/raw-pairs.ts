// A raw write and a raw watcher, per store, with each store's own client and nothing of the kit in
// between (etcd watch, ZooKeeper data watch re-armed after each event, Consul blocking query): the
// bench's floor and the durability script time writes through them.
import { Etcd3 } from 'etcd3';
import zookeeper from 'node-zookeeper-client';
import type { StoreKind } from '../../../lib/registry/index.ts';
import { delay } from '../../support/eventually.ts';
import { now } from './clock.ts';

/** One write: [acknowledged after, seen by the watcher after] in ms. */
export interface RawPair {
  sample(value: string): Promise<[number, number]>;
  close(): Promise<void>;
}

async function etcdPair(endpoint: string, name: string): Promise<RawPair> {
  const client = new Etcd3({ hosts: endpoint });
  const key = `/bench/${name}`;
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
      const ack = now() - t0;
      return [ack, (await seen) - t0];
    },
    async close() {
      await watcher.cancel();
      client.close();
    },
  };
}

async function zookeeperPair(endpoint: string, name: string): Promise<RawPair> {
  const client = zookeeper.createClient(endpoint, { sessionTimeout: 10_000 });
  await new Promise<void>((resolve) => {
    client.once('connected', () => resolve());
    client.connect();
  });
  const path = `/bench-${name}`;
  await new Promise<void>((resolve, reject) =>
    client.mkdirp(path, (error) => (error ? reject(error) : resolve())),
  );
  return {
    async sample(value) {
      let fired!: (at: number) => void;
      const seen = new Promise<number>((resolve) => (fired = resolve));
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
      const ack = now() - t0;
      return [ack, (await seen) - t0];
    },
    async close() {
      client.close();
    },
  };
}

async function consulPair(endpoint: string, name: string): Promise<RawPair> {
  const url = `${endpoint}/v1/kv/bench/${name}`;
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
      const ack = now() - t0;
      return [ack, (await blocking) - t0];
    },
    async close() {},
  };
}

/** Each store's raw pair; `name` keeps the keys of one user apart from another's. */
export const RAW_PAIRS: Record<StoreKind, (endpoint: string, name: string) => Promise<RawPair>> = {
  etcd: etcdPair,
  zookeeper: zookeeperPair,
  consul: consulPair,
};
