// `fleetkit stores`: the control host's stores in the foreground: installs what is missing, starts
// etcd, ZooKeeper and Consul on their usual ports (free ones when taken) with data kept between runs,
// durable (each write on the disk before it is acknowledged) unless --no-fsync, prints the endpoints,
// each store's members and health and how it treats the disk; Ctrl-C stops them.
// With --systemd: the same stores as systemd units instead (run-stores-systemd.ts).
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { numberSetting, wholeNumber } from '../lib/cli/checks.ts';
import {
  configOrExit,
  parseCommand,
  type SettingIssue,
  type SettingSpec,
  switchValue,
} from '../lib/cli/settings.ts';
import { onShutdown } from '../lib/cli/shutdown.ts';
import type { StoreKind } from '../lib/registry/index.ts';
import {
  createRegistry,
  DEFAULT_PORTS,
  errorMessage,
  hostSchema,
  namespaceSchema,
  toFieldIssues,
} from '../lib/registry/index.ts';
import { installStores } from './install-stores.ts';
import { runSystemdStores, type SystemdStoresConfig } from './run-stores-systemd.ts';
import {
  type ControlledStore,
  type StoreControl,
  serveStoreControl,
  storeControlSettings,
} from './stores/control.ts';
import {
  isStoreStartError,
  type StoreProcess,
  startCluster,
  startStore,
  stopAllStores,
  storeKinds,
} from './stores/index.ts';
import { parseMembers } from './stores/members.ts';
import {
  DEFAULT_SECURE_NAMESPACE,
  prepareSecureFolder,
  roleCredentials,
  type SecureLaunch,
  secureFolderOf,
} from './stores/secure/index.ts';
import { highestFixedPort } from './stores/systemd.ts';

/** The usual ports, so that etcdctl, zkCli.sh and consul work without flags. */
const USUAL_PORTS: Record<StoreKind, Record<string, number>> = {
  etcd: { client: DEFAULT_PORTS.etcd },
  zookeeper: { client: DEFAULT_PORTS.zookeeper },
  consul: { http: DEFAULT_PORTS.consul },
};

/** On its usual port, or a free one (said so) when that is taken. */
export async function startStoreOnUsualPort(
  kind: StoreKind,
  options: {
    host: string;
    dataDir?: string;
    log: (line: string) => void;
    secure?: SecureLaunch;
    /** StartOptions.durable: `fleetkit stores` true unless --no-fsync, the demo false. */
    durable: boolean;
  },
): Promise<StoreProcess> {
  const common = {
    host: options.host,
    dataDir: options.dataDir,
    secure: options.secure,
    durable: options.durable,
  };
  try {
    return await startStore(kind, { ...common, ports: USUAL_PORTS[kind] });
  } catch (error) {
    if (!isStoreStartError(error) || !/port/i.test(error.message)) throw error;
    options.log(`  ${kind}: its usual port is taken, using a free one`);
    return startStore(kind, common);
  }
}

/** Where `fleetkit stores` keeps its data by default (the secure folder is `<data dir>/secure`). */
export const DEFAULT_STORES_DATA = path.join(
  fileURLToPath(new URL('..', import.meta.url)),
  '.cache/stores/data',
);

export { prepareSecureFolder, secureFolderOf } from './stores/secure/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** In the data dir: the settings that give `fleetkit server` the store controls (--env-file). */
export const STORE_CONTROL_FILE = 'store-control.env';
const DEFAULT_UNIT_DIR = '/etc/systemd/system';
const DEFAULT_CONFIG_DIR = '/etc/fleetkit';
const DEFAULT_SYSTEMD_DATA = '/var/lib/fleetkit';
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
    defaultText: '.cache/stores/data; with --systemd /var/lib/fleetkit',
  },
  {
    key: 'systemd',
    flag: 'systemd',
    env: 'FLEET_STORES_SYSTEMD',
    help: 'install the stores as systemd units (started now and at boot) instead of running them here',
    switch: true,
  },
  {
    key: 'unitDir',
    flag: 'unit-dir',
    env: 'FLEET_STORES_UNIT_DIR',
    help: 'with --systemd: where the unit files go',
    defaultText: DEFAULT_UNIT_DIR,
  },
  {
    key: 'configDir',
    flag: 'config-dir',
    env: 'FLEET_STORES_CONFIG_DIR',
    help: "with --systemd --secure: each store's keys and config files go to <dir>/<store> (root's, readable by the store's user only)",
    defaultText: DEFAULT_CONFIG_DIR,
  },
  {
    key: 'portOffset',
    flag: 'port-offset',
    env: 'FLEET_STORES_PORT_OFFSET',
    help: 'with --systemd: added to every port (2379, 2181, 8500, ...), for a host where those are taken',
    defaultText: '0',
  },
  {
    key: 'secure',
    flag: 'secure',
    env: 'FLEET_STORES_SECURE',
    help: 'require credentials: TLS + users in etcd, ACLs in Consul and ZooKeeper; makes <data dir>/secure once (CA, one folder per role)',
    switch: true,
  },
  {
    key: 'namespace',
    flag: 'namespace',
    env: 'FLEET_NAMESPACE',
    help: 'with --secure: the namespace the roles are given (devices write its services/, the server its config/)',
    defaultText: DEFAULT_SECURE_NAMESPACE,
  },
  {
    key: 'noFsync',
    flag: 'no-fsync',
    env: 'FLEET_STORES_NO_FSYNC',
    help: "faster writes, for a talk or a test: the stores do not wait on the disk (etcd --unsafe-no-fsync, ZooKeeper forceSync=no, Consul's state in a tmpfs, /dev/shm); a killed store keeps its data, a crash or reboot of this machine may lose it (docs/stores.md, Durability)",
    switch: true,
  },
  {
    key: 'remove',
    flag: 'remove',
    env: 'FLEET_STORES_REMOVE',
    help: 'with --systemd: stop and remove the units (the data stays)',
    switch: true,
  },
];

interface StoresConfig extends SystemdStoresConfig {
  systemd: boolean;
  /** The stores do not wait on the disk (default false: durable). */
  noFsync: boolean;
}

/** An absolute path for a unit file or a data dir: a control character would break the unit's lines. */
function checkPath(text: string, field: string, issues: SettingIssue[]): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is what is refused
  if (text === '' || /[\u0000-\u001f\u007f]/.test(text)) {
    issues.push({ field, expected: 'a path without line breaks or control characters' });
  }
  return path.resolve(ROOT, text);
}

export async function main(argv: readonly string[]): Promise<number | undefined> {
  const config = configOrExit('stores', () =>
    parseCommand(
      SETTINGS,
      { argv, env: process.env },
      {
        usage: 'Usage: fleetkit stores [settings]',
        description:
          'Runs etcd, ZooKeeper and Consul for the fleet until Ctrl-C; with --systemd, installs them as systemd units.',
      },
      (values, issues): StoresConfig | undefined => {
        const listen = hostSchema.safeParse(values.listen ?? '0.0.0.0');
        if (!listen.success) issues.push(...toFieldIssues(listen.error, 'listen'));
        const systemd = switchValue(values.systemd);
        if (systemd === undefined)
          issues.push({ field: 'systemd', expected: '1, true, yes, 0, false or no' });
        const remove = switchValue(values.remove);
        if (remove === undefined) issues.push({ field: 'remove', expected: '1, true, yes, 0, false or no' });
        const dataDir = checkPath(
          (values.dataDir as string | undefined) ?? (systemd ? DEFAULT_SYSTEMD_DATA : '.cache/stores/data'),
          'dataDir',
          issues,
        );
        const unitDir = checkPath(
          (values.unitDir as string | undefined) ?? DEFAULT_UNIT_DIR,
          'unitDir',
          issues,
        );
        const configDir = checkPath(
          (values.configDir as string | undefined) ?? DEFAULT_CONFIG_DIR,
          'configDir',
          issues,
        );
        const members = parseMembers(values.members, issues);
        // The highest offset that keeps every member's every port at most 65535.
        const maxOffset = 65535 - highestFixedPort(members ?? 1, 0);
        const offset = wholeNumber(0, maxOffset).safeParse(numberSetting(values.portOffset) ?? 0);
        if (!offset.success) issues.push(...toFieldIssues(offset.error, 'portOffset'));
        const portOffset = offset.success ? offset.data : 0;
        if (!systemd) {
          for (const key of ['unitDir', 'configDir', 'portOffset', 'remove'] as const) {
            if (values[key] !== undefined) issues.push({ field: key, expected: 'only with --systemd' });
          }
        }
        const secure = switchValue(values.secure);
        if (secure === undefined) issues.push({ field: 'secure', expected: '1, true, yes, 0, false or no' });
        const namespace = namespaceSchema.safeParse(values.namespace ?? DEFAULT_SECURE_NAMESPACE);
        if (!namespace.success) issues.push(...toFieldIssues(namespace.error, 'namespace'));
        if (!secure && values.namespace !== undefined)
          issues.push({ field: 'namespace', expected: 'only with --secure' });
        const noFsync = switchValue(values.noFsync);
        if (noFsync === undefined)
          issues.push({ field: 'noFsync', expected: '1, true, yes, 0, false or no' });
        // A unit is the control host's store for good, started at boot: durable.
        if (systemd && noFsync) issues.push({ field: 'noFsync', expected: 'not with --systemd' });
        if (
          !listen.success ||
          systemd === undefined ||
          remove === undefined ||
          members === undefined ||
          secure === undefined ||
          noFsync === undefined ||
          !namespace.success
        )
          return undefined;
        return {
          listen: listen.data,
          dataDir,
          members,
          systemd,
          unitDir,
          configDir,
          portOffset,
          remove,
          secure,
          namespace: namespace.data,
          noFsync,
        };
      },
    ),
  );
  if (typeof config === 'number') return config;
  const say = (line: string) => process.stdout.write(`${line}\n`);
  if (config.systemd) return runSystemdStores(config, say);
  let control: StoreControl | undefined;
  const controlFile = path.join(config.dataDir, STORE_CONTROL_FILE);
  onShutdown(async () => {
    say('stopping the stores...');
    await control?.close();
    await rm(controlFile, { force: true });
    await stopAllStores();
    say('stopped');
  });
  try {
    say('[1/3] checking the stores are installed');
    await installStores({
      only: [...storeKinds, ...(config.secure ? (['openssl'] as const) : [])],
      log: (line) => say(`  ${line}`),
    });
    const folder = config.secure
      ? await prepareSecureFolder(secureFolderOf(config.dataDir), (line) => say(line))
      : undefined;
    const secure = folder ? { folder, namespace: config.namespace } : undefined;
    const durable = !config.noFsync;
    say(
      `[2/3] starting them${secure ? ' requiring credentials' : ''} (listening on ${config.listen}, data in ${config.dataDir}, ${
        durable
          ? 'durable: each write on the disk before it is acknowledged; --no-fsync for faster writes'
          : 'without waiting on the disk (--no-fsync): a crash or reboot of this machine may lose data'
      })`,
    );
    const stores: (ControlledStore & { endpoints: string[] })[] = [];
    for (const kind of storeKinds) {
      if (config.members > 1) {
        // A cluster's members keep their data in temporary folders, for a talk's length.
        stores.push(
          await startCluster(kind, { members: config.members, host: config.listen, secure, durable }),
        );
        continue;
      }
      const dataDir = path.join(config.dataDir, kind);
      await mkdir(dataDir, { recursive: true });
      const store = await startStoreOnUsualPort(kind, {
        host: config.listen,
        dataDir,
        log: say,
        secure,
        durable,
      });
      stores.push({ kind, members: [store], endpoints: store.endpoints });
    }
    // The live page's presenter may stop, kill and restart them: through a loopback API whose secret
    // goes into a file only this user reads (a terminal on the projector must not show it).
    control = await serveStoreControl(stores);
    await mkdir(config.dataDir, { recursive: true });
    await rm(controlFile, { force: true }); // a mode applies to a new file only: a leftover may be looser
    await writeFile(controlFile, storeControlSettings(control), { mode: 0o600 });
    say('[3/3] asking each store for its members');
    const credentials = folder ? await roleCredentials(folder, 'admin') : undefined;
    for (const store of stores) {
      const disk = store.members[0]?.durability;
      const durability = disk ? `  (${disk.durable ? 'durable' : 'no fsync'}: ${disk.how})` : '';
      const registry = createRegistry({ store: store.kind, endpoints: store.endpoints, credentials });
      try {
        const members = await registry.members();
        const text = members.map((m) => `${m.name} ${m.role}${m.healthy ? '' : ' (unhealthy)'}`).join(', ');
        say(`  ${store.kind.padEnd(9)} ${store.endpoints.join(', ')}  ${text}${durability}`);
      } catch (error) {
        // Secure: the registry's adapters may not speak this store's credentials (yet); the store runs.
        if (!secure) throw error;
        say(
          `  ${store.kind.padEnd(9)} ${store.endpoints.join(', ')}  (members not read: ${errorMessage(error)})${durability}`,
        );
      } finally {
        await registry.close();
      }
    }
    say(`  store controls for the page (stop, kill, restart): fleetkit server --env-file ${controlFile}`);
    say('ready: point the devices and `fleetkit server` at these endpoints. Ctrl-C stops the stores.');
    return undefined; // runs until a signal
  } catch (error) {
    console.error(`fleetkit stores: ${errorMessage(error)}`);
    await stopAllStores();
    return 1;
  }
}
