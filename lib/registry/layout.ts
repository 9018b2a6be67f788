// Where things live in each store (documented in docs/stores.md). The one place that builds keys.
export interface Layout {
  /** etcd and ZooKeeper: `/<ns>/services/<service>` (etcd watches it as a prefix with a trailing '/'). */
  servicePath(service: string): string;
  instancePath(service: string, id: string): string;
  /** etcd and ZooKeeper: `/<ns>/config/<key>`; Consul KV has no leading '/': `<ns>/config/<key>`. */
  configPath(key: string): string;
  configKv(key: string): string;
  /** Consul KV: a device's status (load, color, update time), `<ns>/status/<service>/<id>`. */
  statusKv(service: string, id: string): string;
  /** Consul KV: the prefix of a service's status entries, `<ns>/status/<service>/`. */
  statusPrefix(service: string): string;
}

export function layout(namespace: string): Layout {
  return {
    servicePath: (service) => `/${namespace}/services/${service}`,
    instancePath: (service, id) => `/${namespace}/services/${service}/${id}`,
    configPath: (key) => `/${namespace}/config/${key}`,
    configKv: (key) => `${namespace}/config/${key}`,
    statusKv: (service, id) => `${namespace}/status/${service}/${id}`,
    statusPrefix: (service) => `${namespace}/status/${service}/`,
  };
}
