// The credentials settings (lib/cli/credentials-settings.ts) through the agent's and the server's real
// settings: the environment and files only, never a flag; FLEET_CREDENTIALS with paths against its
// folder, the variables winning over it; every bad input named by its variable and where it came from,
// and no secret in any message, --help, JSON or inspect output. PEM files are made with openssl.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { inspect } from 'node:util';
import { parseAgentConfig } from '../../device/config.ts';
import { CREDENTIAL_VARIABLES, loadCredentials } from '../../lib/cli/credentials-settings.ts';
import { isSettingsError, type SettingIssue, type SettingsError } from '../../lib/cli/settings.ts';
import { parseServerConfig } from '../../server/config.ts';
import { Fuzz, fuzzSeed } from '../support/fuzz.ts';

const STORES = { FLEET_ETCD: 'https://127.0.0.1:2379', FLEET_CONSUL: 'http://127.0.0.1:8500' };
const PASSWORD = 'pw-Secret-4f9a2c';
const TOKEN = '0b1e9c7e-5d1a-4c7f-9a51-secrettoken1';
const ZK = 'device:zk-Secret-77aa';

let dir: string;
let ca: string;
let cert: string;
let key: string;

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'fleetkit-creds-'));
  const role = path.join(dir, 'device');
  mkdirSync(role);
  key = path.join(role, 'client-key.pem');
  cert = path.join(role, 'client.pem');
  ca = path.join(role, 'ca.pem');
  execFileSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    '/CN=fleet-device',
  ]);
  writeFileSync(ca, execFileSync('openssl', ['x509', '-in', cert]));
  writeFileSync(
    path.join(role, 'credentials.env'),
    `# written by fleetkit stores --secure\nFLEET_ETCD_USER=fleet-device\nFLEET_ETCD_PASSWORD=${PASSWORD}\nFLEET_ETCD_CA=ca.pem\nFLEET_ETCD_CERT=client.pem\nFLEET_ETCD_KEY=client-key.pem\nFLEET_CONSUL_TOKEN=${TOKEN}\nFLEET_ZOOKEEPER_AUTH=${ZK}\n`,
  );
  chmodSync(path.join(role, 'credentials.env'), 0o600);
});
after(() => undefined);

const agent = (argv: string[], env: Record<string, string>) => {
  const parsed = parseAgentConfig({ argv, env: { ...STORES, ...env } });
  assert.equal(parsed.help, false);
  return parsed.help ? undefined! : parsed.config;
};

/** The settings error of a parse, checked to hold none of `secrets` anywhere. */
function refused(
  parse: () => unknown,
  secrets: string[] = [PASSWORD, TOKEN, ZK, 'zk-Secret'],
): SettingsError {
  try {
    parse();
  } catch (error) {
    assert.ok(isSettingsError(error), `a settings error, not ${error}`);
    for (const secret of secrets)
      assert.ok(!error.message.includes(secret), `no secret in "${error.message}"`);
    return error;
  }
  assert.fail('the settings were accepted');
}
const hasIssue = (error: SettingsError, field: RegExp, expected: RegExp) =>
  assert.ok(
    error.issues.some((i: SettingIssue) => field.test(i.field) && expected.test(i.expected)),
    `an issue ${field} / ${expected} in ${JSON.stringify(error.issues)}`,
  );

describe('credentials settings', () => {
  test('from the environment: the StoreCredentials each adapter takes, PEM text read from the files', () => {
    const config = agent([], {
      FLEET_ETCD_USER: 'fleet-device',
      FLEET_ETCD_PASSWORD: PASSWORD,
      FLEET_ETCD_CA: ca,
      FLEET_ETCD_CERT: cert,
      FLEET_ETCD_KEY: key,
      FLEET_CONSUL_TOKEN: TOKEN,
      FLEET_ZOOKEEPER_AUTH: ZK,
    });
    const etcd = config.credentials.etcd!;
    assert.equal(etcd.username, 'fleet-device');
    assert.equal(etcd.password, PASSWORD);
    assert.match(etcd.ca!, /^-----BEGIN CERTIFICATE-----/);
    assert.match(etcd.cert!, /^-----BEGIN CERTIFICATE-----/);
    assert.match(etcd.key!, /-----BEGIN PRIVATE KEY-----/);
    assert.deepEqual({ ...config.credentials.consul }, { token: TOKEN });
    assert.deepEqual({ ...config.credentials.zookeeper }, { auth: ZK });
    assert.equal(
      config.credentialsSummary,
      'etcd user fleet-device, etcd CA, etcd client certificate, Consul token, ZooKeeper identity device',
    );
    // A config logged or serialized by mistake shows no secret.
    for (const shown of [
      JSON.stringify(config),
      inspect(config, { depth: 10 }),
      JSON.stringify(config.credentials),
    ]) {
      for (const secret of [PASSWORD, TOKEN, ZK, 'PRIVATE KEY'])
        assert.ok(!shown.includes(secret), `no ${secret} in ${shown.slice(0, 200)}`);
    }
    assert.match(JSON.stringify(config), /"credentials":"\[credentials: etcd, consul, zookeeper\]"/);
  });

  test('none: an empty object, and the kit runs as before', () => {
    const config = agent([], {});
    assert.deepEqual(config.credentials, {});
    assert.equal(config.credentialsSummary, null);
  });

  test('FLEET_CREDENTIALS: relative paths against its folder; the variables win over it', () => {
    const file = path.join(dir, 'device', 'credentials.env');
    const fromFile = agent([], { FLEET_CREDENTIALS: file });
    assert.equal(fromFile.credentials.etcd?.password, PASSWORD);
    assert.match(fromFile.credentials.etcd?.key ?? '', /PRIVATE KEY/);
    assert.equal(fromFile.credentials.zookeeper?.auth, ZK);
    // From another working directory too, and as --credentials (a path is no secret: a flag is fine).
    const viaFlag = agent(['--credentials', path.relative(process.cwd(), file)], {});
    assert.equal(viaFlag.credentials.consul?.token, TOKEN);
    const overridden = agent([], {
      FLEET_CREDENTIALS: file,
      FLEET_ZOOKEEPER_AUTH: 'server:other-pw',
      FLEET_CONSUL_TOKEN: 'another-token',
    });
    assert.equal(overridden.credentials.zookeeper?.auth, 'server:other-pw');
    assert.equal(overridden.credentials.consul?.token, 'another-token');
    assert.equal(overridden.credentials.etcd?.username, 'fleet-device');
  });

  test('what a child agent is given: FLEET_CREDENTIALS and the variables, paths made absolute', () => {
    const issues: SettingIssue[] = [];
    const loaded = loadCredentials(
      { credentials: 'device/credentials.env', etcdCa: 'device/ca.pem', consulToken: 'tok-1' },
      { credentials: 'FLEET_CREDENTIALS', etcdCa: 'FLEET_ETCD_CA', consulToken: 'FLEET_CONSUL_TOKEN' },
      issues,
      dir,
    );
    assert.deepEqual(issues, []);
    assert.deepEqual(loaded.env, {
      FLEET_CREDENTIALS: path.join(dir, 'device', 'credentials.env'),
      FLEET_ETCD_CA: ca,
      FLEET_CONSUL_TOKEN: 'tok-1',
    });
  });

  test('a secret given as a flag is refused by name, its value never echoed; --help shows no such flag', () => {
    const flags: [string, string][] = [
      ['--etcd-password', 'FLEET_ETCD_PASSWORD'],
      ['--etcd-user', 'FLEET_ETCD_USER'],
      ['--consul-token', 'FLEET_CONSUL_TOKEN'],
      ['--zookeeper-auth', 'FLEET_ZOOKEEPER_AUTH'],
      ['--etcd-key', 'FLEET_ETCD_KEY'],
    ];
    for (const [flag, variable] of flags) {
      for (const argv of [[flag, PASSWORD], [`${flag}=${PASSWORD}`], [flag, PASSWORD, flag, PASSWORD]]) {
        const error = refused(() => agent(argv, {}));
        assert.deepEqual(error.issues, [
          { field: flag, expected: `${variable}: give it in the environment or a file (a flag shows in ps)` },
        ]);
      }
    }
    for (const [flag, variable] of [
      ['--presenter-token', 'FLEET_PRESENTER_TOKEN'],
      ['--store-control-secret', 'FLEET_STORE_CONTROL_SECRET'],
      ['--etcd-password', 'FLEET_ETCD_PASSWORD'],
    ] as const) {
      const error = refused(
        () => parseServerConfig({ argv: [flag, 'abcdefgh12345678secret'], env: STORES }),
        ['abcdefgh12345678secret'],
      );
      hasIssue(
        error,
        new RegExp(`^${flag}$`),
        new RegExp(`^${variable}: give it in the environment or a file`),
      );
    }
    for (const parsed of [
      parseAgentConfig({ argv: ['--help'], env: {} }),
      parseServerConfig({ argv: ['--help'], env: {} }),
    ]) {
      assert.equal(parsed.help, true);
      const text = parsed.help ? parsed.text : '';
      for (const variable of [...CREDENTIAL_VARIABLES, 'FLEET_CREDENTIALS'])
        assert.match(text, new RegExp(`\\b${variable}\\b`));
      assert.match(text, /--credentials VALUE\s+FLEET_CREDENTIALS/);
      for (const flag of [
        '--etcd-password',
        '--etcd-user',
        '--consul-token',
        '--zookeeper-auth',
        '--etcd-ca',
      ])
        assert.ok(!text.includes(flag), `${flag} is not in --help`);
      assert.match(
        text,
        /^ {4,}FLEET_ETCD_PASSWORD\s+that user's password \[environment or file only: no flag\]$/m,
      );
    }
    const serverHelp = parseServerConfig({ argv: ['--help'], env: {} });
    assert.ok(serverHelp.help && !serverHelp.text.includes('--presenter-token'));
    assert.ok(serverHelp.help && !serverHelp.text.includes('--store-control-secret'));
  });

  test('bad input: named by variable and where it came from, with what was expected, no secret', () => {
    const notPem = path.join(dir, 'not-pem.txt');
    writeFileSync(notPem, `${PASSWORD}\n`);
    const cases: [Record<string, string>, RegExp, RegExp][] = [
      [
        { FLEET_ETCD_CA: path.join(dir, 'missing.pem') },
        /^FLEET_ETCD_CA$/,
        /a PEM file of a certificate .*: no such file\)/,
      ],
      [{ FLEET_ETCD_CA: notPem }, /^FLEET_ETCD_CA$/, /a PEM file of a certificate .*not-pem.txt: not one\)/],
      [{ FLEET_ETCD_CA: dir }, /^FLEET_ETCD_CA$/, /not a file/],
      [{ FLEET_ETCD_CERT: cert, FLEET_ETCD_KEY: cert }, /^FLEET_ETCD_KEY$/, /a PEM file of a private key/],
      [{ FLEET_ETCD_CERT: cert }, /^FLEET_ETCD_KEY$/, /a client certificate goes with its key/],
      [{ FLEET_ETCD_USER: 'fleet-device' }, /^FLEET_ETCD_PASSWORD$/, /given with FLEET_ETCD_USER/],
      [{ FLEET_ETCD_PASSWORD: PASSWORD }, /^FLEET_ETCD_USER$/, /given with FLEET_ETCD_PASSWORD/],
      [{ FLEET_ZOOKEEPER_AUTH: 'zk-Secret-no-colon' }, /^FLEET_ZOOKEEPER_AUTH$/, /^user:password \(/],
      [{ FLEET_ZOOKEEPER_AUTH: ':zk-Secret' }, /^FLEET_ZOOKEEPER_AUTH$/, /^user:password/],
      [{ FLEET_ZOOKEEPER_AUTH: 'device:' }, /^FLEET_ZOOKEEPER_AUTH$/, /^user:password/],
      [{ FLEET_CONSUL_TOKEN: `${TOKEN} x` }, /^FLEET_CONSUL_TOKEN$/, /no spaces/],
      [{ FLEET_CONSUL_TOKEN: `${TOKEN}\n` }, /^FLEET_CONSUL_TOKEN$/, /control characters/],
      [
        { FLEET_CREDENTIALS: path.join(dir, 'nope.env') },
        /^FLEET_CREDENTIALS$/,
        /a readable credentials file .*no such file/,
      ],
    ];
    for (const [env, field, expected] of cases) {
      const error = refused(() => agent([], env), [PASSWORD, TOKEN, 'zk-Secret']);
      hasIssue(error, field, expected);
    }
    // A bad line of the credentials file: named by file and line, a stray key not echoed.
    const bad = path.join(dir, 'device', 'bad.env');
    writeFileSync(
      bad,
      `FLEET_ETCD_CA=missing-ca.pem\nhunter2_Secret=1\nFLEET_ZOOKEEPER_AUTH=zk-Secret\nnot a line\n`,
    );
    const error = refused(() => agent([], { FLEET_CREDENTIALS: bad }), ['hunter2', 'zk-Secret']);
    hasIssue(error, /^FLEET_CREDENTIALS: bad\.env:2$/, /^one of FLEET_ETCD_USER, /);
    hasIssue(error, /bad\.env:4$/, /a line of the form/);
    // The lines parse: the CA's path is read against the file's folder and named so.
    writeFileSync(bad, 'FLEET_ETCD_CA=missing-ca.pem\nFLEET_ZOOKEEPER_AUTH=zk-Secret\n');
    const named = refused(() => agent([], { FLEET_CREDENTIALS: bad }), [PASSWORD, 'zk-Secret']);
    hasIssue(
      named,
      /^device\/bad\.env:1$/,
      new RegExp(`missing-ca.pem, that is ${path.join(dir, 'device')}/missing-ca.pem: no such file`),
    );
    hasIssue(named, /^device\/bad\.env:2$/, /^user:password/);
    // From the agent's settings file: named with it.
    const envFile = path.join(dir, 'agent.env');
    writeFileSync(envFile, 'FLEET_ZOOKEEPER_AUTH=zk-Secret\n');
    hasIssue(
      refused(() => agent(['--env-file', envFile], {})),
      /^FLEET_ZOOKEEPER_AUTH \(.*agent\.env:1\)$/,
      /^user:password/,
    );
  });

  test('fuzz: no value of a secret ever appears in an error (seeded)', (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`FUZZ_SEED=${seed}`);
    const fuzz = new Fuzz(seed, [8, 36]);
    for (let i = 0; i < 400; i++) {
      const secret = `S${fuzz.string()}${i}`;
      if (secret.includes('\u0000')) continue;
      const variable = fuzz.pick([
        'FLEET_ETCD_PASSWORD',
        'FLEET_CONSUL_TOKEN',
        'FLEET_ZOOKEEPER_AUTH',
        'FLEET_ETCD_USER',
      ]);
      const env: Record<string, string> = { [variable]: secret };
      const argv = fuzz.chance(0.3)
        ? [`--${fuzz.pick(['etcd-password', 'consul-token', 'zookeeper-auth'])}`, secret]
        : [];
      try {
        agent(argv, env);
      } catch (error) {
        assert.ok(isSettingsError(error), `seed ${seed}: ${error}`);
        if (secret.length > 3)
          assert.ok(
            !error.message.includes(secret.slice(1)),
            `seed ${seed}: the secret in "${error.message.slice(0, 300)}"`,
          );
      }
    }
  });
});
