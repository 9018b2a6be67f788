// The agent's settings: parsed once at start from flags, FLEET_* variables and an optional env file,
// checked by one schema (every bad setting named at once), then passed around frozen.
import { z } from 'zod';
import { wholeNumber } from '../lib/cli/checks.ts';
import {
  LIVENESS_SETTINGS,
  LOG_SETTING,
  numberSetting,
  parseLiveness,
  parseStores,
  STORE_SETTINGS,
} from '../lib/cli/common-settings.ts';
import { CREDENTIAL_SETTINGS, loadCredentials } from '../lib/cli/credentials-settings.ts';
import { LOG_LEVELS } from '../lib/cli/log.ts';
import {
  type ParsedCommand,
  parseCommand,
  type SettingIssue,
  type SettingSpec,
  type SettingsInput,
} from '../lib/cli/settings.ts';
import type { LivenessSettings, StoreCredentials, StoreKind } from '../lib/registry/index.ts';
import {
  DEFAULT_CONSUL_LOAD_INTERVAL_SECONDS,
  hostSchema,
  instanceIdSchema,
  labelsSchema,
  loadIntervalSchema,
  namespaceSchema,
  portSchema,
  serviceSchema,
  toFieldIssues,
} from '../lib/registry/index.ts';
import { DEFAULT_LED_ROOT } from './led.ts';
import { DEFAULT_ADDRESS_CHECK_SECONDS } from './network.ts';
import { stressParamsSchema } from './stress-message.ts';

export const AGENT_SETTINGS: readonly SettingSpec[] = [
  ...STORE_SETTINGS,
  ...CREDENTIAL_SETTINGS,
  {
    key: 'deviceId',
    flag: 'device-id',
    env: 'FLEET_DEVICE_ID',
    help: 'device id',
    defaultText: 'the Pi serial number, else /etc/machine-id',
  },
  {
    key: 'host',
    flag: 'host',
    env: 'FLEET_HOST',
    help: 'address to advertise',
    defaultText: 'the address of the interface that routes to the stores',
  },
  {
    key: 'addressCheck',
    flag: 'address-check',
    env: 'FLEET_ADDRESS_CHECK',
    help: 'the address (the route towards the stores) is looked up again this often, seconds; a change updates every registration (not with FLEET_HOST)',
    defaultText: String(DEFAULT_ADDRESS_CHECK_SECONDS),
  },
  {
    key: 'port',
    flag: 'port',
    env: 'FLEET_PORT',
    help: 'port of the device page, /health and /status',
    defaultText: '8080',
  },
  {
    key: 'listen',
    flag: 'listen',
    env: 'FLEET_LISTEN',
    help: 'address the page listens on',
    defaultText: '0.0.0.0',
  },
  { key: 'labels', flag: 'label', env: 'FLEET_LABELS', help: 'extra labels, name=value', list: true },
  ...LIVENESS_SETTINGS,
  {
    key: 'consulLoadInterval',
    flag: 'consul-load-interval',
    env: 'FLEET_CONSUL_LOAD_INTERVAL',
    help: 'Consul: load-only updates written at most this often, seconds (0: every one; each re-registers the service)',
    defaultText: String(DEFAULT_CONSUL_LOAD_INTERVAL_SECONDS),
  },
  {
    key: 'reportInterval',
    flag: 'report-interval',
    env: 'FLEET_REPORT_INTERVAL',
    help: 'load is measured this often, seconds; written only when it changed',
    defaultText: '5',
  },
  {
    key: 'loadFrom',
    flag: 'load-from',
    env: 'FLEET_LOAD_FROM',
    help: "what the load reports: machine (a Pi's own), or process (this agent's own process: a simulated or joined device that shares a machine)",
    defaultText: 'machine',
  },
  {
    key: 'stress',
    flag: 'stress',
    env: 'FLEET_STRESS',
    help: 'a load to carry all the time, % of one core (0 to 100): real CPU burnt in a worker thread',
    defaultText: '0',
  },
  {
    key: 'ledRoot',
    flag: 'led-root',
    env: 'FLEET_LED_ROOT',
    help: 'where the activity LED (ACT or led0) is in sysfs, or off to leave the LED alone',
    defaultText: DEFAULT_LED_ROOT,
  },
  LOG_SETTING,
];

/** Where the reported load comes from (device/load.ts). */
export const LOAD_SOURCES = ['machine', 'process'] as const;
export type LoadSource = (typeof LOAD_SOURCES)[number];

export interface AgentConfig {
  stores: Partial<Record<StoreKind, string[]>>;
  /** The device role's credentials on the stores (never logged: lib/cli/credentials-settings.ts). */
  credentials: StoreCredentials;
  /** Which credentials were given, in words without a secret (for the start line), or null. */
  credentialsSummary: string | null;
  namespace: string;
  service: string;
  /** undefined: found from the hardware at start (identity.ts). */
  deviceId: string | undefined;
  host: string | undefined;
  /** Seconds between two lookups of the address (network.ts); unused when `host` pins it. */
  addressCheckSeconds: number;
  port: number;
  listen: string;
  labels: Record<string, string>;
  liveness: LivenessSettings;
  /** Consul: the shortest time between two load-only updates (RegistryOptions.consulLoadIntervalSeconds). */
  consulLoadIntervalSeconds: number;
  reportIntervalSeconds: number;
  loadFrom: LoadSource;
  /** % of one core burnt all the time (device/stress.ts); 0: none. */
  stressPercent: number;
  /** The sysfs folder of the activity LED (led.ts), or null: leave the LED alone. */
  ledRoot: string | null;
  logLevel: (typeof LOG_LEVELS)[number];
}

const orDefault = <T>(value: T | undefined, fallback: T) => (value === undefined ? fallback : value);

const schema = z.strictObject({
  namespace: namespaceSchema,
  service: serviceSchema,
  deviceId: instanceIdSchema.optional(),
  host: hostSchema.optional(),
  addressCheck: wholeNumber(1, 3600, 'whole seconds'),
  port: portSchema,
  listen: hostSchema,
  labels: labelsSchema,
  reportInterval: wholeNumber(1, 3600, 'whole seconds'),
  consulLoadInterval: loadIntervalSchema,
  loadFrom: z.enum(LOAD_SOURCES, { error: `one of ${LOAD_SOURCES.join(', ')}` }),
  stress: stressParamsSchema.shape.percent,
  ledRoot: z.string().refine(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters
    (p) => p === 'off' || (p.startsWith('/') && !/[\u0000-\u001f\u007f]/.test(p)),
    'an absolute path (such as /sys/class/leds) or off',
  ),
  logLevel: z.enum(LOG_LEVELS, { error: `one of ${LOG_LEVELS.join(', ')}` }),
});

const ABOUT = {
  usage: 'Usage: fleetkit agent [settings]',
  description:
    'Registers this device in etcd, ZooKeeper and/or Consul (at least one), reports its load, applies the\ncolor set in config and serves its page, /health and /status. Started with an IPC channel (the simulated\nfleet, join), it carries the load its parent tells it to ({ type: "stress", percent, seconds }).',
};

function parseLabels(items: string[] | undefined, issues: SettingIssue[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of items ?? []) {
    const at = item.indexOf('=');
    if (at <= 0) issues.push({ field: 'labels', expected: `name=value, not "${item}"` });
    else labels[item.slice(0, at)] = item.slice(at + 1);
  }
  return labels;
}

export type ParsedAgentArgs = ParsedCommand<AgentConfig>;

/** Throws a SettingsError naming every bad setting by its flag and variable. */
export function parseAgentConfig(input: SettingsInput): ParsedAgentArgs {
  return parseCommand(
    AGENT_SETTINGS,
    input,
    ABOUT,
    (values, issues, { sources }): AgentConfig | undefined => {
      const stores = parseStores(values, issues);
      const credentials = loadCredentials(values, sources, issues);
      const labels = parseLabels(values.labels as string[] | undefined, issues);
      const parsed = schema.safeParse({
        namespace: orDefault(values.namespace, 'fleet'),
        service: orDefault(values.service, 'web'),
        deviceId: values.deviceId,
        host: values.host,
        addressCheck: orDefault(numberSetting(values.addressCheck), DEFAULT_ADDRESS_CHECK_SECONDS),
        port: orDefault(numberSetting(values.port), 8080),
        listen: orDefault(values.listen, '0.0.0.0'),
        labels,
        reportInterval: orDefault(numberSetting(values.reportInterval), 5),
        consulLoadInterval: orDefault(
          numberSetting(values.consulLoadInterval),
          DEFAULT_CONSUL_LOAD_INTERVAL_SECONDS,
        ),
        loadFrom: orDefault(values.loadFrom, 'machine'),
        stress: orDefault(numberSetting(values.stress), 0),
        ledRoot: orDefault(values.ledRoot, DEFAULT_LED_ROOT),
        logLevel: orDefault(values.logLevel, 'info'),
      });
      if (!parsed.success) issues.push(...toFieldIssues(parsed.error));
      const liveness = parseLiveness(values, issues);
      if (!parsed.success) return undefined;
      const p = parsed.data;
      return {
        stores,
        credentials: credentials.credentials,
        credentialsSummary: credentials.summary,
        namespace: p.namespace,
        service: p.service,
        deviceId: p.deviceId,
        host: p.host,
        addressCheckSeconds: p.addressCheck,
        port: p.port,
        listen: p.listen,
        labels: p.labels,
        liveness,
        consulLoadIntervalSeconds: p.consulLoadInterval,
        reportIntervalSeconds: p.reportInterval,
        loadFrom: p.loadFrom,
        stressPercent: p.stress,
        ledRoot: p.ledRoot === 'off' ? null : p.ledRoot,
        logLevel: p.logLevel,
      };
    },
  );
}
