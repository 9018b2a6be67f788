// What an attendee's own script imports from the kit file (lab 2, a watcher in about 20 lines):
//   import { createRegistry, Etcd3, zookeeper, Consul } from './fleetkit.mjs';
// the registry the kit's devices and the instructor's page use, and each store's own client as the
// kit bundles it (the packages etcd3, node-zookeeper-client and consul): nothing to npm install.

export { default as Consul } from 'consul';
export { Etcd3 } from 'etcd3';
export { default as zookeeper } from 'node-zookeeper-client';
export { chooseInstance, createRegistry, STORE_KINDS } from '../../lib/registry/index.ts';
