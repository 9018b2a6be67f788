// For each thing the page shows, the plain store operation behind it, as a line a learner could type:
// etcdctl, zkCli.sh (as found on this machine, zk-cli.ts), or curl against Consul's HTTP API. Keys come from the registry's layout (the one
// place that builds them); values are single-quoted for the shell.

import { shellQuote as q, shellWord } from '../lib/cli/shell-quote.ts';
import type { Layout, StoreKind } from '../lib/registry/index.ts';
import { layout } from '../lib/registry/index.ts';
import { type ZkCli, zkCli } from './zk-cli.ts';

export interface CommandContext {
  endpoint: string;
  keys: Layout;
  service: string;
  /** How ZooKeeper is reached by hand here. */
  zk: ZkCli;
}

/** zkCli.sh's operation, or the kit's equivalent (get for get -s and stat, put for set, watch for ls -w). */
function zk(c: CommandContext, op: 'get' | 'watch' | 'set' | 'stat', ...args: string[]): string {
  if (c.zk.kind === 'zkcli') {
    const words = { get: 'get -s', watch: 'ls -w', set: 'set', stat: 'stat' }[op];
    return `${shellWord(c.zk.command)} -server ${c.endpoint} ${words} ${args.join(' ')}`;
  }
  const words = { get: 'get', watch: 'watch', set: 'put', stat: 'get' }[op];
  return `node fleetkit.mjs zookeeper --zookeeper ${c.endpoint} ${words} ${args.join(' ')}`;
}

export interface StoreCommands {
  /** Read one device's registration. */
  device(c: CommandContext, id: string): string;
  /** Watch the devices come and go. */
  watch(c: CommandContext): string;
  /** Set the color. */
  setColor(c: CommandContext, color: string): string;
  /** Look at the liveness behind a device (lease, session, check). */
  liveness(c: CommandContext, id: string, detail: string): string;
}

export const COMMANDS: Record<StoreKind, StoreCommands> = {
  etcd: {
    device: (c, id) => `etcdctl --endpoints=${c.endpoint} get ${q(c.keys.instancePath(c.service, id))}`,
    watch: (c) =>
      `etcdctl --endpoints=${c.endpoint} watch --prefix ${q(`${c.keys.servicePath(c.service)}/`)}`,
    setColor: (c, color) =>
      `etcdctl --endpoints=${c.endpoint} put ${q(c.keys.configPath('color'))} ${q(color)}`,
    liveness: (c, _id, leaseId) =>
      `etcdctl --endpoints=${c.endpoint} lease timetolive --keys ${/^\d+$/.test(leaseId) ? BigInt(leaseId).toString(16) : '0'}`,
  },
  zookeeper: {
    device: (c, id) => zk(c, 'get', q(c.keys.instancePath(c.service, id))),
    watch: (c) => zk(c, 'watch', q(c.keys.servicePath(c.service))),
    setColor: (c, color) => zk(c, 'set', q(c.keys.configPath('color')), q(color)),
    liveness: (c, id) => zk(c, 'stat', q(c.keys.instancePath(c.service, id))),
  },
  consul: {
    // The service (address, port, labels), then its status entry in KV (load, color: docs/stores.md).
    device: (c, id) =>
      `curl -s ${c.endpoint}/v1/agent/service/${encodeURIComponent(id)}; curl -s '${c.endpoint}/v1/kv/${c.keys.statusKv(c.service, id)}?raw'`,
    watch: (c) => `curl -s '${c.endpoint}/v1/health/service/${c.service}?index=1&wait=30s'`,
    setColor: (c, color) => `curl -X PUT --data ${q(color)} ${c.endpoint}/v1/kv/${c.keys.configKv('color')}`,
    liveness: (c) => `curl -s ${c.endpoint}/v1/health/checks/${c.service}`,
  },
};

/** One store's commands with its endpoint, keys and service filled in. */
export interface BoundCommands {
  device(id: string): string;
  watch(): string;
  setColor(color: string): string;
  liveness(id: string, detail: string): string;
}

export function bindCommands(
  store: StoreKind,
  { endpoint, namespace, service }: { endpoint: string; namespace: string; service: string },
  zkCommand: ZkCli = zkCli(),
): BoundCommands {
  const commands = COMMANDS[store];
  const c: CommandContext = { endpoint, keys: layout(namespace), service, zk: zkCommand };
  return {
    device: (id) => commands.device(c, id),
    watch: () => commands.watch(c),
    setColor: (color) => commands.setColor(c, color),
    liveness: (id, detail) => commands.liveness(c, id, detail),
  };
}
