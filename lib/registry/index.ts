// The registry: one interface over etcd, ZooKeeper and Consul. Create one per store with
// createRegistry(); everything a caller needs is exported from here.
import type { AdapterContext, StoreAdapter } from './adapters/adapter.ts';
import { ConsulAdapter } from './adapters/consul.ts';
import { EtcdAdapter } from './adapters/etcd.ts';
import { ZooKeeperAdapter } from './adapters/zookeeper.ts';
import { StoreRegistry } from './core/store-registry.ts';
import { credentialIssues, type StoreCredentials, tlsIssues } from './credentials.ts';
import { parseEndpoints } from './endpoints.ts';
import { type FieldIssue, ValidationError } from './errors.ts';
import { layout } from './layout.ts';
import {
  DEFAULT_CONSUL_LOAD_INTERVAL_SECONDS,
  DEFAULT_LIVENESS,
  livenessSchema,
  loadIntervalSchema,
  namespaceSchema,
  toFieldIssues,
} from './schema.ts';
import { type Registry, type RegistryOptions, STORE_KINDS, type StoreKind } from './types.ts';

export { type ConsSession, parseCons } from './adapters/zookeeper-cons.ts';
export { fourLetterWord } from './adapters/zookeeper-session.ts';
export { Backoff, sleep, withBackoff } from './backoff.ts';
export { parseConfigValue } from './config-keys.ts';
export {
  chooseInstance,
  noPickReason,
  PICK_STRATEGIES,
  PICK_STRATEGY_TEXT,
  skippedText,
} from './core/pick.ts';
export * from './credentials.ts';
export { DEFAULT_PORTS, type Endpoint, endpointAddress, hostPort, parseEndpoints } from './endpoints.ts';
export * from './errors.ts';
export { type Layout, layout } from './layout.ts';
export {
  CONSUL_AGENT_PASSES_PER_SECOND,
  CONSUL_PASSES_PER_TTL,
  consulTtlFor,
  deviceLivenessModel,
  LIVENESS_KNOBS,
  type LivenessModel,
  livenessModel,
  storeKnobs,
} from './liveness.ts';
export * from './load-kinds.ts';
export { newIncarnation, newRecord } from './record.ts';
// The one schema source: commands validate their settings with the same rules the registry applies.
export {
  browserLoadSchema,
  COLOR_NAMES,
  colorSchema,
  DEFAULT_CONSUL_LOAD_INTERVAL_SECONDS,
  DEFAULT_LIVENESS,
  deviceLivenessSchema,
  hostSchema,
  instanceIdSchema,
  labelsSchema,
  livenessSchema,
  livenessWindowMs,
  loadIntervalSchema,
  namespaceSchema,
  parseOrThrow,
  portSchema,
  serviceSchema,
  toFieldIssues,
} from './schema.ts';
export * from './types.ts';

const ADAPTERS: Record<StoreKind, (ctx: AdapterContext) => StoreAdapter> = {
  etcd: (ctx) => new EtcdAdapter(ctx),
  zookeeper: (ctx) => new ZooKeeperAdapter(ctx),
  consul: (ctx) => new ConsulAdapter(ctx),
};

export const DEFAULT_NAMESPACE = 'fleet';

/**
 * Validates the options (a ValidationError names every bad field, and nothing is started), then
 * starts connecting in the background: it never fails because the store is down.
 */
export function createRegistry(options: RegistryOptions): Registry {
  const issues: FieldIssue[] = [];
  const store = options.store;
  if (!STORE_KINDS.includes(store))
    issues.push({ field: 'store', expected: `one of ${STORE_KINDS.join(', ')}` });
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const ns = namespaceSchema.safeParse(namespace);
  if (!ns.success) issues.push(...toFieldIssues(ns.error, 'namespace'));
  const liveness = livenessSchema.safeParse({ ...DEFAULT_LIVENESS, ...options.liveness });
  if (!liveness.success) issues.push(...toFieldIssues(liveness.error, 'liveness'));
  const requestTimeoutMs = options.requestTimeoutMs ?? 5000;
  if (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs < 100 || requestTimeoutMs > 120_000) {
    issues.push({ field: 'requestTimeoutMs', expected: 'whole milliseconds from 100 to 120000' });
  }
  const loadInterval = loadIntervalSchema.safeParse(
    options.consulLoadIntervalSeconds ?? DEFAULT_CONSUL_LOAD_INTERVAL_SECONDS,
  );
  if (!loadInterval.success) issues.push(...toFieldIssues(loadInterval.error, 'consulLoadIntervalSeconds'));
  let endpoints: ReturnType<typeof parseEndpoints> = [];
  if (STORE_KINDS.includes(store)) {
    try {
      endpoints = parseEndpoints(store, options.endpoints ?? []);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      issues.push(...error.issues);
    }
  }
  // Credentials: only this store's part is read (one settings object may carry all three).
  const credentials = (options.credentials ?? {}) as StoreCredentials;
  const credentialProblems = STORE_KINDS.includes(store) ? credentialIssues(store, options.credentials) : [];
  issues.push(...credentialProblems);
  if (store === 'etcd' && credentialProblems.length === 0) {
    const etcd = credentials.etcd;
    issues.push(...tlsIssues(etcd));
    if ((etcd?.ca || etcd?.cert || etcd?.key) && endpoints.some((e) => !e.secure))
      issues.push({
        field: 'endpoints',
        expected: 'https:// endpoints when a CA or client certificate is set',
      });
  }
  if (store === 'etcd' && endpoints.some((e) => e.secure) && endpoints.some((e) => !e.secure))
    issues.push({ field: 'endpoints', expected: 'all https:// or all http:// (etcd3 cannot mix them)' });
  if (options.incarnation !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(options.incarnation))
    issues.push({ field: 'incarnation', expected: '1 to 64 letters, digits, - or _' });
  if (issues.length > 0 || !liveness.success || !loadInterval.success)
    throw new ValidationError(`${store} registry options`, issues);

  const keys = layout(namespace);
  const backoff = { initialMs: options.backoff?.initialMs ?? 250, maxMs: options.backoff?.maxMs ?? 3000 };
  const frozenLiveness = Object.freeze({ ...liveness.data });
  const adapter = ADAPTERS[store]({
    endpoints,
    layout: keys,
    liveness: frozenLiveness,
    requestTimeoutMs,
    backoff,
    consulLoadIntervalSeconds: loadInterval.data,
    credentials,
  });
  return new StoreRegistry(adapter, {
    namespace,
    endpoints: Object.freeze(endpoints.map((e) => e.address)),
    liveness: frozenLiveness,
    layout: keys,
    backoff,
    requestTimeoutMs,
    incarnation: options.incarnation,
  });
}
