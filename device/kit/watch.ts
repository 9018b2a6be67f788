// `node fleetkit.mjs watch`: the devices as each store pushes them (the registry's watches, as the
// live page gets them), a line per change: + joined, ~ changed (health, color, load), - gone. What a
// watcher of your own would print (lab 2), before you write one. Ctrl-C ends it (exit 130).

import { CREDENTIAL_SETTINGS, loadCredentials } from '../../lib/cli/credentials-settings.ts';
import {
  configOrExit,
  type ParsedCommand,
  parseCommand,
  type SettingSpec,
  type SettingsInput,
  switchValue,
} from '../../lib/cli/settings.ts';
import { onShutdown } from '../../lib/cli/shutdown.ts';
import {
  createRegistry,
  type DiscoveredInstance,
  errorMessage,
  hostPort,
  type InstanceWatch,
  machineLoad,
  type Registry,
  STORE_KINDS,
  type StoreCredentials,
  type StoreKind,
} from '../../lib/registry/index.ts';
import { KIT_STORE_SETTINGS, type KitStores, storesFromSettings } from './stores-from-page.ts';
import { printable } from './terminal.ts';

const WATCH_SETTINGS: readonly SettingSpec[] = [
  ...KIT_STORE_SETTINGS,
  // Stores that require credentials (fleetkit stores --secure): environment or files only.
  ...CREDENTIAL_SETTINGS,
  {
    key: 'store',
    flag: 'store',
    env: 'FLEET_WATCH_STORE',
    help: `watch only this store: ${STORE_KINDS.join(', ')}`,
    defaultText: 'every store configured',
  },
  {
    key: 'json',
    flag: 'json',
    env: 'FLEET_WATCH_JSON',
    switch: true,
    help: 'one JSON object per change: store, type (added, updated, removed), id, host, port, health, cpuPercent, labels',
  },
];

const ABOUT = {
  usage: 'Usage: node fleetkit.mjs watch [settings]',
  description:
    "Prints the devices of the service as each store pushes them: + joined, ~ changed, - gone (Consul keeps\na dead device as critical first). The same watches the instructor's page uses; nothing polls.",
};

interface WatchConfig extends KitStores {
  credentials: StoreCredentials;
  watch: StoreKind[];
  json: boolean;
}

export function parseWatchConfig(input: SettingsInput): Promise<ParsedCommand<WatchConfig>> {
  return parseCommand(WATCH_SETTINGS, input, ABOUT, async (values, issues, { sources }) => {
    const { credentials } = loadCredentials(values, sources, issues);
    const only = values.store as string | undefined;
    if (only !== undefined && !(STORE_KINDS as readonly string[]).includes(only))
      issues.push({ field: 'store', expected: `one of ${STORE_KINDS.join(', ')}` });
    const json = switchValue(values.json);
    if (json === undefined) issues.push({ field: 'json', expected: '1/true/yes or 0/false/no' });
    const found = await storesFromSettings(values, issues);
    if (!found || issues.length > 0) return undefined;
    const configured = STORE_KINDS.filter((k) => found.stores[k]);
    if (only && !configured.includes(only as StoreKind)) {
      issues.push({
        field: 'store',
        expected: `a store with endpoints (configured: ${configured.join(', ')})`,
      });
      return undefined;
    }
    return { ...found, credentials, watch: only ? [only as StoreKind] : configured, json: json === true };
  });
}

/** "alice-1 10.0.0.7:8101 passing CPU 3 % attendee=alice" */
function describe(instance: DiscoveredInstance): string {
  const { id, host, port, load, labels } = instance.record;
  const machine = machineLoad(load);
  const cpu = machine ? `CPU ${Number(machine.cpuPercent.toFixed(1))} %` : 'no load yet';
  const attendee = labels.attendee ? ` attendee=${labels.attendee}` : '';
  return printable(`${id} ${hostPort(host, port)} ${instance.health} ${cpu}${attendee}`, { max: 300 });
}

function jsonLine(store: StoreKind, type: string, instance: DiscoveredInstance): string {
  const { id, host, port, load, labels } = instance.record;
  return JSON.stringify({
    store,
    type,
    id,
    host,
    port,
    health: instance.health,
    cpuPercent: machineLoad(load)?.cpuPercent ?? null,
    labels,
  });
}

export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number | undefined> {
  const config = await configOrExit('watch', () => parseWatchConfig({ argv, env }), {
    untouched: 'nothing watched',
  });
  if (typeof config === 'number') return config;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const note = (line: string) => process.stderr.write(`${line}\n`);
  const width = Math.max(...config.watch.map((s) => s.length));
  const links: { registry: Registry; watch: InstanceWatch }[] = [];
  try {
    for (const store of config.watch) {
      const registry = createRegistry({
        store,
        endpoints: config.stores[store]!,
        namespace: config.namespace,
        liveness: config.liveness,
        credentials: config.credentials,
      });
      const watch = registry.watchInstances(config.service);
      const tag = store.padEnd(width);
      let synced = false;
      watch.on('synced', (instances) => {
        if (synced) return; // a resync after an outage: its differences come as changes
        synced = true;
        if (config.json) for (const i of instances) out(jsonLine(store, 'added', i));
        else {
          note(`${tag}  ${instances.length} device(s) of ${config.service} now`);
          for (const i of instances) out(`${tag}  + ${describe(i)}`);
        }
      });
      watch.on('change', (change) => {
        if (!synced) return;
        if (config.json) out(jsonLine(store, change.type, change.instance));
        else
          out(
            `${tag}  ${{ added: '+', updated: '~', removed: '-' }[change.type]} ${describe(change.instance)}`,
          );
      });
      watch.on('state', (state, error) => {
        if (state === 'down')
          note(
            `${tag}  down: ${printable(error ? errorMessage(error) : 'unreachable', { max: 300 })} (retrying; the list may be stale)`,
          );
        else if (state === 'live' && synced) note(`${tag}  live again`);
      });
      links.push({ registry, watch });
    }
  } catch (error) {
    console.error(`watch: ${errorMessage(error)}`);
    await Promise.all(links.map((l) => l.registry.close()));
    return 1;
  }
  note(`watching ${config.namespace}/${config.service} in ${config.watch.join(', ')} (Ctrl-C stops)`);
  onShutdown(async () => {
    for (const link of links) link.watch.close();
    await Promise.all(links.map((l) => l.registry.close()));
  });
  return undefined;
}
