// etcd's side of secure mode: the launch flags (TLS with client certificates, JWT tokens) and, once it
// answers, the users, roles and key-range permissions, then `auth enable`.
// A client certificate's CN is an etcd user (--client-cert-auth): the admin folder's cert is `root`.
import { readFile } from 'node:fs/promises';
import { Etcd3, EtcdRoleExistsError, EtcdUserExistsError, Range } from 'etcd3';
import { ETCD_USERS, type SecureLaunch } from './types.ts';

/** How long a JWT lives: etcd's own default; clients re-authenticate when it runs out. */
export const JWT_TTL = '5m';

export function etcdSecureArgs(secure: SecureLaunch): string[] {
  const jwtTtl = secure.etcdJwtTtl ?? JWT_TTL;
  const f = secure.folder.files;
  return [
    '--client-cert-auth',
    `--trusted-ca-file=${f.ca}`,
    `--cert-file=${f.etcdServerCert}`,
    `--key-file=${f.etcdServerKey}`,
    `--auth-token=jwt,pub-key=${f.jwtPublic},priv-key=${f.jwtPrivate},sign-method=RS256,ttl=${jwtTtl}`,
  ];
}

/** PEM text of the admin (root) client set, for probes and setup. */
export async function etcdAdminTls(secure: SecureLaunch): Promise<{ ca: string; cert: string; key: string }> {
  const admin = secure.folder.roles.admin;
  const [ca, cert, key] = await Promise.all([
    readFile(admin.ca, 'utf8'),
    readFile(admin.cert, 'utf8'),
    readFile(admin.key, 'utf8'),
  ]);
  return { ca, cert, key };
}

/** The roles' permissions on the namespace. */
export function etcdPermissions(namespace: string) {
  return {
    // The devices register and heartbeat under services/ and read config/.
    'fleet-device': [
      { permission: 'Readwrite' as const, range: Range.prefix(`/${namespace}/services/`) },
      { permission: 'Read' as const, range: Range.prefix(`/${namespace}/config/`) },
    ],
    // The server reads everything of the namespace, writes config/ (and audience devices under services/).
    'fleet-server': [{ permission: 'Readwrite' as const, range: Range.prefix(`/${namespace}/`) }],
  };
}

/** Users root, fleet-server, fleet-device with their roles, then auth enable. Safe to run again. */
export async function etcdSecureSetup(endpoint: string, secure: SecureLaunch, signal: AbortSignal) {
  const tls = await etcdAdminTls(secure);
  const client = new Etcd3({
    hosts: [endpoint],
    credentials: {
      rootCertificate: Buffer.from(tls.ca),
      certChain: Buffer.from(tls.cert),
      privateKey: Buffer.from(tls.key),
    },
    dialTimeout: 5_000,
  });
  const abort = () => client.close();
  signal.addEventListener('abort', abort, { once: true });
  try {
    const passwords = secure.folder.secrets.etcd;
    const users = [
      [ETCD_USERS.admin, passwords.root, 'root'],
      [ETCD_USERS.server, passwords.server, 'fleet-server'],
      [ETCD_USERS.device, passwords.device, 'fleet-device'],
    ] as const;
    for (const role of ['root', 'fleet-server', 'fleet-device']) {
      await client
        .role(role)
        .create()
        .catch((error) => {
          if (!(error instanceof EtcdRoleExistsError)) throw error;
        });
    }
    const permissions = etcdPermissions(secure.namespace);
    await client.role('fleet-device').grant(permissions['fleet-device']);
    await client.role('fleet-server').grant(permissions['fleet-server']);
    for (const [user, password, role] of users) {
      await client
        .user(user)
        .create(password)
        .catch(async (error) => {
          if (!(error instanceof EtcdUserExistsError)) throw error;
          await client.user(user).setPassword(password);
        });
      await client.user(user).addRole(role);
    }
    await client.auth.authEnable();
  } finally {
    signal.removeEventListener('abort', abort);
    client.close();
  }
}
