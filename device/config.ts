// The agent's settings: parsed once at start from flags, FLEET_* variables and an optional env file,
// checked by one schema (every bad setting named at once), then passed around frozen.
import { z } from 'zod';
import { parseEndpoints } from '../registry/endpoints.ts';
import { ValidationError } from '../registry/errors.ts';
import { LOG_LEVELS } from '../registry/log.ts';
import {
  DEFAULT_LIVENESS,
  hostSchema,
  instanceIdSchema,
  labelsSchema,
  livenessSchema,
  namespaceSchema,
  portSchema,
  serviceSchema,
  toFieldIssues,
} from '../registry/schema.ts';
import {
  helpText,
  nameFields,
  readSettings,
  type SettingSpec,
  type SettingsInput,
} from '../registry/settings.ts';
import { type LivenessSettings, STORE_KINDS, type StoreKind } from '../registry/types.ts';

export const AGENT_SETTINGS: readonly SettingSpec[] = [
  { key: 'etcd', flag: 'etcd', env: 'FLEET_ETCD', help: 'etcd endpoints, http://host:2379', list: true },
  {
    key: 'zookeeper',
    flag: 'zookeeper',
    env: 'FLEET_ZOOKEEPER',
    help: 'ZooKeeper endpoints, host:2181',
    list: true,
  },
  {
    key: 'consul',
    flag: 'consul',
    env: 'FLEET_CONSUL',
    help: 'Consul agent endpoints, http://host:8500',
    list: true,
  },
  {
    key: 'namespace',
    flag: 'namespace',
    env: 'FLEET_NAMESPACE',
    help: 'top folder of every key',
    defaultText: 'fleet',
  },
  {
    key: 'service',
    flag: 'service',
    env: 'FLEET_SERVICE',
    help: 'service name to register',
    defaultText: 'web',
  },
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
  {
    key: 'etcdTtl',
    flag: 'etcd-ttl',
    env: 'FLEET_ETCD_TTL',
    help: 'etcd lease TTL, seconds',
    defaultText: '5',
  },
  {
    key: 'zookeeperSessionTimeout',
    flag: 'zookeeper-session-timeout',
    env: 'FLEET_ZOOKEEPER_SESSION_TIMEOUT',
    help: 'ZooKeeper session timeout, milliseconds',
    defaultText: '5000',
  },
  {
    key: 'consulCheck',
    flag: 'consul-check',
    env: 'FLEET_CONSUL_CHECK',
    help: 'Consul check: http or ttl',
    defaultText: 'http',
  },
  {
    key: 'consulInterval',
    flag: 'consul-interval',
    env: 'FLEET_CONSUL_INTERVAL',
    help: 'Consul HTTP check interval, seconds',
    defaultText: '2',
  },
  {
    key: 'consulTimeout',
    flag: 'consul-timeout',
    env: 'FLEET_CONSUL_TIMEOUT',
    help: 'Consul HTTP check timeout, seconds',
    defaultText: '1',
  },
  {
    key: 'consulTtl',
    flag: 'consul-ttl',
    env: 'FLEET_CONSUL_TTL',
    help: 'Consul TTL check, seconds',
    defaultText: '5',
  },
  {
    key: 'consulDeregisterAfter',
    flag: 'consul-deregister-after',
    env: 'FLEET_CONSUL_DEREGISTER_AFTER',
    help: 'Consul reaps a critical device after, seconds (>= 60)',
    defaultText: '60',
  },
  {
    key: 'reportInterval',
    flag: 'report-interval',
    env: 'FLEET_REPORT_INTERVAL',
    help: 'load is measured this often, seconds; written only when it changed',
    defaultText: '5',
  },
  {
    key: 'logLevel',
    flag: 'log-level',
    env: 'FLEET_LOG_LEVEL',
    help: LOG_LEVELS.join(', '),
    defaultText: 'info',
  },
];

export interface AgentConfig {
  stores: Partial<Record<StoreKind, string[]>>;
  namespace: string;
  service: string;
  /** undefined: found from the hardware at start (identity.ts). */
  deviceId: string | undefined;
  host: string | undefined;
  port: number;
  listen: string;
  labels: Record<string, string>;
  liveness: LivenessSettings;
  reportIntervalSeconds: number;
  logLevel: (typeof LOG_LEVELS)[number];
}

const number = (text: unknown) => (typeof text === 'string' && text.trim() !== '' ? Number(text) : undefined);
const orDefault = <T>(value: T | undefined, fallback: T) => (value === undefined ? fallback : value);

const schema = z.strictObject({
  namespace: namespaceSchema,
  service: serviceSchema,
  deviceId: instanceIdSchema.optional(),
  host: hostSchema.optional(),
  port: portSchema,
  listen: hostSchema,
  labels: labelsSchema,
  reportInterval: z
    .number({ error: 'seconds from 1 to 3600' })
    .int('whole seconds from 1 to 3600')
    .min(1, 'seconds from 1 to 3600')
    .max(3600, 'seconds from 1 to 3600'),
  logLevel: z.enum(LOG_LEVELS, { error: `one of ${LOG_LEVELS.join(', ')}` }),
});

// Which agent setting feeds which liveness field: errors then name the agent's flag.
const LIVENESS_FIELDS: Record<keyof LivenessSettings, string> = {
  leaseTtlSeconds: 'etcdTtl',
  sessionTimeoutMs: 'zookeeperSessionTimeout',
  consulCheck: 'consulCheck',
  checkIntervalSeconds: 'consulInterval',
  checkTimeoutSeconds: 'consulTimeout',
  checkTtlSeconds: 'consulTtl',
  deregisterCriticalAfterSeconds: 'consulDeregisterAfter',
};

function parseLabels(
  items: string[] | undefined,
  issues: ValidationError['issues'][number][],
): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of items ?? []) {
    const at = item.indexOf('=');
    if (at <= 0) issues.push({ field: 'labels', expected: `name=value, not "${item}"` });
    else labels[item.slice(0, at)] = item.slice(at + 1);
  }
  return labels;
}

export type ParsedAgentArgs = { help: true; text: string } | { help: false; config: Readonly<AgentConfig> };

/** Throws a ValidationError naming every bad setting by its flag and variable. */
export function parseAgentConfig(input: SettingsInput): ParsedAgentArgs {
  const { values, help, sources, flagIssues } = readSettings(AGENT_SETTINGS, input);
  if (help) {
    return {
      help: true,
      text: helpText(
        'Usage: fleetkit agent [settings]',
        'Registers this device in etcd, ZooKeeper and/or Consul (at least one), reports its load, applies the\ncolor set in config and serves its page, /health and /status.',
        AGENT_SETTINGS,
      ),
    };
  }
  const issues: ValidationError['issues'][number][] = [];
  const stores: Partial<Record<StoreKind, string[]>> = {};
  for (const store of STORE_KINDS) {
    const list = values[store] as string[] | undefined;
    if (!list || list.length === 0) continue;
    try {
      stores[store] = parseEndpoints(store, list, store).map((e) => e.address);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      issues.push(...error.issues);
    }
  }
  if (Object.keys(stores).length === 0 && issues.length === 0) {
    issues.push({
      field: 'etcd',
      expected: 'at least one store: --etcd, --zookeeper or --consul (FLEET_ETCD, ...)',
    });
  }
  const labels = parseLabels(values.labels as string[] | undefined, issues);
  const parsed = schema.safeParse({
    namespace: orDefault(values.namespace, 'fleet'),
    service: orDefault(values.service, 'web'),
    deviceId: values.deviceId,
    host: values.host,
    port: orDefault(number(values.port), 8080),
    listen: orDefault(values.listen, '0.0.0.0'),
    labels,
    reportInterval: orDefault(number(values.reportInterval), 5),
    logLevel: orDefault(values.logLevel, 'info'),
  });
  if (!parsed.success) issues.push(...toFieldIssues(parsed.error));

  const livenessInput: Record<string, unknown> = { ...DEFAULT_LIVENESS };
  for (const [field, key] of Object.entries(LIVENESS_FIELDS)) {
    const raw = values[key];
    if (raw !== undefined) livenessInput[field] = field === 'consulCheck' ? raw : Number(raw);
  }
  const liveness = livenessSchema.safeParse(livenessInput);
  if (!liveness.success) {
    for (const issue of toFieldIssues(liveness.error)) {
      issues.push({
        field: LIVENESS_FIELDS[issue.field as keyof LivenessSettings] ?? issue.field,
        expected: issue.expected,
      });
    }
  }
  if (issues.length > 0 || flagIssues.length > 0 || !parsed.success || !liveness.success) {
    const named = nameFields(new ValidationError('settings', issues), AGENT_SETTINGS, sources);
    throw new ValidationError('settings', [...flagIssues, ...named.issues]);
  }
  const p = parsed.data;
  return {
    help: false,
    config: Object.freeze({
      stores,
      namespace: p.namespace,
      service: p.service,
      deviceId: p.deviceId,
      host: p.host,
      port: p.port,
      listen: p.listen,
      labels: p.labels,
      liveness: liveness.data,
      reportIntervalSeconds: p.reportInterval,
      logLevel: p.logLevel,
    }),
  };
}
