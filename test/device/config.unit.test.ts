import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseAgentConfig } from '../../device/config.ts';
import { SettingsError } from '../../lib/cli/settings.ts';

const parse = (argv: string[], env: Record<string, string> = {}) => {
  const parsed = parseAgentConfig({ argv, env });
  assert.equal(parsed.help, false);
  return parsed.help ? undefined! : parsed.config;
};

test('defaults, and the stores as canonical endpoint lists', () => {
  const config = parse([], { FLEET_ETCD: '10.0.0.1, 10.0.0.2:2380', FLEET_CONSUL: 'consul-host' });
  assert.deepEqual(config.stores, {
    etcd: ['http://10.0.0.1:2379', 'http://10.0.0.2:2380'],
    consul: ['http://consul-host:8500'],
  });
  assert.equal(config.namespace, 'fleet');
  assert.equal(config.service, 'web');
  assert.equal(config.port, 8080);
  assert.equal(config.deviceId, undefined, 'found from the hardware at start');
  assert.equal(config.liveness.leaseTtlSeconds, 5);
  assert.ok(Object.isFrozen(config));
});

test('flags win over the environment, which wins over the env file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fleetkit-env-'));
  const file = path.join(dir, 'agent.env');
  writeFileSync(
    file,
    '# comment\nFLEET_ETCD=http://file:2379\nFLEET_PORT=1111\nexport FLEET_SERVICE="from-file"\nFLEET_LABELS=zone=file\n',
  );
  const config = parse(['--env-file', file, '--port', '3333', '--label', 'table=7'], {
    FLEET_PORT: '2222',
    FLEET_ETCD_TTL: '9',
  });
  assert.equal(config.port, 3333);
  assert.equal(config.service, 'from-file');
  assert.deepEqual(config.stores.etcd, ['http://file:2379']);
  assert.deepEqual(config.labels, { table: '7' });
  assert.equal(config.liveness.leaseTtlSeconds, 9);
});

test('an env file: bad lines and unknown settings are named with file and line', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fleetkit-env-'));
  const file = path.join(dir, 'agent.env');
  writeFileSync(file, 'FLEET_ETCD=http://x:2379\nthis is not a setting\nFLEET_PROT=8080\n');
  assert.throws(
    () => parse(['--env-file', file]),
    (e: unknown) =>
      e instanceof SettingsError &&
      e.fields.includes(`${file}:2`) &&
      e.fields.includes(`${file}:3`) &&
      /FLEET_PROT/.test(e.message),
  );
  assert.throws(() => parse(['--env-file', path.join(dir, 'missing.env')]), /no such file/);
});

test('the Consul load interval: 15 s by default, 0 allowed, bad values named by flag and variable', () => {
  assert.equal(parse([], { FLEET_CONSUL: 'c' }).consulLoadIntervalSeconds, 15);
  assert.equal(parse(['--consul-load-interval', '0'], { FLEET_CONSUL: 'c' }).consulLoadIntervalSeconds, 0);
  assert.equal(
    parse([], { FLEET_CONSUL: 'c', FLEET_CONSUL_LOAD_INTERVAL: '30' }).consulLoadIntervalSeconds,
    30,
  );
  assert.throws(
    () => parse(['--consul-load-interval', '-1'], { FLEET_CONSUL: 'c' }),
    (e: unknown) => e instanceof SettingsError && /--consul-load-interval/.test(e.message),
  );
  assert.throws(
    () => parse([], { FLEET_CONSUL: 'c', FLEET_CONSUL_LOAD_INTERVAL: 'soon' }),
    (e: unknown) => e instanceof SettingsError && /FLEET_CONSUL_LOAD_INTERVAL/.test(e.message),
  );
});

test('the load: the machine by default (a Pi), or the process; a base stress of 0 to 100 % of one core', () => {
  const plain = parse([], { FLEET_ETCD: 'e' });
  assert.equal(plain.loadFrom, 'machine');
  assert.equal(plain.stressPercent, 0);
  const sim = parse(['--stress', '30'], { FLEET_ETCD: 'e', FLEET_LOAD_FROM: 'process' });
  assert.equal(sim.loadFrom, 'process');
  assert.equal(sim.stressPercent, 30);
  assert.equal(parse([], { FLEET_ETCD: 'e', FLEET_STRESS: '100' }).stressPercent, 100);
  for (const [argv, env, name, expected] of [
    [['--load-from', 'cpu'], {}, '--load-from', /one of machine, process/],
    [[], { FLEET_LOAD_FROM: 'Process' }, 'FLEET_LOAD_FROM', /one of machine, process/],
    [['--stress', '101'], {}, '--stress', /a whole percent of one core from 0 to 100/],
    [[], { FLEET_STRESS: '12.5' }, 'FLEET_STRESS', /a whole percent of one core from 0 to 100/],
    [[], { FLEET_STRESS: 'lots' }, 'FLEET_STRESS', /a whole percent of one core from 0 to 100/],
  ] as const) {
    assert.throws(
      () => parse([...argv], { FLEET_ETCD: 'e', ...env }),
      (e: unknown) =>
        e instanceof SettingsError && e.fields.some((f) => f.includes(name)) && expected.test(e.message),
      `${argv.join(' ')} ${JSON.stringify(env)}`,
    );
  }
});

test('every bad setting at once, by the name the user typed', () => {
  try {
    parse(['--port', 'eighty', '--consul-check', 'tcp', '--label', 'novalue', '--nope', 'stray'], {
      FLEET_ZOOKEEPER: 'http://zk:2181',
      FLEET_CONSUL_DEREGISTER_AFTER: '10',
    });
    assert.fail('should throw');
  } catch (error) {
    assert.ok(error instanceof SettingsError);
    const fields = error.fields.join(' | ');
    for (const name of [
      '--nope',
      'stray',
      '--port',
      '--consul-check',
      '--label',
      'FLEET_ZOOKEEPER',
      'FLEET_CONSUL_DEREGISTER_AFTER',
    ]) {
      assert.ok(fields.includes(name), `${name} in ${fields}`);
    }
  }
  assert.throws(() => parse([]), /at least one store/);
});

test('--help lists every setting with its variable and default', () => {
  const parsed = parseAgentConfig({ argv: ['--help'], env: {} });
  assert.equal(parsed.help, true);
  if (parsed.help) {
    for (const text of [
      '--etcd',
      'FLEET_ETCD',
      '--consul-check',
      'FLEET_REPORT_INTERVAL',
      'FLEET_LOAD_FROM',
      'FLEET_STRESS',
      '(default: 8080)',
      'FLEET_ENV_FILE',
    ]) {
      assert.ok(parsed.text.includes(text), text);
    }
  }
});
