// The kit's credentials on the stores as settings, in one place for every command that connects
// (agent, server, sim): FLEET_ETCD_USER / _PASSWORD, FLEET_ETCD_CA / _CERT / _KEY (paths of PEM
// files), FLEET_CONSUL_TOKEN, FLEET_ZOOKEEPER_AUTH (user:password), or FLEET_CREDENTIALS, a KEY=value
// file of them (`fleetkit stores --secure` writes one per role) whose relative paths are read against
// its own folder. The variables (and the command's settings file) win over FLEET_CREDENTIALS.
// Secrets come from the environment or a file only, never a flag (settings.ts, SettingSpec.secret), and
// no message here ever holds one: a bad value is described, never echoed.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import type { StoreCredentials } from '../registry/index.ts';
import { fileProblem } from './checks.ts';
import { parseEnvFile, type RawSettings, type SettingSpec } from './settings.ts';
import { type SettingIssue, SettingsError } from './settings-error.ts';

/** The credentials variables, in the order --help shows them. */
export const CREDENTIAL_VARIABLES = [
  'FLEET_ETCD_USER',
  'FLEET_ETCD_PASSWORD',
  'FLEET_ETCD_CA',
  'FLEET_ETCD_CERT',
  'FLEET_ETCD_KEY',
  'FLEET_CONSUL_TOKEN',
  'FLEET_ZOOKEEPER_AUTH',
] as const;
export type CredentialVariable = (typeof CREDENTIAL_VARIABLES)[number];

const KEYS: Record<CredentialVariable, string> = {
  FLEET_ETCD_USER: 'etcdUser',
  FLEET_ETCD_PASSWORD: 'etcdPassword',
  FLEET_ETCD_CA: 'etcdCa',
  FLEET_ETCD_CERT: 'etcdCert',
  FLEET_ETCD_KEY: 'etcdKey',
  FLEET_CONSUL_TOKEN: 'consulToken',
  FLEET_ZOOKEEPER_AUTH: 'zookeeperAuth',
};

export const CREDENTIALS_FILE_SETTING: SettingSpec = {
  key: 'credentials',
  flag: 'credentials',
  env: 'FLEET_CREDENTIALS',
  help: 'a file of the credentials below (KEY=value lines, as `fleetkit stores --secure` writes; relative paths against its folder); the variables win over it',
  defaultText: 'none',
};

export const CREDENTIAL_SETTINGS: readonly SettingSpec[] = [
  CREDENTIALS_FILE_SETTING,
  { key: KEYS.FLEET_ETCD_USER, flag: 'etcd-user', env: 'FLEET_ETCD_USER', help: 'etcd user', secret: true },
  {
    key: KEYS.FLEET_ETCD_PASSWORD,
    flag: 'etcd-password',
    env: 'FLEET_ETCD_PASSWORD',
    help: "that user's password",
    secret: true,
  },
  {
    key: KEYS.FLEET_ETCD_CA,
    flag: 'etcd-ca',
    env: 'FLEET_ETCD_CA',
    help: 'PEM file of the CA of the https:// etcd endpoints',
    secret: true,
  },
  {
    key: KEYS.FLEET_ETCD_CERT,
    flag: 'etcd-cert',
    env: 'FLEET_ETCD_CERT',
    help: "PEM file of this client's certificate (etcd --client-cert-auth)",
    secret: true,
  },
  {
    key: KEYS.FLEET_ETCD_KEY,
    flag: 'etcd-key',
    env: 'FLEET_ETCD_KEY',
    help: "PEM file of that certificate's private key",
    secret: true,
  },
  {
    key: KEYS.FLEET_CONSUL_TOKEN,
    flag: 'consul-token',
    env: 'FLEET_CONSUL_TOKEN',
    help: 'Consul ACL token',
    secret: true,
  },
  {
    key: KEYS.FLEET_ZOOKEEPER_AUTH,
    flag: 'zookeeper-auth',
    env: 'FLEET_ZOOKEEPER_AUTH',
    help: 'ZooKeeper digest identity, user:password',
    secret: true,
  },
];

/** A PEM file larger than this is no certificate or key (and /dev/zero is not read forever). */
const MAX_PEM_BYTES = 256 * 1024;
const MAX_SECRET_CHARS = 4096;

const PEM_KINDS: Record<'FLEET_ETCD_CA' | 'FLEET_ETCD_CERT' | 'FLEET_ETCD_KEY', RegExp> = {
  FLEET_ETCD_CA: /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/,
  FLEET_ETCD_CERT: /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/,
  FLEET_ETCD_KEY:
    /-----BEGIN ((RSA|EC|ENCRYPTED) )?PRIVATE KEY-----[\s\S]+?-----END ((RSA|EC|ENCRYPTED) )?PRIVATE KEY-----/,
};
const PEM_WORDS: Record<keyof typeof PEM_KINDS, string> = {
  FLEET_ETCD_CA: 'a PEM file of a certificate (-----BEGIN CERTIFICATE-----)',
  FLEET_ETCD_CERT: 'a PEM file of a certificate (-----BEGIN CERTIFICATE-----)',
  FLEET_ETCD_KEY: 'a PEM file of a private key (-----BEGIN PRIVATE KEY-----)',
};

/** What a command got: the credentials, and the variables that carry them to a child agent. */
export interface LoadedCredentials {
  credentials: StoreCredentials;
  /**
   * For an agent this command starts (the simulated fleet): FLEET_CREDENTIALS and the variables given,
   * every path made absolute (the child may run elsewhere). Empty when none were given.
   */
  env: Record<string, string>;
  /** Which were given, in words without any secret ("etcd user, etcd TLS, consul token"), or null. */
  summary: string | null;
}

interface Given {
  value: string;
  /** Where it came from, as the user would find it: "FLEET_ETCD_CA", "creds.env:3", "agent.env:2". */
  where: string;
  /** The folder a relative path is read against. */
  base: string;
  /** Read from FLEET_CREDENTIALS (a child agent reads that file itself). */
  fromFile: boolean;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * The credentials from a command's raw settings (CREDENTIAL_SETTINGS among its specs), every problem
 * added to `issues` with the variable and where it came from named; the values never appear in them.
 */
export function loadCredentials(
  values: RawSettings,
  sources: Readonly<Record<string, string>>,
  issues: SettingIssue[],
  cwd = process.cwd(),
): LoadedCredentials {
  const given = new Map<CredentialVariable, Given>();
  const env: Record<string, string> = {};
  const file = values[CREDENTIALS_FILE_SETTING.key];
  if (typeof file === 'string' && file !== '') {
    const where = sources[CREDENTIALS_FILE_SETTING.key] ?? CREDENTIALS_FILE_SETTING.env;
    const field =
      where === 'FLEET_CREDENTIALS'
        ? where
        : where.startsWith('--')
          ? `${where} (FLEET_CREDENTIALS)`
          : `FLEET_CREDENTIALS (${where})`;
    const absolute = path.resolve(cwd, file);
    const fromFile = readCredentialsFile(absolute, field, issues);
    for (const [variable, [value, line]] of fromFile)
      given.set(variable, { value, where: line, base: path.dirname(absolute), fromFile: true });
    if (fromFile.size > 0 || issues.length === 0) env.FLEET_CREDENTIALS = absolute;
  }
  for (const variable of CREDENTIAL_VARIABLES) {
    const value = values[KEYS[variable]];
    if (typeof value !== 'string' || value === '') continue;
    const where = sources[KEYS[variable]] ?? variable;
    given.set(variable, {
      value,
      where: where === variable ? variable : `${variable} (${where})`,
      base: cwd,
      fromFile: false,
    });
  }
  const credentials = buildCredentials(given, issues, env);
  return { credentials: hidden(credentials), env, summary: summarize(credentials) };
}

function readCredentialsFile(
  file: string,
  field: string,
  issues: SettingIssue[],
): Map<CredentialVariable, [string, string]> {
  let text: string;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    if (stat.size > 64 * 1024) {
      issues.push({
        field,
        expected: `a credentials file of KEY=value lines (${file} is ${stat.size} bytes)`,
      });
      return new Map();
    }
    text = readFileSync(file, 'utf8');
  } catch (error) {
    issues.push({ field, expected: `a readable credentials file (${file}: ${fileProblem(error)})` });
    return new Map();
  }
  const known = new Set<string>(CREDENTIAL_VARIABLES);
  try {
    const parsed = parseEnvFile(text, path.basename(file), known);
    // Each line named by the file's own name and line: "device/credentials.env:3".
    const shown = path.join(path.basename(path.dirname(file)), path.basename(file));
    return new Map(
      [...parsed].map(([key, [value, where]]) => [
        key as CredentialVariable,
        [value, where.replace(path.basename(file), shown)],
      ]),
    );
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    // parseEnvFile names an unknown key; in this file a stray line may be a secret: never echoed.
    for (const issue of error.issues)
      issues.push({
        field: `${field}: ${issue.field}`,
        expected: issue.expected.startsWith('a known setting')
          ? `one of ${CREDENTIAL_VARIABLES.join(', ')}`
          : issue.expected,
      });
    return new Map();
  }
}

function buildCredentials(
  given: Map<CredentialVariable, Given>,
  issues: SettingIssue[],
  env: Record<string, string>,
): StoreCredentials {
  const credentials: StoreCredentials = {};
  const text = (variable: CredentialVariable): string | undefined => {
    const g = given.get(variable);
    if (!g) return undefined;
    if (g.value.length > MAX_SECRET_CHARS || CONTROL.test(g.value) || g.value.trim() !== g.value) {
      issues.push({
        field: g.where,
        expected: `at most ${MAX_SECRET_CHARS} characters, without spaces around it or control characters`,
      });
      return undefined;
    }
    return g.value;
  };
  const pem = (variable: keyof typeof PEM_KINDS): string | undefined => {
    const g = given.get(variable);
    if (!g) return undefined;
    const file = path.resolve(g.base, g.value);
    // A path is no secret: said as given, and where it leads.
    const named = g.value === file ? file : `${g.value}, that is ${file}`;
    try {
      const stat = statSync(file);
      if (!stat.isFile()) {
        issues.push({ field: g.where, expected: `${PEM_WORDS[variable]} (${named}: not a file)` });
        return undefined;
      }
      if (stat.size > MAX_PEM_BYTES) {
        issues.push({
          field: g.where,
          expected: `${PEM_WORDS[variable]} (${named}: ${stat.size} bytes, more than any PEM file)`,
        });
        return undefined;
      }
      const content = readFileSync(file, 'utf8');
      if (!PEM_KINDS[variable].test(content)) {
        issues.push({ field: g.where, expected: `${PEM_WORDS[variable]} (${named}: not one)` });
        return undefined;
      }
      if (!g.fromFile) env[variable] = file;
      return content;
    } catch (error) {
      issues.push({ field: g.where, expected: `${PEM_WORDS[variable]} (${named}: ${fileProblem(error)})` });
      return undefined;
    }
  };
  // Only what did not come from FLEET_CREDENTIALS (the child reads that file itself).
  const passOn = (variable: CredentialVariable, value: string | undefined) => {
    if (value !== undefined && given.get(variable)?.fromFile === false) env[variable] = value;
  };

  const username = text('FLEET_ETCD_USER');
  const password = text('FLEET_ETCD_PASSWORD');
  if (given.has('FLEET_ETCD_USER') !== given.has('FLEET_ETCD_PASSWORD')) {
    const missing = given.has('FLEET_ETCD_USER') ? 'FLEET_ETCD_PASSWORD' : 'FLEET_ETCD_USER';
    const other = given.has('FLEET_ETCD_USER') ? 'FLEET_ETCD_USER' : 'FLEET_ETCD_PASSWORD';
    issues.push({ field: missing, expected: `given with ${other} (etcd takes a user and its password)` });
  }
  if (username?.includes(':')) {
    issues.push({ field: given.get('FLEET_ETCD_USER')!.where, expected: 'an etcd user name without ":"' });
  }
  passOn('FLEET_ETCD_USER', username);
  passOn('FLEET_ETCD_PASSWORD', password);
  const ca = pem('FLEET_ETCD_CA');
  const cert = pem('FLEET_ETCD_CERT');
  const key = pem('FLEET_ETCD_KEY');
  if (given.has('FLEET_ETCD_CERT') !== given.has('FLEET_ETCD_KEY')) {
    const missing = given.has('FLEET_ETCD_CERT') ? 'FLEET_ETCD_KEY' : 'FLEET_ETCD_CERT';
    issues.push({
      field: missing,
      expected: 'given with FLEET_ETCD_CERT / FLEET_ETCD_KEY (a client certificate goes with its key)',
    });
  }
  const etcd = { username, password, ca, cert, key };
  if (Object.values(etcd).some((v) => v !== undefined))
    credentials.etcd = Object.fromEntries(Object.entries(etcd).filter(([, v]) => v !== undefined));

  const token = text('FLEET_CONSUL_TOKEN');
  if (token !== undefined) {
    if (/\s/.test(token)) {
      issues.push({
        field: given.get('FLEET_CONSUL_TOKEN')!.where,
        expected: 'a Consul ACL token (its SecretID: no spaces)',
      });
    } else {
      credentials.consul = { token };
      passOn('FLEET_CONSUL_TOKEN', token);
    }
  }

  const auth = text('FLEET_ZOOKEEPER_AUTH');
  if (auth !== undefined) {
    const at = auth.indexOf(':');
    if (at <= 0 || at === auth.length - 1) {
      issues.push({
        field: given.get('FLEET_ZOOKEEPER_AUTH')!.where,
        expected: 'user:password (a ZooKeeper digest identity: a user, ":", then its password)',
      });
    } else {
      credentials.zookeeper = { auth };
      passOn('FLEET_ZOOKEEPER_AUTH', auth);
    }
  }
  return credentials;
}

/** Which credentials there are, in words without a secret. */
function summarize(c: StoreCredentials): string | null {
  const parts: string[] = [];
  if (c.etcd?.username) parts.push(`etcd user ${c.etcd.username}`);
  if (c.etcd?.ca) parts.push('etcd CA');
  if (c.etcd?.cert) parts.push('etcd client certificate');
  if (c.consul?.token) parts.push('Consul token');
  if (c.zookeeper?.auth)
    parts.push(`ZooKeeper identity ${c.zookeeper.auth.slice(0, c.zookeeper.auth.indexOf(':'))}`);
  return parts.length > 0 ? parts.join(', ') : null;
}

/**
 * The same object, which shows no secret when logged or serialized by mistake (JSON.stringify of a
 * config, util.inspect, a pino field): it reads "[credentials: etcd, consul]". The adapters read its
 * fields as usual.
 */
export function hidden(c: StoreCredentials): StoreCredentials {
  const shown = `[credentials: ${Object.keys(c).join(', ') || 'none'}]`;
  for (const part of Object.values(c)) {
    Object.defineProperty(part, 'toJSON', { value: () => '[hidden]', enumerable: false });
    Object.defineProperty(part, inspect.custom, { value: () => '[hidden]', enumerable: false });
  }
  Object.defineProperty(c, 'toJSON', { value: () => shown, enumerable: false });
  Object.defineProperty(c, inspect.custom, { value: () => shown, enumerable: false });
  return c;
}

/** A credentials file made ready to carry to a Pi: its files (PEM files under fixed names), checked. */
export interface PackedCredentials {
  /** The file as given (absolute), for messages. */
  source: string;
  /** credentials.env (relative paths) and the PEM files it names, to put in one folder. */
  files: { name: string; data: Buffer }[];
  /** Which credentials, in words without a secret. */
  summary: string;
  /** It carries an etcd CA: the Pis reach etcd over https://. */
  etcdTls: boolean;
}

/** The names the PEM files get in a carried folder (its credentials.env names them so). */
export const PACKED_PEM_NAMES: Record<'FLEET_ETCD_CA' | 'FLEET_ETCD_CERT' | 'FLEET_ETCD_KEY', string> = {
  FLEET_ETCD_CA: 'ca.pem',
  FLEET_ETCD_CERT: 'client.pem',
  FLEET_ETCD_KEY: 'client-key.pem',
};
export const PACKED_ENV_NAME = 'credentials.env';

/** A value as parseEnvFile reads it back unchanged. */
const envValue = (value: string) => (/^[A-Za-z0-9._:@/+=,-]*$/.test(value) ? value : `'${value}'`);

/**
 * The device role's credentials file (`fleetkit stores --secure` writes <secure>/device/credentials.env)
 * read, checked as the agent will check it, and made into a folder's files for flash and deploy. The
 * admin role's (etcd root, ZooKeeper super) is refused: a card carries it to every Pi. Problems go to
 * `issues` under `field`; none holds a secret.
 */
export function packCredentials(
  file: string,
  field: string,
  issues: SettingIssue[],
  cwd = process.cwd(),
): PackedCredentials | undefined {
  const before = issues.length;
  const absolute = path.resolve(cwd, file);
  const fromFile = readCredentialsFile(absolute, field, issues);
  if (issues.length > before) return undefined;
  const given = new Map<CredentialVariable, Given>();
  for (const [variable, [value, line]] of fromFile)
    given.set(variable, { value, where: line, base: path.dirname(absolute), fromFile: true });
  const credentials = buildCredentials(given, issues, {});
  if (given.size === 0)
    issues.push({
      field,
      expected: `a credentials file with at least one of ${CREDENTIAL_VARIABLES.join(', ')} (${absolute} has none)`,
    });
  // The roles `fleetkit stores --secure` makes: only the device role's may go onto every Pi.
  const zkUser = credentials.zookeeper?.auth?.slice(0, credentials.zookeeper.auth.indexOf(':'));
  const role =
    credentials.etcd?.username === 'root' || zkUser === 'super'
      ? 'admin'
      : credentials.etcd?.username === 'fleet-server' || zkUser === 'server'
        ? 'server'
        : undefined;
  if (role)
    issues.push({
      field,
      expected: `the devices' credentials (<secure folder>/device/credentials.env), not the ${role}'s (${absolute}): every Pi would carry them`,
    });
  if (issues.length > before) return undefined;
  const lines = [
    `# ${PACKED_ENV_NAME}: the devices' credentials on the stores, from ${path.basename(path.dirname(absolute))}/${path.basename(absolute)}`,
  ];
  const files: { name: string; data: Buffer }[] = [];
  for (const variable of CREDENTIAL_VARIABLES) {
    const g = given.get(variable);
    if (!g) continue;
    if (variable in PACKED_PEM_NAMES) {
      const name = PACKED_PEM_NAMES[variable as keyof typeof PACKED_PEM_NAMES];
      files.push({ name, data: readFileSync(path.resolve(g.base, g.value)) });
      lines.push(`${variable}=${name}`);
    } else {
      lines.push(`${variable}=${envValue(g.value)}`);
    }
  }
  files.unshift({ name: PACKED_ENV_NAME, data: Buffer.from(`${lines.join('\n')}\n`) });
  return {
    source: absolute,
    files,
    summary: summarize(credentials) ?? 'none',
    etcdTls: credentials.etcd?.ca !== undefined,
  };
}
