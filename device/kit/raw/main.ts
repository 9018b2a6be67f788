// `node fleetkit.mjs etcd|zookeeper|consul ...`: one store by hand, the operations each lab shows with
// etcdctl, zkCli.sh or curl. Exit codes: 0 done, 1 no such key or the store failed, 2 bad arguments,
// 130 after Ctrl-C ends a watch.

import { STORE_SETTINGS } from '../../../lib/cli/common-settings.ts';
import { CREDENTIAL_SETTINGS, loadCredentials } from '../../../lib/cli/credentials-settings.ts';
import {
  type CommandAbout,
  configOrExit,
  parseCommand,
  type SettingSpec,
  type SettingsInput,
  switchValue,
} from '../../../lib/cli/settings.ts';
import { onShutdown } from '../../../lib/cli/shutdown.ts';
import { errorMessage, type StoreCredentials, type StoreKind } from '../../../lib/registry/index.ts';
import { FROM_SETTING, storesFromSettings } from '../stores-from-page.ts';
import { printable } from '../terminal.ts';
import { consulClient } from './consul.ts';
import { etcdClient } from './etcd.ts';
import type { RawClient, RawEvent } from './raw-client.ts';
import { zookeeperClient } from './zookeeper.ts';

type Op = 'get' | 'put' | 'watch' | 'ls' | 'services' | 'health';

interface OpSpec {
  /** The words before the arguments: ['get'], ['kv', 'get'] for Consul's KV. */
  words: string[];
  op: Op;
  args: string[];
  help: string;
}

const kvOps = (prefix: string[], key: string, what: string, watchHelp: string, lsHelp: string): OpSpec[] => [
  { words: [...prefix, 'get'], op: 'get', args: [key], help: `print the value of ${what}` },
  { words: [...prefix, 'put'], op: 'put', args: [key, 'VALUE'], help: `write ${what} (created if missing)` },
  {
    words: [...prefix, 'watch'],
    op: 'watch',
    args: [key],
    help: `${watchHelp}, as the store pushes it (Ctrl-C stops)`,
  },
  { words: [...prefix, 'ls'], op: 'ls', args: [key], help: lsHelp },
];

const OPS: Record<StoreKind, OpSpec[]> = {
  etcd: kvOps(
    [],
    'KEY',
    'a key',
    'print each change of a key (--prefix: of every key under it)',
    'list the keys starting with KEY',
  ),
  zookeeper: kvOps(
    [],
    'PATH',
    'a node',
    'print each change of a node and of its children',
    'list the children of the node',
  ),
  consul: [
    ...kvOps(
      ['kv'],
      'KEY',
      'a KV key',
      'print each change of a KV key (--prefix: of every key under it)',
      'list the KV keys starting with KEY',
    ),
    { words: ['services'], op: 'services', args: [], help: 'list the services in the catalog' },
    {
      words: ['health'],
      op: 'health',
      args: ['SERVICE'],
      help: 'each instance of a service with its checks (status, type: ttl or http)',
    },
  ],
};

const NAMES: Record<StoreKind, string> = { etcd: 'etcd', zookeeper: 'ZooKeeper', consul: 'Consul' };

function settingsOf(store: StoreKind): readonly SettingSpec[] {
  return [
    FROM_SETTING,
    ...STORE_SETTINGS.filter((s) => s.key === store),
    // Stores that require credentials: ./fleetkit.env names the class's (join fetched them).
    ...CREDENTIAL_SETTINGS,
    {
      key: 'prefix',
      flag: 'prefix',
      env: 'FLEET_RAW_PREFIX',
      help: 'watch: every key under KEY, not only KEY (etcd, Consul)',
      switch: true,
    },
  ];
}

function aboutOf(store: StoreKind): CommandAbout {
  return {
    usage: `Usage: node fleetkit.mjs ${store} ${OPS[store].map((o) => o.words.join(' ')).join(' | ')} ... [settings]`,
    description: `${NAMES[store]} by hand, with its own client: keys are the store's own (${store === 'zookeeper' ? '/fleet/config/color' : store === 'consul' ? 'fleet/config/color' : '/fleet/config/color'}), no namespace is added.\nIn a folder where \`join\` ran, the store's address comes from ./fleetkit.env.`,
    positionals: OPS[store].map((o) => ({ name: [...o.words, ...o.args].join(' '), help: o.help })),
  };
}

interface RawCommand {
  endpoints: string[];
  credentials: StoreCredentials;
  spec: OpSpec;
  args: string[];
  prefix: boolean;
}

export function parseRawCommand(store: StoreKind, input: SettingsInput) {
  return parseCommand(
    settingsOf(store),
    input,
    aboutOf(store),
    async (values, issues, { positionals, sources }) => {
      const { credentials } = loadCredentials(values, sources, issues);
      const ops = OPS[store];
      const spec = ops.find((o) => o.words.every((w, i) => positionals[i] === w));
      const usage = ops.map((o) => [...o.words, ...o.args].join(' ')).join(', ');
      if (!spec) {
        issues.push({
          field: positionals.slice(0, 2).join(' ') || 'OPERATION',
          expected: `one of: ${usage}`,
        });
        return undefined;
      }
      const args = positionals.slice(spec.words.length);
      if (args.length !== spec.args.length) {
        issues.push({
          field: spec.words.join(' '),
          expected: `${spec.args.length === 0 ? 'no arguments' : spec.args.join(' ')} (${args.length} given)`,
        });
      }
      const prefix = switchValue(values.prefix);
      if (prefix === undefined) issues.push({ field: 'prefix', expected: '1/true/yes or 0/false/no' });
      const found = await storesFromSettings(values, issues);
      const endpoints = found?.stores[store];
      if (found && !endpoints) {
        issues.push({
          field: found.page ? 'from' : store,
          expected: found.page
            ? `a page that watches ${NAMES[store]} (${found.page} names only ${Object.keys(found.stores).join(', ')})`
            : `the ${NAMES[store]} endpoints`,
        });
      }
      if (!endpoints || issues.length > 0) return undefined;
      return { endpoints, credentials, spec, args, prefix: prefix === true } satisfies RawCommand;
    },
  );
}

function clientFor(store: StoreKind, endpoints: string[], credentials: StoreCredentials): RawClient {
  if (store === 'etcd') return etcdClient(endpoints, credentials);
  if (store === 'zookeeper') return zookeeperClient(endpoints, credentials);
  return consulClient(endpoints, credentials);
}

const out = (line: string) => process.stdout.write(`${line}\n`);

function eventLine(event: RawEvent): string {
  if (event.type === 'children')
    return `CHILDREN ${printable(event.key)} [${(event.children ?? []).map((c) => printable(c)).join(', ')}]`;
  if (event.type === 'delete') return `DELETE ${printable(event.key)}`;
  return `PUT ${printable(event.key)} ${printable(event.value ?? '', { multiline: true })}`;
}

async function runOp(store: StoreKind, client: RawClient, command: RawCommand): Promise<number | undefined> {
  const [first = '', second = ''] = command.args;
  switch (command.spec.op) {
    case 'get': {
      const value = await client.get(first);
      if (value === undefined) {
        console.error(`${NAMES[store]}: no ${store === 'zookeeper' ? 'node' : 'key'} ${printable(first)}`);
        return 1;
      }
      out(printable(value, { multiline: true, max: 1_000_000 }));
      return 0;
    }
    case 'put':
      await client.put(first, second);
      out('OK');
      return 0;
    case 'ls':
      for (const key of await client.list(first)) out(printable(key));
      return 0;
    case 'watch': {
      const controller = new AbortController();
      onShutdown(async () => controller.abort());
      console.error(
        `watching ${printable(first)}${command.prefix ? ' and every key under it' : ''} in ${NAMES[store]} (Ctrl-C stops)`,
      );
      await client.watch(
        first,
        { prefix: command.prefix },
        (event) => out(eventLine(event)),
        controller.signal,
      );
      return 0;
    }
    case 'services': {
      const services = await (client as ReturnType<typeof consulClient>).services();
      for (const [name, tags] of Object.entries(services).sort())
        out(
          tags.length > 0
            ? `${printable(name)}  [${tags.map((t) => printable(t)).join(', ')}]`
            : printable(name),
        );
      return 0;
    }
    case 'health': {
      const entries = await (client as ReturnType<typeof consulClient>).health(first);
      if (entries.length === 0) console.error(`Consul: no instance of ${printable(first)}`);
      for (const e of entries) {
        const checks = e.checks
          .map((c) => `${printable(c.id)} ${c.status} (${printable(c.type)})`)
          .join('; ');
        out(
          `${printable(e.id)}  ${printable(e.address)}:${e.port}  ${e.status}  node ${printable(e.node)}  checks: ${checks}`,
        );
      }
      return 0;
    }
  }
}

export async function main(
  store: StoreKind,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number | undefined> {
  const command = await configOrExit(store, () => parseRawCommand(store, { argv, env }), {
    untouched: 'nothing read or written',
  });
  if (typeof command === 'number') return command;
  const client = clientFor(store, command.endpoints, command.credentials);
  try {
    return await runOp(store, client, command);
  } catch (error) {
    console.error(
      `${NAMES[store]} at ${command.endpoints.join(', ')}: ${printable(errorMessage(error), { max: 500 })}`,
    );
    return 1;
  } finally {
    await client.close().catch(() => undefined);
  }
}
