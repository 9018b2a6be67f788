// The three real stores in secure mode (provision/stores/secure): etcd with TLS + client certificates +
// users (auth enabled, JWT tokens), Consul with ACLs (default deny), ZooKeeper with digest ACLs on the
// namespace. One process each on free loopback ports, a fresh secure folder (unless one is given),
// and per role (device, server, admin) its StoreCredentials and the env a fleetkit command takes.
// Also the raw clients the secure tests check the stores with (etcd3, https, node-zookeeper-client).
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import zookeeper, { type Client } from 'node-zookeeper-client';
import type { StoreCredentials } from '../../lib/registry/index.ts';
import type { StartOptions, StoreKind, StoreProcess } from '../../provision/stores/index.ts';
import {
  DEFAULT_SECURE_NAMESPACE,
  makeSecureFolder,
  roleCredentials,
  roleSettings,
  SECURE_ROLES,
  type SecureFolder,
  type SecureRole,
} from '../../provision/stores/secure/index.ts';
import { startThreeStores } from './stores.ts';

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
  let three: Awaited<ReturnType<typeof startThreeStores>>;
  try {
    three = await startThreeStores(startOptions);
  } catch (error) {
    if (ownsFolder) await rm(path.dirname(dir), { recursive: true, force: true });
    throw error;
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await three.stop();
    if (ownsFolder) await rm(path.dirname(dir), { recursive: true, force: true });
  };
  const byKind = { etcd: three.etcd, zookeeper: three.zookeeper, consul: three.consul };
  const env = three.env;
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
    endpoints: {
      etcd: byKind.etcd.endpoints,
      zookeeper: byKind.zookeeper.endpoints,
      consul: byKind.consul.endpoints,
    },
    roles,
    env,
    stop,
  };
}

/** An etcd3 client with a role's CA and client certificate (PEM text), and a user if `auth` is given. */
export function etcdWithCertificate(
  hosts: string[],
  etcd: StoreCredentials['etcd'],
  auth?: { username: string; password: string },
): Etcd3 {
  const c = etcd ?? {};
  return new Etcd3({
    hosts,
    credentials: {
      rootCertificate: Buffer.from(c.ca ?? ''),
      certChain: Buffer.from(c.cert ?? ''),
      privateKey: Buffer.from(c.key ?? ''),
    },
    ...(auth ? { auth } : {}),
    dialTimeout: 5_000,
  });
}

/**
 * A raw HTTPS put of `/<ns>/config/color` to etcd's JSON gateway with the CA but no client certificate:
 * `HTTP <status> <body>`, or `refused: <message>` when the TLS handshake (which wants one) fails.
 */
export function etcdWithoutCertificate(endpoint: string, ca: string, ns: string): Promise<string> {
  return new Promise((resolve) => {
    const request = https.request(
      new URL('/v3/kv/put', endpoint),
      { method: 'POST', ca, agent: false, servername: 'localhost', timeout: 5_000 },
      (response) => {
        let body = '';
        response.on('data', (d) => (body += d));
        response.on('end', () => resolve(`HTTP ${response.statusCode} ${body}`));
      },
    );
    request.on('error', (error) => resolve(`refused: ${error.message}`));
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.end(
      JSON.stringify({
        key: Buffer.from(`/${ns}/config/color`).toString('base64'),
        value: Buffer.from('"black"').toString('base64'),
      }),
    );
  });
}

/** A ZooKeeper session on `connect` (no retries), with digest `auth` ('user:password') if given. */
export async function zkSession(connect: string, auth?: string): Promise<Client> {
  const client = zookeeper.createClient(connect, { sessionTimeout: 5_000, retries: 0 });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.close();
      reject(new Error('no ZooKeeper session within 5 s'));
    }, 5_000);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve();
    });
    client.connect();
  });
  if (auth) client.addAuthInfo('digest', Buffer.from(auth));
  return client;
}

/** The error code's name of a ZooKeeper call ('NO_AUTH' ...), or 'OK'. */
export function zkCode(run: (done: (error: unknown) => void) => void): Promise<string> {
  return new Promise((resolve) =>
    run((error) => {
      if (!error) return resolve('OK');
      const code = (error as { code?: number }).code;
      resolve(Object.entries(zookeeper.Exception).find(([, v]) => v === code)?.[0] ?? String(error));
    }),
  );
}
