// The three real stores in secure mode (provision/stores/secure): etcd with TLS + client certificates +
// users (auth enabled, JWT tokens), Consul with ACLs (default deny), ZooKeeper with digest ACLs on the
// namespace. One process each on free loopback ports, a fresh secure folder (unless one is given),
// and per role (device, server, admin) its StoreCredentials and the env a fleetkit command takes.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { StoreCredentials } from '../../lib/registry/index.ts';
import {
  type StartOptions,
  type StoreKind,
  type StoreProcess,
  startStore,
  storeKinds,
} from '../../provision/stores/index.ts';
import {
  DEFAULT_SECURE_NAMESPACE,
  makeSecureFolder,
  roleCredentials,
  roleSettings,
  SECURE_ROLES,
  type SecureFolder,
  type SecureRole,
} from '../../provision/stores/secure/index.ts';
import { storeEnv } from './agents.ts';

export interface SecureRoleSet {
  /** Parsed credentials (PEM text), for createRegistry({ credentials }). */
  credentials: StoreCredentials;
  /** `<folder>/<role>/credentials.env`. */
  file: string;
  /** FLEET_ETCD/ZOOKEEPER/CONSUL (the secure endpoints) + FLEET_CREDENTIALS=<file>, for a fleetkit command. */
  env: Record<string, string>;
  /** The file's settings themselves (FLEET_ETCD_USER ..., PEM paths absolute), for tests that set them one by one. */
  settings: Record<string, string>;
}

export interface SecureStores extends Readonly<Record<StoreKind, StoreProcess>> {
  folder: SecureFolder;
  namespace: string;
  /** Each store's client endpoints (etcd https://...). */
  endpoints: Record<StoreKind, string[]>;
  roles: Record<SecureRole, SecureRoleSet>;
  /** FLEET_ETCD, FLEET_ZOOKEEPER and FLEET_CONSUL naming the three (no credentials). */
  env(): Record<string, string>;
  /** Stop the three, remove their data dirs and the secure folder if this made it. Safe to call twice. */
  stop(): Promise<void>;
}

export interface SecureStoresOptions {
  /** Namespace the roles' permissions are made for, default 'fleet'. */
  namespace?: string;
  /** An existing (or to-be-made) secure folder; default a fresh temp one, removed by stop(). */
  folder?: string;
  /** etcd's JWT lifetime, e.g. '3s' to test token expiry (default '5m'). */
  etcdJwtTtl?: string;
  /** Listen address (StartOptions.host), default 127.0.0.1; '0.0.0.0' for a classroom on the LAN. */
  host?: string;
  log?: StartOptions['log'];
  zookeeper?: StartOptions['zookeeper'];
  consul?: StartOptions['consul'];
  startTimeoutMs?: number;
}

export async function startSecureStores(opts: SecureStoresOptions = {}): Promise<SecureStores> {
  const ownsFolder = opts.folder === undefined;
  const dir = opts.folder ?? path.join(await mkdtemp(path.join(os.tmpdir(), 'fleetkit-secure-')), 'secure');
  const folder = await makeSecureFolder(dir);
  const namespace = opts.namespace ?? DEFAULT_SECURE_NAMESPACE;
  const startOptions: StartOptions = {
    secure: { folder, namespace, ...(opts.etcdJwtTtl ? { etcdJwtTtl: opts.etcdJwtTtl } : {}) },
    host: opts.host,
    log: opts.log,
    zookeeper: opts.zookeeper,
    consul: opts.consul,
    startTimeoutMs: opts.startTimeoutMs,
  };
  const settled = await Promise.allSettled(storeKinds.map((kind) => startStore(kind, startOptions)));
  const started = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s) => s.status === 'rejected');
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(started.map((store) => store.stop({ removeData: true })));
    if (ownsFolder) await rm(path.dirname(dir), { recursive: true, force: true });
  };
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const byKind = Object.fromEntries(started.map((store) => [store.kind, store])) as Record<
    StoreKind,
    StoreProcess
  >;
  const env = () => storeEnv(byKind);
  const roles = {} as Record<SecureRole, SecureRoleSet>;
  for (const role of SECURE_ROLES) {
    roles[role] = {
      credentials: await roleCredentials(folder, role),
      file: folder.roles[role].env,
      env: { ...env(), FLEET_CREDENTIALS: folder.roles[role].env },
      settings: await roleSettings(folder, role),
    };
  }
  return {
    ...byKind,
    folder,
    namespace,
    endpoints: Object.fromEntries(started.map((s) => [s.kind, s.endpoints])) as Record<StoreKind, string[]>,
    roles,
    env,
    stop,
  };
}
