// `fleetkit sim stress ID PERCENT [SECONDS]` as typed: the load checked where it is typed, every bad
// argument named (the running fleet checks it again: control.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { SettingsError } from '../../lib/cli/settings.ts';
import { parseSimCommand } from '../../provision/sim/main.ts';
import { checkStressParams, DEFAULT_STRESS_SECONDS } from '../../server/simulation-contract.ts';

const parse = (...argv: string[]) => {
  const parsed = parseSimCommand({ argv, env: {} });
  assert.equal(parsed.help, false);
  return parsed.help ? undefined! : parsed.config;
};
const refused = (argv: string[], ...expected: RegExp[]) =>
  assert.throws(
    () => parse(...argv),
    (e: unknown) => e instanceof SettingsError && expected.every((re) => re.test(e.message)),
    argv.join(' '),
  );

test('sim stress: PERCENT, and SECONDS defaulting to 60', () => {
  assert.deepEqual(parse('stress', 'sim-3', '80'), {
    verb: 'stress',
    id: 'sim-3',
    control: 'http://127.0.0.1:7070',
    params: { percent: 80, seconds: DEFAULT_STRESS_SECONDS },
  });
  assert.deepEqual((parse('stress', 'sim-3', '0', '0') as { params: unknown }).params, {
    percent: 0,
    seconds: 0,
  });
  assert.deepEqual(
    (parse('stress', 'sim-1', '100', '600', '--control', 'http://127.0.0.1:7171') as { control: string })
      .control,
    'http://127.0.0.1:7171',
  );
});

test('sim stress: a missing or bad PERCENT or SECONDS is named with what was expected; more arguments are refused', () => {
  refused(['stress', 'sim-3'], /PERCENT: how much of one core to burn, 0 to 100/);
  refused(['stress'], /ID: a device id/);
  refused(['stress', 'sim-3', '101'], /PERCENT: a whole percent of one core from 0 to 100/);
  refused(['stress', 'sim-3', 'lots'], /PERCENT: a whole percent of one core/);
  refused(['stress', 'sim-3', '50', '2.5'], /SECONDS: whole seconds \(0 ends a load\) from 0 to 86400/);
  refused(['stress', 'sim-3', '50', '86401'], /SECONDS: /);
  refused(['stress', 'sim-3', '50', '60', 'more'], /more: nothing more/);
  refused(['kill', 'sim-3', '50'], /50: nothing more/);
});

test('the load as the control API and the page send it: an object with both fields, each checked', () => {
  assert.deepEqual(checkStressParams({ percent: 80, seconds: 60 }), { params: { percent: 80, seconds: 60 } });
  assert.deepEqual(checkStressParams(null).issues, [
    { field: 'request', expected: 'an object such as {"percent": 80, "seconds": 60}' },
  ]);
  assert.deepEqual(
    checkStressParams({ percent: -5 }).issues?.map((i) => i.field),
    ['percent', 'seconds'],
  );
});

test('sim start: the devices get the credentials as the variables an agent reads, paths absolute; secrets never as flags', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fleetkit-sim-creds-'));
  writeFileSync(
    path.join(dir, 'credentials.env'),
    'FLEET_CONSUL_TOKEN=tok-from-file\nFLEET_ZOOKEEPER_AUTH=device:pw\n',
  );
  const parsed = parseSimCommand({
    argv: ['start', '2', '--credentials', path.relative(process.cwd(), path.join(dir, 'credentials.env'))],
    env: { FLEET_CONSUL: 'http://127.0.0.1:8500', FLEET_CONSUL_TOKEN: 'tok-from-env' },
  });
  assert.ok(!parsed.help);
  const start = parsed.config as { credentialsEnv: Record<string, string>; credentialsSummary: string };
  assert.deepEqual(start.credentialsEnv, {
    FLEET_CREDENTIALS: path.join(dir, 'credentials.env'),
    FLEET_CONSUL_TOKEN: 'tok-from-env',
  });
  assert.equal(start.credentialsSummary, 'Consul token, ZooKeeper identity device');
  assert.throws(
    () => parseSimCommand({ argv: ['start', '--consul-token', 'tok-secret'], env: { FLEET_CONSUL: 'x' } }),
    (e: unknown) =>
      e instanceof SettingsError &&
      /--consul-token: FLEET_CONSUL_TOKEN: give it in the environment or a file/.test(e.message) &&
      !e.message.includes('tok-secret'),
  );
});
