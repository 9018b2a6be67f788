// Credentials of the kit on each store (docs/security.md). They come from the environment or a file,
// never from flags (lib/cli), are never logged or sent to the page, and reach the adapters through
// RegistryOptions.credentials. Every field is optional: a store without credentials is used as before.

/** etcd: user/password auth (the etcd3 client's `auth`) and TLS with a client certificate (`credentials`). */
export interface EtcdCredentials {
  username?: string;
  password?: string;
  /** PEM text of the CA that signed the server's certificate (https:// endpoints). */
  ca?: string;
  /** PEM text of this client's certificate and key (etcd --client-cert-auth). */
  cert?: string;
  key?: string;
}

/** Consul: an ACL token, sent as X-Consul-Token on every request. */
export interface ConsulCredentials {
  token?: string;
}

/** ZooKeeper: a digest identity (`user:password`), sent with addAuthInfo on every (re)connect. */
export interface ZooKeeperCredentials {
  auth?: string;
}

export interface StoreCredentials {
  etcd?: EtcdCredentials;
  consul?: ConsulCredentials;
  zookeeper?: ZooKeeperCredentials;
}

/** True when `c` carries anything for `store` (a registry without any behaves as before). */
export function hasCredentials(c: StoreCredentials | undefined, store: keyof StoreCredentials): boolean {
  const own = c?.[store] as Record<string, unknown> | undefined;
  return !!own && Object.values(own).some((v) => typeof v === 'string' && v.length > 0);
}
