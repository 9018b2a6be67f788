// `fleetkit pick` (and `node fleetkit.mjs pick` in the attendee kit): which device of the service each
// store would hand a client now, and why (seed 003: the client asks the phone book and picks one).
// Once: Registry.pick per store. --follow: each store's pushed view, a new line whenever the choice
// changes. Exit codes: 0 when some store picked a device, 1 when none did (down or nothing passing),
// 2 for bad settings, 130 after Ctrl-C (--follow).

import { numberSetting, wholeNumber } from '../../lib/cli/checks.ts';
import { CREDENTIAL_SETTINGS, loadCredentials } from '../../lib/cli/credentials-settings.ts';
import {
  configOrExit,
  type ParsedCommand,
  parseCommand,
  type RawSettings,
  type SettingIssue,
  type SettingSpec,
  type SettingsInput,
  switchValue,
} from '../../lib/cli/settings.ts';
import { onShutdown } from '../../lib/cli/shutdown.ts';
import {
  chooseInstance,
  createRegistry,
  type DiscoveredInstance,
  errorMessage,
  hostPort,
  isRegistryError,
  machineLoad,
  noPickReason,
  PICK_STRATEGIES,
  PICK_STRATEGY_TEXT,
  type PickResult,
  type PickStrategy,
  type Registry,
  STORE_KINDS,
  type StoreCredentials,
  type StoreKind,
  toFieldIssues,
} from '../../lib/registry/index.ts';
import { KIT_STORE_SETTINGS, storesFromSettings } from './stores-from-page.ts';

/** Where the stores come from, as far as pick needs them. */
export interface PickStores {
  stores: Partial<Record<StoreKind, string[]>>;
  namespace: string;
  service: string;
}

// The stores: --from INSTRUCTOR (the instructor's page names them), else --etcd/--zookeeper/--consul
// (FLEET_*, ./fleetkit.env in an attendee's folder), as every kit command takes them.
const PICK_STORE_SETTINGS: readonly SettingSpec[] = KIT_STORE_SETTINGS;
const pickStores: (values: RawSettings, issues: SettingIssue[]) => Promise<PickStores | undefined> =
  storesFromSettings;

const MAX_COUNT = 1000;

export const PICK_SETTINGS: readonly SettingSpec[] = [
  ...PICK_STORE_SETTINGS,
  // Stores that require credentials (fleetkit stores --secure): environment or files only.
  ...CREDENTIAL_SETTINGS,
  {
    key: 'store',
    flag: 'store',
    env: 'FLEET_PICK_STORE',
    help: `ask only this store: ${STORE_KINDS.join(', ')}`,
    defaultText: 'every store configured',
  },
  {
    key: 'strategy',
    flag: 'strategy',
    env: 'FLEET_PICK_STRATEGY',
    help: PICK_STRATEGIES.map((s) => `${s} (${PICK_STRATEGY_TEXT[s]})`).join(', '),
    defaultText: 'least-loaded',
  },
  {
    key: 'count',
    flag: 'count',
    env: 'FLEET_PICK_COUNT',
    help: `picks per store, 1 to ${MAX_COUNT} (round-robin then shows the turns)`,
    defaultText: '1',
  },
  {
    key: 'json',
    flag: 'json',
    env: 'FLEET_PICK_JSON',
    switch: true,
    help: 'one JSON object per pick and store, a line each: store, picked {id, host, port}, candidates [{id, cpuPercent}], reason',
  },
  {
    key: 'follow',
    flag: 'follow',
    env: 'FLEET_PICK_FOLLOW',
    switch: true,
    help: 'keep watching: a new line whenever the choice changes (least-loaded only; Ctrl-C ends)',
  },
];

const ABOUT = {
  usage: 'Usage: fleetkit pick [settings]',
  description:
    "Says which device of the service each store would hand a client now, and why: least-loaded picks the\nlowest CPU among the passing devices (Consul keeps dead ones as critical: skipped). From each store's\npushed view, no polling. Exit 0 when a store picked a device, 1 when none did.",
};

export interface PickConfig extends PickStores {
  credentials: StoreCredentials;
  /** The stores to ask, in STORE_KINDS order. */
  ask: StoreKind[];
  strategy: PickStrategy;
  count: number;
  json: boolean;
  follow: boolean;
}

/** Throws a SettingsError naming every bad setting at once. */
export function parsePickConfig(input: SettingsInput): Promise<ParsedCommand<PickConfig>> {
  return parseCommand(
    PICK_SETTINGS,
    input,
    ABOUT,
    async (values, issues, { sources }): Promise<PickConfig | undefined> => {
      const where = await pickStores(values, issues);
      const { credentials } = loadCredentials(values, sources, issues);
      const configured = STORE_KINDS.filter((k) => where?.stores[k]);
      const only = values.store as string | undefined;
      if (only !== undefined && !(STORE_KINDS as readonly string[]).includes(only))
        issues.push({ field: 'store', expected: `one of ${STORE_KINDS.join(', ')}` });
      else if (only !== undefined && where && configured.length > 0 && !where.stores[only as StoreKind])
        issues.push({
          field: 'store',
          expected: `a store with endpoints (configured: ${configured.join(', ')}; give --${only} too)`,
        });
      const strategy = (values.strategy as string | undefined) ?? 'least-loaded';
      if (!(PICK_STRATEGIES as readonly string[]).includes(strategy))
        issues.push({ field: 'strategy', expected: `one of ${PICK_STRATEGIES.join(', ')}` });
      const count = wholeNumber(1, MAX_COUNT, 'a number of picks').safeParse(
        numberSetting(values.count) ?? 1,
      );
      if (!count.success) issues.push(...toFieldIssues(count.error, 'count'));
      const json = switchValue(values.json);
      if (json === undefined) issues.push({ field: 'json', expected: '1, true, yes, 0, false or no' });
      const follow = switchValue(values.follow);
      if (follow === undefined) issues.push({ field: 'follow', expected: '1, true, yes, 0, false or no' });
      if (follow && strategy !== 'least-loaded')
        issues.push({
          field: 'follow',
          expected:
            'least-loaded only (random and round-robin change their pick on every call, not with the loads)',
        });
      if (follow && count.success && count.data !== 1)
        issues.push({ field: 'count', expected: '1 with --follow (it prints each new choice)' });
      if (!where || !count.success || issues.length > 0) return undefined;
      return {
        ...where,
        credentials,
        ask: only ? [only as StoreKind] : configured,
        strategy: strategy as PickStrategy,
        count: count.data,
        json: json === true,
        follow: follow === true,
      };
    },
  );
}

/** What --json prints for one pick: the plan's fields, nothing more. */
export interface PickJson {
  store: StoreKind;
  picked: { id: string; host: string; port: number } | null;
  candidates: { id: string; cpuPercent: number | null }[];
  reason: string;
}

const cpuOf = (i: DiscoveredInstance) => machineLoad(i.record.load)?.cpuPercent ?? null;

export function pickJson(store: StoreKind, result: PickResult | undefined, reason: string): PickJson {
  const picked = result?.picked.record;
  return {
    store,
    picked: picked ? { id: picked.id, host: picked.host, port: picked.port } : null,
    candidates: (result?.candidates ?? []).map((c) => ({ id: c.record.id, cpuPercent: cpuOf(c) })),
    reason,
  };
}

/** "etcd: alice-2 at 10.0.0.5:8101, CPU 3 % (least loaded of 5 passing; 1 critical skipped)" */
export function pickLine(store: StoreKind, result: PickResult): string {
  const { id, host, port } = result.picked.record;
  const cpu = cpuOf(result.picked);
  const load = cpu === null ? 'no load reported' : `CPU ${Number(cpu.toFixed(1))} %`;
  return `${store}: ${id} at ${hostPort(host, port)}, ${load} (${result.reason})`;
}

interface Output {
  /** A pick (or why there is none) for stdout, as a line of text or of JSON. */
  pick(store: StoreKind, result: PickResult | undefined, why: string): void;
  /** Progress and waiting, for people: stderr, so that stdout stays the picks. */
  note(line: string): void;
}

function output(config: PickConfig, stamp: boolean): Output {
  const write = (line: string) => process.stdout.write(`${line}\n`);
  const time = () => (stamp ? `${new Date().toTimeString().slice(0, 8)} ` : '');
  return {
    pick(store, result, why) {
      if (config.json) write(JSON.stringify(pickJson(store, result, result?.reason ?? why)));
      else write(`${time()}${result ? pickLine(store, result) : `${store}: ${why}`}`);
    },
    note: (line) => process.stderr.write(`${time()}${line}\n`),
  };
}

const open = (config: PickConfig, store: StoreKind): Registry =>
  createRegistry({
    store,
    endpoints: config.stores[store]!,
    namespace: config.namespace,
    credentials: config.credentials,
  });

const notAnswering = (store: StoreKind, error: unknown) =>
  `not answering: ${errorMessage(error)}; check that ${store} runs and that --${store} (FLEET_${store.toUpperCase()}) names it`;

/** Each store asked at once; the answers printed in store order as they come. */
export async function pickOnce(config: PickConfig): Promise<number> {
  const out = output(config, false);
  const registries = config.ask.map((store) => open(config, store));
  const pending = new Set(config.ask);
  const slow = setTimeout(() => out.note(`waiting for ${[...pending].join(', ')} (up to 5 s each)...`), 1000);
  const answers = registries.map(async (registry) => {
    try {
      const picks: (PickResult | undefined)[] = [];
      for (let i = 0; i < config.count; i++)
        picks.push(await registry.pick(config.service, { strategy: config.strategy }));
      return { picks };
    } catch (error) {
      if (!isRegistryError(error)) throw error;
      return { error };
    } finally {
      pending.delete(registry.store);
    }
  });
  let picked = false;
  try {
    for (const [i, store] of config.ask.entries()) {
      const answer = await answers[i]!;
      if ('error' in answer) {
        out.pick(store, undefined, notAnswering(store, answer.error));
        continue;
      }
      for (const result of answer.picks) {
        picked ||= result !== undefined;
        out.pick(
          store,
          result,
          `nothing to pick: no passing device of service "${config.service}" in namespace "${config.namespace}"`,
        );
      }
    }
  } finally {
    clearTimeout(slow);
    await Promise.all(registries.map((r) => r.close()));
  }
  return picked ? 0 : 1;
}

/** Each store's pushed view; a line whenever its choice changes, the store goes down or comes back. */
export function followPicks(config: PickConfig): void {
  const out = output(config, true);
  const registries: Registry[] = [];
  for (const store of config.ask) {
    const registry = open(config, store);
    registries.push(registry);
    const watch = registry.watchInstances(config.service);
    let synced = false;
    let lastError = '';
    /** The id last printed (null: "nothing to pick"); undefined: nothing printed yet. */
    let shown: string | null | undefined;
    /** What the last line said the store is (down or refusing); undefined once a pick was printed. */
    let saidDown: 'unreachable' | 'unauthorized' | undefined;
    let queued = false;
    const show = (force = false) => {
      const result = chooseInstance(watch.instances(), 'least-loaded');
      const id = result?.picked.record.id ?? null;
      if (id === shown && !force) return;
      shown = id;
      saidDown = undefined;
      out.pick(store, result, `nothing to pick: ${noPickReason(watch.instances())}`);
    };
    // Changes of one resync arrive one by one: the choice is made once they are all in.
    const soon = () => {
      if (queued || !synced) return;
      queued = true;
      setImmediate(() => {
        queued = false;
        if (watch.state === 'live') show();
      });
    };
    watch.on('synced', () => {
      synced = true;
      soon();
    });
    watch.on('change', soon);
    watch.on('state', (state, error) => {
      if (state === 'down') lastError = error ? `: ${errorMessage(error)}` : '';
      // Before the first answer a store may say "down" while it is still connecting: the note below says it.
      // A store that is down may say so again (the client's breaker opens, a reconnect fails): one line,
      // and another only if it turns from unreachable to refusing, or back.
      const kind = error?.code === 'UNAUTHORIZED' ? 'unauthorized' : 'unreachable';
      if (state === 'down' && synced && saidDown !== kind) {
        saidDown = kind;
        const last = shown ? `; its last pick, ${shown}, may be stale` : '';
        out.pick(store, undefined, `${notAnswering(store, error ?? 'unreachable')}${last}`);
        shown = undefined;
      } else if (state === 'live') soon();
    });
    setTimeout(() => {
      if (!synced && watch.state !== 'closed')
        out.note(`${store}: no answer yet (${watch.state}${lastError}); still trying, Ctrl-C to stop`);
    }, 3000).unref();
  }
  onShutdown(async () => {
    await Promise.all(registries.map((r) => r.close()));
  });
}

export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number | undefined> {
  const config = await configOrExit('pick', () => parsePickConfig({ argv, env }), {
    untouched: 'nothing asked',
  });
  if (typeof config === 'number') return config;
  if (config.follow) {
    followPicks(config);
    return undefined; // runs until Ctrl-C
  }
  return pickOnce(config);
}
