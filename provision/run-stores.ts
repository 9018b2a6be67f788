// `fleetkit stores`: the control host's stores in the foreground: installs what is missing, starts
// etcd, ZooKeeper and Consul on their usual ports (free ones when taken) with data kept between runs,
// prints the endpoints and each store's members and health; Ctrl-C stops them.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRegistry } from '../registry/index.ts';
import { hostSchema, toFieldIssues } from '../registry/schema.ts';
import { configOrExit, parseCommand, type SettingSpec } from '../registry/settings.ts';
import { onShutdown } from '../registry/shutdown.ts';
import type { StoreKind } from '../registry/types.ts';
import { installStores } from './install-stores.ts';
import {
  isStoreStartError,
  type StoreProcess,
  startCluster,
  startStore,
  stopAllStores,
  storeKinds,
} from './stores/index.ts';

/** The usual ports, so that etcdctl, zkCli.sh and consul work without flags. */
const USUAL_PORTS: Record<StoreKind, Record<string, number>> = {
  etcd: { client: 2379 },
  zookeeper: { client: 2181 },
  consul: { http: 8500 },
};

/** On its usual port, or a free one (said so) when that is taken. */
export async function startStoreOnUsualPort(
  kind: StoreKind,
  options: { host: string; dataDir?: string; log: (line: string) => void },
): Promise<StoreProcess> {
  try {
    return await startStore(kind, { host: options.host, dataDir: options.dataDir, ports: USUAL_PORTS[kind] });
  } catch (error) {
    if (!isStoreStartError(error) || !/port/i.test(error.message)) throw error;
    options.log(`  ${kind}: its usual port is taken, using a free one`);
    return startStore(kind, { host: options.host, dataDir: options.dataDir });
  }
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SETTINGS: readonly SettingSpec[] = [
  {
    key: 'listen',
    flag: 'listen',
    env: 'FLEET_STORES_LISTEN',
    help: 'address the stores listen on (the Pis must reach it)',
    defaultText: '0.0.0.0',
  },
  {
    key: 'members',
    flag: 'members',
    env: 'FLEET_STORES_MEMBERS',
    help: 'members per store: 1, or a cluster of 3 or 5 on this host (a presenter can kill one on stage)',
    defaultText: '1',
  },
  {
    key: 'dataDir',
    flag: 'data-dir',
    env: 'FLEET_STORES_DATA',
    help: 'where the stores keep their data between runs',
    defaultText: '.cache/stores/data',
  },
];

interface StoresConfig {
  listen: string;
  dataDir: string;
  members: number;
}

export async function main(argv: readonly string[]): Promise<number | undefined> {
  const config = configOrExit('stores', () =>
    parseCommand(
      SETTINGS,
      { argv, env: process.env },
      {
        usage: 'Usage: fleetkit stores [settings]',
        description: 'Runs etcd, ZooKeeper and Consul for the fleet until Ctrl-C.',
      },
      (values, issues): StoresConfig | undefined => {
        const listen = hostSchema.safeParse(values.listen ?? '0.0.0.0');
        if (!listen.success) issues.push(...toFieldIssues(listen.error, 'listen'));
        const dataDir = path.resolve(ROOT, (values.dataDir as string | undefined) ?? '.cache/stores/data');
        const members = Number(values.members ?? '1');
        if (![1, 3, 5].includes(members)) issues.push({ field: 'members', expected: '1, 3 or 5' });
        return listen.success ? { listen: listen.data, dataDir, members } : undefined;
      },
    ),
  );
  if (typeof config === 'number') return config;
  const say = (line: string) => process.stdout.write(`${line}\n`);
  onShutdown(async () => {
    say('stopping the stores...');
    await stopAllStores();
    say('stopped');
  });
  try {
    say('[1/3] checking the stores are installed');
    await installStores({ log: (line) => say(`  ${line}`) });
    say(`[2/3] starting them (listening on ${config.listen}, data in ${config.dataDir})`);
    const stores: { kind: StoreKind; endpoints: string[] }[] = [];
    for (const kind of storeKinds) {
      if (config.members > 1) {
        // A cluster's members keep their data in temporary folders, for a talk's length.
        stores.push(await startCluster(kind, { members: config.members, host: config.listen }));
        continue;
      }
      const dataDir = path.join(config.dataDir, kind);
      await mkdir(dataDir, { recursive: true });
      stores.push(await startStoreOnUsualPort(kind, { host: config.listen, dataDir, log: say }));
    }
    say('[3/3] asking each store for its members');
    for (const store of stores) {
      const registry = createRegistry({ store: store.kind, endpoints: store.endpoints });
      try {
        const members = await registry.members();
        const text = members.map((m) => `${m.name} ${m.role}${m.healthy ? '' : ' (unhealthy)'}`).join(', ');
        say(`  ${store.kind.padEnd(9)} ${store.endpoints.join(', ')}  ${text}`);
      } finally {
        await registry.close();
      }
    }
    say('ready: point the devices and `fleetkit server` at these endpoints. Ctrl-C stops the stores.');
    return undefined; // runs until a signal
  } catch (error) {
    console.error(`fleetkit stores: ${(error as Error).message}`);
    await stopAllStores();
    return 1;
  }
}
