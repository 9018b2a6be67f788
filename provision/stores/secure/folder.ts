// Making the secure folder once, reusing it after: CA, etcd server certificate, JWT keys, secrets,
// and one folder per role (device/, server/, admin/) with credentials.env and its PEM files.
// The folder is 0700 and every file 0600; nothing here prints a secret.
import { createPrivateKey, createPublicKey, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { newJwtKeys, newKeyPem, type SubjectAltNames, serverAltNames, signCertificate } from './certs.ts';
import {
  ETCD_USERS,
  type RoleFolder,
  SECURE_ROLES,
  type SecureFolder,
  type SecureRole,
  type SecureSecrets,
  ZOOKEEPER_USERS,
} from './types.ts';

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/** A password: 24 random bytes, URL-safe base64 (no character an env file or a digest id trips on). */
export function newPassword(): string {
  return randomBytes(24).toString('base64url');
}

function newSecrets(): SecureSecrets {
  return {
    etcd: { root: newPassword(), server: newPassword(), device: newPassword() },
    consul: { master: randomUUID(), agent: randomUUID(), server: randomUUID(), device: randomUUID() },
    zookeeper: { super: newPassword(), server: newPassword(), device: newPassword() },
  };
}

async function readText(file: string): Promise<string | undefined> {
  return readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
}

/** Write `content` with mode 0600 (atomically: a reader never sees half a key), unless already so. */
async function writePrivate(file: string, content: string): Promise<void> {
  if ((await readText(file)) === content) {
    await chmod(file, FILE_MODE);
    return;
  }
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, content, { mode: FILE_MODE });
  await chmod(temp, FILE_MODE);
  await rename(temp, file);
}

async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  await chmod(dir, DIR_MODE);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PASSWORD = /^[A-Za-z0-9_-]{16,128}$/;

/** Read secrets.json, filling in any missing value (a folder from an older kit gains the new ones). */
function mergeSecrets(saved: unknown): SecureSecrets {
  const fresh = newSecrets();
  const old = (typeof saved === 'object' && saved !== null ? saved : {}) as Record<
    string,
    Record<string, unknown>
  >;
  const pick = <S extends keyof SecureSecrets>(store: S): SecureSecrets[S] => {
    const result = { ...fresh[store] } as Record<string, string>;
    for (const key of Object.keys(result)) {
      const own = old[store];
      const value = typeof own === 'object' && own !== null && Object.hasOwn(own, key) ? own[key] : undefined;
      // Only what this file makes: a value that could break credentials.env or a digest id is made anew.
      const shape = store === 'consul' ? UUID : PASSWORD;
      if (typeof value === 'string' && shape.test(value)) result[key] = value;
    }
    return result as SecureSecrets[S];
  };
  return { etcd: pick('etcd'), consul: pick('consul'), zookeeper: pick('zookeeper') };
}

/** A certificate still usable: parses, and its notAfter is more than 30 days away. */
function stillValid(pem: string | undefined): boolean {
  if (!pem) return false;
  try {
    return new Date(new X509Certificate(pem).validTo).getTime() > Date.now() + 30 * 24 * 3600 * 1000;
  } catch {
    return false;
  }
}

/** credentials.env of one role: the settings lib/cli reads (FLEET_CREDENTIALS), PEM paths relative. */
export function credentialsEnv(role: SecureRole, secrets: SecureSecrets): string {
  const consul = role === 'admin' ? secrets.consul.master : secrets.consul[role];
  const etcdPassword = role === 'admin' ? secrets.etcd.root : secrets.etcd[role];
  const zkPassword = role === 'admin' ? secrets.zookeeper.super : secrets.zookeeper[role];
  return [
    `# fleetkit ${role} credentials, made by \`fleetkit stores --secure\`. Keep this folder 0700, its files 0600.`,
    role === 'device'
      ? '# The device folder goes to the Pis whole (flash and deploy carry it).'
      : role === 'server'
        ? '# For `fleetkit server` on the control host: FLEET_CREDENTIALS=<this file>.'
        : "# root/master/super: for the kit's own setup and tests. Never copy it to a Pi.",
    `FLEET_ETCD_USER=${ETCD_USERS[role]}`,
    `FLEET_ETCD_PASSWORD=${etcdPassword}`,
    'FLEET_ETCD_CA=ca.pem',
    'FLEET_ETCD_CERT=client.pem',
    'FLEET_ETCD_KEY=client-key.pem',
    `FLEET_CONSUL_TOKEN=${consul}`,
    `FLEET_ZOOKEEPER_AUTH=${ZOOKEEPER_USERS[role]}:${zkPassword}`,
    '',
  ].join('\n');
}

function roleFolder(dir: string, role: SecureRole): RoleFolder {
  const own = path.join(dir, role);
  return {
    dir: own,
    env: path.join(own, 'credentials.env'),
    ca: path.join(own, 'ca.pem'),
    cert: path.join(own, 'client.pem'),
    key: path.join(own, 'client-key.pem'),
  };
}

/**
 * Make the secure folder at `dir` if it is not there, or reuse it: the CA, the JWT keys and the secrets
 * are kept once made (stores already provisioned with them stay usable); a missing or expiring
 * certificate is made again with the same CA. Role folders are rewritten to match.
 */
export async function makeSecureFolder(dir: string): Promise<SecureFolder> {
  const root = path.resolve(dir);
  await privateDir(root);
  const files = {
    ca: path.join(root, 'ca.pem'),
    caKey: path.join(root, 'ca-key.pem'),
    etcdServerCert: path.join(root, 'etcd-server.pem'),
    etcdServerKey: path.join(root, 'etcd-server-key.pem'),
    jwtPrivate: path.join(root, 'jwt-key.pem'),
    jwtPublic: path.join(root, 'jwt-public.pem'),
    secrets: path.join(root, 'secrets.json'),
  };

  const savedSecrets = await readText(files.secrets);
  const secrets = mergeSecrets(
    savedSecrets === undefined ? undefined : parseSecrets(savedSecrets, files.secrets),
  );
  await writePrivate(files.secrets, `${JSON.stringify(secrets, null, 2)}\n`);

  let caPem = await readText(files.ca);
  let caKeyPem = await readText(files.caKey);
  // A CA whose key is unreadable or not its own cannot sign: a new one (the Pis need the new folder).
  const created = !caPem || !caKeyPem || !stillValid(caPem) || !keyMatches(caPem, caKeyPem);
  if (created) {
    caKeyPem = newKeyPem();
    caPem = await signCertificate({ kind: 'ca', commonName: 'fleetkit CA', keyPem: caKeyPem });
    await writePrivate(files.caKey, caKeyPem);
    await writePrivate(files.ca, caPem);
  }
  const ca = { certPem: caPem as string, keyPem: caKeyPem as string };

  if (!jwtPairValid(await readText(files.jwtPrivate), await readText(files.jwtPublic))) {
    const jwt = newJwtKeys();
    await writePrivate(files.jwtPrivate, jwt.privatePem);
    await writePrivate(files.jwtPublic, jwt.publicPem);
  }

  /**
   * A certificate + key pair, made again when missing, expiring, signed by an older CA, or no longer
   * `fits` (the server's: a name or address of this machine it does not carry).
   */
  const pair = async (
    certFile: string,
    keyFile: string,
    make: (keyPem: string) => Promise<string>,
    fits: (certPem: string) => boolean = () => true,
  ) => {
    const cert = await readText(certFile);
    const key = await readText(keyFile);
    const kept =
      !created &&
      cert &&
      key &&
      stillValid(cert) &&
      signedBy(cert, ca.certPem) &&
      keyMatches(cert, key) &&
      fits(cert);
    if (kept) {
      await chmod(certFile, FILE_MODE);
      await chmod(keyFile, FILE_MODE);
      return { cert, key };
    }
    const newKey = newKeyPem();
    const newCert = await make(newKey);
    await writePrivate(keyFile, newKey);
    await writePrivate(certFile, newCert);
    return { cert: newCert, key: newKey };
  };

  // A control host on a new network (the venue's Wi-Fi) has a new address: the Pis and the attendees
  // reach etcd there, so the certificate is made again to name it (same CA: nothing changes on a Pi).
  const alt = serverAltNames();
  await pair(
    files.etcdServerCert,
    files.etcdServerKey,
    (keyPem) => signCertificate({ kind: 'server', commonName: 'fleetkit etcd', keyPem, ca, alt }),
    (certPem) => namesAll(certPem, alt),
  );

  const roles = {} as Record<SecureRole, RoleFolder>;
  await Promise.all(
    SECURE_ROLES.map(async (role) => {
      const folder = roleFolder(root, role);
      roles[role] = folder;
      await privateDir(folder.dir);
      // The client certificate's CN is the etcd user: with --client-cert-auth etcd takes it as that user.
      await pair(folder.cert, folder.key, (keyPem) =>
        signCertificate({ kind: 'client', commonName: ETCD_USERS[role], keyPem, ca }),
      );
      await writePrivate(folder.ca, ca.certPem);
      await writePrivate(folder.env, credentialsEnv(role, secrets));
    }),
  );
  return { dir: root, files, roles, secrets, created };
}

/** The certificate names every IPv4 address and DNS name of `alt`. */
export function namesAll(certPem: string, alt: SubjectAltNames): boolean {
  try {
    const names = new Set(
      (new X509Certificate(certPem).subjectAltName ?? '').split(',').map((name) => name.trim()),
    );
    return (
      alt.ips.filter((ip) => !ip.includes(':')).every((ip) => names.has(`IP Address:${ip}`)) &&
      alt.dns.every((dns) => names.has(`DNS:${dns}`))
    );
  } catch {
    return false;
  }
}

function signedBy(certPem: string, caPem: string): boolean {
  try {
    return new X509Certificate(certPem).verify(new X509Certificate(caPem).publicKey);
  } catch {
    return false;
  }
}

/** secrets.json as written by this file; anything else is said plainly (never with its content). */
function parseSecrets(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(
      `${file} is not valid JSON: restore it, or delete it to make new passwords and tokens ` +
        '(then every Pi needs the new device folder)',
    );
  }
}

/** The certificate's public key is the key's. */
function keyMatches(certPem: string, keyPem: string): boolean {
  try {
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    const fromCert = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
    return fromKey.equals(fromCert);
  } catch {
    return false;
  }
}

/** Both JWT files readable and a pair (else etcd would not start): made again when not. */
function jwtPairValid(privatePem: string | undefined, publicPem: string | undefined): boolean {
  if (!privatePem || !publicPem) return false;
  try {
    const fromPrivate = createPublicKey(createPrivateKey(privatePem)).export({ type: 'spki', format: 'der' });
    return fromPrivate.equals(createPublicKey(publicPem).export({ type: 'spki', format: 'der' }));
  } catch {
    return false;
  }
}
