// The secure folder's shape: what `fleetkit stores --secure` makes once and every later run reuses.

/** The three credential sets: the Pis (device), the control host's server, and the kit itself (admin). */
export type SecureRole = 'device' | 'server' | 'admin';
export const SECURE_ROLES: readonly SecureRole[] = ['device', 'server', 'admin'];

/** Every password and token, random, kept in `secrets.json` (0600) so a re-run reuses them. */
export interface SecureSecrets {
  /** etcd users' passwords: root, fleet-server, fleet-device. */
  etcd: { root: string; server: string; device: string };
  /** Consul token SecretIDs (UUIDs, chosen by the kit): master (management), agent (node write), per role. */
  consul: { master: string; agent: string; server: string; device: string };
  /** ZooKeeper digest passwords: super (superDigest), server, device. */
  zookeeper: { super: string; server: string; device: string };
}

/** One role's folder: a complete credentials set that can be copied whole. */
export interface RoleFolder {
  dir: string;
  /** `credentials.env`: FLEET_ETCD_USER ... FLEET_ZOOKEEPER_AUTH, PEM paths relative to `dir`. */
  env: string;
  ca: string;
  cert: string;
  key: string;
}

export interface SecureFolder {
  dir: string;
  /** CA, etcd server certificate, JWT signing keys (absolute paths). ca-key.pem never leaves this folder. */
  files: {
    ca: string;
    caKey: string;
    etcdServerCert: string;
    etcdServerKey: string;
    jwtPrivate: string;
    jwtPublic: string;
    secrets: string;
  };
  roles: Readonly<Record<SecureRole, RoleFolder>>;
  secrets: SecureSecrets;
  /** True when this call made the CA (first run), false when it reused one. */
  created: boolean;
}

/** What a store needs to run secure (StartOptions.secure). */
export interface SecureLaunch {
  folder: SecureFolder;
  /** The kit's namespace the roles' permissions are about, default 'fleet'. */
  namespace: string;
  /** etcd's JWT lifetime (--auth-token ttl), default '5m'; tests of token expiry use a few seconds. */
  etcdJwtTtl?: string;
}

/** User names in each store, per role. */
export const ETCD_USERS: Readonly<Record<SecureRole, string>> = {
  device: 'fleet-device',
  server: 'fleet-server',
  admin: 'root',
};
export const ZOOKEEPER_USERS: Readonly<Record<SecureRole, string>> = {
  device: 'device',
  server: 'server',
  admin: 'super',
};
export const CONSUL_POLICIES = {
  device: 'fleet-device',
  server: 'fleet-server',
  agent: 'fleet-agent',
} as const;
