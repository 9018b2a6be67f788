// Settings the agent and the server share: which stores, which namespace, the liveness windows, the
// log level. Each command adds its own to these and parses them with the same helpers.
import {
  DEFAULT_LIVENESS,
  isValidationError,
  type LivenessSettings,
  livenessSchema,
  parseEndpoints,
  STORE_KINDS,
  type StoreKind,
  toFieldIssues,
} from '../registry/index.ts';
import { LOG_LEVELS } from './log.ts';
import type { RawSettings, SettingSpec } from './settings.ts';
import type { SettingIssue } from './settings-error.ts';

export { numberSetting } from './checks.ts';

export const STORE_SETTINGS: readonly SettingSpec[] = [
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
    help: 'service name of the devices',
    defaultText: 'web',
  },
];

const seconds = (help: string, fallback: number) => ({
  help: `${help}, seconds`,
  defaultText: String(fallback),
});
export const LIVENESS_SETTINGS: readonly SettingSpec[] = [
  {
    key: 'etcdTtl',
    flag: 'etcd-ttl',
    env: 'FLEET_ETCD_TTL',
    ...seconds('etcd lease TTL', DEFAULT_LIVENESS.leaseTtlSeconds),
  },
  {
    key: 'zookeeperSessionTimeout',
    flag: 'zookeeper-session-timeout',
    env: 'FLEET_ZOOKEEPER_SESSION_TIMEOUT',
    help: 'ZooKeeper session timeout, milliseconds',
    defaultText: String(DEFAULT_LIVENESS.sessionTimeoutMs),
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
    ...seconds('Consul HTTP check interval', DEFAULT_LIVENESS.checkIntervalSeconds),
  },
  {
    key: 'consulTimeout',
    flag: 'consul-timeout',
    env: 'FLEET_CONSUL_TIMEOUT',
    ...seconds('Consul HTTP check timeout', DEFAULT_LIVENESS.checkTimeoutSeconds),
  },
  {
    key: 'consulTtl',
    flag: 'consul-ttl',
    env: 'FLEET_CONSUL_TTL',
    ...seconds('Consul TTL check', DEFAULT_LIVENESS.checkTtlSeconds),
  },
  {
    key: 'consulDeregisterAfter',
    flag: 'consul-deregister-after',
    env: 'FLEET_CONSUL_DEREGISTER_AFTER',
    ...seconds(
      'Consul reaps a critical device after (>= 60)',
      DEFAULT_LIVENESS.deregisterCriticalAfterSeconds,
    ),
  },
];

export const LOG_SETTING: SettingSpec = {
  key: 'logLevel',
  flag: 'log-level',
  env: 'FLEET_LOG_LEVEL',
  help: LOG_LEVELS.join(', '),
  defaultText: 'info',
};

// Which setting feeds which liveness field: errors then name the flag the user typed.
const LIVENESS_FIELDS: Record<keyof LivenessSettings, string> = {
  leaseTtlSeconds: 'etcdTtl',
  sessionTimeoutMs: 'zookeeperSessionTimeout',
  consulCheck: 'consulCheck',
  checkIntervalSeconds: 'consulInterval',
  checkTimeoutSeconds: 'consulTimeout',
  checkTtlSeconds: 'consulTtl',
  deregisterCriticalAfterSeconds: 'consulDeregisterAfter',
};

/** The configured stores as canonical endpoint lists; at least one. Problems go to `issues`. */
export function parseStores(
  values: RawSettings,
  issues: SettingIssue[],
): Partial<Record<StoreKind, string[]>> {
  const stores: Partial<Record<StoreKind, string[]>> = {};
  for (const store of STORE_KINDS) {
    const list = values[store] as string[] | undefined;
    if (!list || list.length === 0) continue;
    try {
      stores[store] = parseEndpoints(store, list, store).map((e) => e.address);
    } catch (error) {
      // The registry's own check of an endpoint, folded into the settings' issues.
      if (!isValidationError(error)) throw error;
      issues.push(...error.issues);
    }
  }
  if (
    Object.keys(stores).length === 0 &&
    !issues.some((i) => (STORE_KINDS as readonly string[]).includes(i.field))
  ) {
    issues.push({
      field: 'etcd',
      expected: 'at least one store: --etcd, --zookeeper or --consul (FLEET_ETCD, ...)',
    });
  }
  return stores;
}

/** The liveness settings with defaults; problems go to `issues` (then the result is the defaults). */
export function parseLiveness(values: RawSettings, issues: SettingIssue[]): LivenessSettings {
  const input: Record<string, unknown> = { ...DEFAULT_LIVENESS };
  for (const [field, key] of Object.entries(LIVENESS_FIELDS)) {
    const raw = values[key];
    if (raw !== undefined) input[field] = field === 'consulCheck' ? raw : Number(raw);
  }
  const parsed = livenessSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  for (const issue of toFieldIssues(parsed.error)) {
    issues.push({
      field: LIVENESS_FIELDS[issue.field as keyof LivenessSettings] ?? issue.field,
      expected: issue.expected,
    });
  }
  return { ...DEFAULT_LIVENESS };
}

/** The liveness settings as the FLEET_* variables an agent reads (to start agents with them). */
export function livenessEnv(l: LivenessSettings): Record<string, string> {
  return {
    FLEET_ETCD_TTL: String(l.leaseTtlSeconds),
    FLEET_ZOOKEEPER_SESSION_TIMEOUT: String(l.sessionTimeoutMs),
    FLEET_CONSUL_CHECK: l.consulCheck,
    FLEET_CONSUL_INTERVAL: String(l.checkIntervalSeconds),
    FLEET_CONSUL_TIMEOUT: String(l.checkTimeoutSeconds),
    FLEET_CONSUL_TTL: String(l.checkTtlSeconds),
    FLEET_CONSUL_DEREGISTER_AFTER: String(l.deregisterCriticalAfterSeconds),
  };
}
