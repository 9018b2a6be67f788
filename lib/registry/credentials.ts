// Credentials of the kit on each store (docs/security.md). They come from the environment or a file,
// never from flags (lib/cli), are never logged or sent to the page, and reach the adapters through
// RegistryOptions.credentials. Every field is optional: a store without credentials is used as before.
import { createSecureContext } from 'node:tls';

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

/** The most each field may hold; a PEM of a few certificates is well under PEM_MAX_CHARS. */
export const CREDENTIAL_LIMITS = { name: 256, secret: 1024, token: 256, pem: 64 * 1024 } as const;

interface Issue {
  field: string;
  expected: string;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters
const CONTROL = /[\u0000-\u001f\u007f]/;
const PEM_BLOCK = (label: RegExp) =>
  new RegExp(`-----BEGIN (${label.source})-----[\\s\\S]+?-----END (${label.source})-----`);
const CERT_PEM = PEM_BLOCK(/CERTIFICATE/);
const KEY_PEM = PEM_BLOCK(/(?:RSA |EC |ENCRYPTED )?PRIVATE KEY/);

/**
 * What is wrong with `credentials` for `store`, field by field. The messages name the field and what
 * is expected, never the value (it may be a secret, or half of one).
 */
export function credentialIssues(store: keyof StoreCredentials, credentials: unknown): Issue[] {
  if (credentials === undefined) return [];
  if (credentials === null || typeof credentials !== 'object' || Array.isArray(credentials))
    return [{ field: 'credentials', expected: 'an object with etcd, consul or zookeeper credentials' }];
  const own = (credentials as Record<string, unknown>)[store];
  if (own === undefined) return [];
  const base = `credentials.${store}`;
  if (own === null || typeof own !== 'object' || Array.isArray(own))
    return [{ field: base, expected: 'an object' }];
  const fields = own as Record<string, unknown>;
  const issues: Issue[] = [];
  const allowed = {
    etcd: ['username', 'password', 'ca', 'cert', 'key'],
    consul: ['token'],
    zookeeper: ['auth'],
  }[store];
  for (const name of Object.keys(fields)) {
    if (!allowed.includes(name))
      issues.push({ field: `${base}.${excerptName(name)}`, expected: 'no such field' });
  }
  const text = (name: string, max: number, rule?: (v: string) => string | undefined): string | undefined => {
    const value = fields[name];
    if (value === undefined || value === '') return undefined;
    const field = `${base}.${name}`;
    if (typeof value !== 'string') {
      issues.push({ field, expected: 'a string' });
      return undefined;
    }
    if (value.length > max) {
      issues.push({ field, expected: `at most ${max} characters` });
      return undefined;
    }
    const problem = rule?.(value);
    if (problem) {
      issues.push({ field, expected: problem });
      return undefined;
    }
    return value;
  };
  const noControl = (v: string) => (CONTROL.test(v) ? 'no control characters' : undefined);
  if (store === 'etcd') {
    text('username', CREDENTIAL_LIMITS.name, noControl);
    text('password', CREDENTIAL_LIMITS.secret, noControl);
    const given = (name: string) => typeof fields[name] === 'string' && fields[name] !== '';
    if (given('username') !== given('password'))
      issues.push({
        field: `${base}.${given('username') ? 'password' : 'username'}`,
        expected: 'a user and a password together (FLEET_ETCD_USER and FLEET_ETCD_PASSWORD)',
      });
    const pem = (name: string, shape: RegExp, what: string) =>
      text(name, CREDENTIAL_LIMITS.pem, (v) => (shape.test(v) ? undefined : `PEM text of ${what}`));
    pem('ca', CERT_PEM, 'a certificate (-----BEGIN CERTIFICATE-----)');
    pem('cert', CERT_PEM, 'a certificate (-----BEGIN CERTIFICATE-----)');
    pem('key', KEY_PEM, 'a private key (-----BEGIN PRIVATE KEY-----)');
    if (given('cert') !== given('key'))
      issues.push({
        field: `${base}.${given('cert') ? 'key' : 'cert'}`,
        expected: 'a client certificate and its key together (FLEET_ETCD_CERT and FLEET_ETCD_KEY)',
      });
  } else if (store === 'consul') {
    text('token', CREDENTIAL_LIMITS.token, (v) =>
      /^[\x21-\x7e]+$/.test(v) ? undefined : 'printable ASCII without spaces (a Consul ACL token)',
    );
  } else {
    text('auth', CREDENTIAL_LIMITS.name + CREDENTIAL_LIMITS.secret + 1, (v) => {
      const colon = v.indexOf(':');
      const user = v.slice(0, Math.max(0, colon));
      const password = v.slice(colon + 1);
      return colon > 0 &&
        user.length <= CREDENTIAL_LIMITS.name &&
        !/\s/.test(user) &&
        !CONTROL.test(user) &&
        password.length > 0 &&
        password.length <= CREDENTIAL_LIMITS.secret &&
        !CONTROL.test(password)
        ? undefined
        : 'user:password (a user without ":" or spaces, then a password; FLEET_ZOOKEEPER_AUTH)';
    });
  }
  return issues;
}

/** A field name from the caller, shown safely (it is not a secret, but it may be anything). */
function excerptName(name: string): string {
  const safe = name.replace(/[^\w-]/g, '?');
  return safe.length > 40 ? `${safe.slice(0, 40)}…` : safe;
}

/**
 * The etcd TLS fields loaded as Node loads them (a PEM that looks right may still not parse, or the key
 * may not be the certificate's): an issue naming the fields and OpenSSL's reason, never their text.
 */
export function tlsIssues(etcd: EtcdCredentials | undefined): Issue[] {
  if (!etcd || !(etcd.ca || etcd.cert || etcd.key)) return [];
  try {
    createSecureContext({
      ca: etcd.ca || undefined,
      cert: etcd.cert || undefined,
      key: etcd.key || undefined,
    });
    return [];
  } catch (error) {
    const raw = String((error as Error)?.message ?? error);
    // OpenSSL's reason is the text after its last "::" ("key values mismatch", "no start line").
    const reason = (/::([\w ,.()-]{1,120})$/.exec(raw)?.[1] ?? 'not loadable').trim();
    const field = etcd.key && /key|private/i.test(reason) ? 'credentials.etcd.key' : 'credentials.etcd';
    return [{ field, expected: `a CA, certificate and key that Node's TLS loads (${reason})` }];
  }
}
