// Each store's driver, by kind.
import { consulDriver } from './consul.ts';
import { etcdDriver } from './etcd.ts';
import type { StoreDriver, StoreKind } from './types.ts';
import { zookeeperDriver } from './zookeeper.ts';

export const drivers: Readonly<Record<StoreKind, StoreDriver>> = {
  etcd: etcdDriver,
  zookeeper: zookeeperDriver,
  consul: consulDriver,
};
