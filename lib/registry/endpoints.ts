// Endpoint lists, as typed by a user: "http://10.0.0.1:2379,http://10.0.0.2:2379" or "pi-host:2181".
import { type FieldIssue, ValidationError } from './errors.ts';
import { hostSchema } from './schema.ts';
import type { StoreKind } from './types.ts';

export interface Endpoint {
  host: string;
  port: number;
  secure: boolean;
  /** The canonical form: `http(s)://host:port` for etcd and Consul, `host:port` for ZooKeeper. */
  address: string;
}

interface EndpointRule {
  schemes: readonly string[];
  defaultPort: number;
  canonical: (e: Omit<Endpoint, 'address'>) => string;
}

/** `host:port`, with brackets around an IPv6 address: the one place that writes one. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

const canonicalHostPort = (e: { host: string; port: number }) => hostPort(e.host, e.port);
const httpUrl = (e: Omit<Endpoint, 'address'>) => `${e.secure ? 'https' : 'http'}://${canonicalHostPort(e)}`;

const RULES: Record<StoreKind, EndpointRule> = {
  etcd: { schemes: ['http', 'https'], defaultPort: 2379, canonical: httpUrl },
  zookeeper: { schemes: ['zk'], defaultPort: 2181, canonical: canonicalHostPort },
  consul: { schemes: ['http', 'https'], defaultPort: 8500, canonical: httpUrl },
};

/** The canonical address of an endpoint of `store` (to give one another host, as the live page does). */
export function endpointAddress(store: StoreKind, endpoint: Omit<Endpoint, 'address'>): string {
  return RULES[store].canonical(endpoint);
}

export const DEFAULT_PORTS: Readonly<Record<StoreKind, number>> = {
  etcd: RULES.etcd.defaultPort,
  zookeeper: RULES.zookeeper.defaultPort,
  consul: RULES.consul.defaultPort,
};

function parseOne(store: StoreKind, text: string): Endpoint | string {
  const rule = RULES[store];
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `${rule.schemes[0]}://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return `"${text}" is not host:port or a URL`;
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (!rule.schemes.includes(scheme)) {
    return `"${text}": scheme "${scheme}" is not one of ${rule.schemes.map((s) => `${s}://`).join(', ')}`;
  }
  if ((url.pathname && url.pathname !== '/') || url.search || url.username) {
    return `"${text}": expected only host and port`;
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!hostSchema.safeParse(host).success) return `"${text}": "${host}" is not a host name or IP address`;
  const port = url.port ? Number(url.port) : rule.defaultPort;
  const endpoint = { host, port, secure: scheme === 'https' };
  return { ...endpoint, address: rule.canonical(endpoint) };
}

/** Parses a list (array or comma-separated); throws a ValidationError naming `field` and every bad entry. */
export function parseEndpoints(
  store: StoreKind,
  input: string | readonly string[],
  field = 'endpoints',
): Endpoint[] {
  const items = (typeof input === 'string' ? input.split(',') : input).map((s) => s.trim()).filter(Boolean);
  const issues: FieldIssue[] = [];
  const endpoints: Endpoint[] = [];
  if (items.length === 0) issues.push({ field, expected: `at least one ${store} endpoint` });
  for (const item of items) {
    const parsed = parseOne(store, item);
    if (typeof parsed === 'string') issues.push({ field, expected: parsed });
    else endpoints.push(parsed);
  }
  if (issues.length > 0) throw new ValidationError(`${store} endpoints`, issues);
  return endpoints;
}
