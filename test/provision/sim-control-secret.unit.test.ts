// The simulated fleet's control secret on its way: to the server in its environment only (a flag is
// refused, a URL without its secret is a settings error), to a `fleetkit sim` command of another
// terminal through the 0600 file the running fleet writes for its port.
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { isSettingsError } from '../../lib/cli/settings.ts';
import {
  SIM_CONTROL_DIR,
  simControlFile,
  simControlSecret,
  simControlSettings,
} from '../../provision/sim/control.ts';
import { parseServerConfig } from '../../server/config.ts';

const SECRET = 'a'.repeat(43);

const refusal = (argv: string[], env: Record<string, string>): string => {
  try {
    parseServerConfig({ argv, env: { FLEET_ETCD: '127.0.0.1:2379', ...env } });
  } catch (error) {
    assert.ok(isSettingsError(error), String(error));
    return JSON.stringify(error.issues);
  }
  assert.fail('accepted');
};

test('the server: FLEET_SIM_CONTROL_SECRET from the environment; its flag refused; a URL without it named', () => {
  const parsed = parseServerConfig({
    argv: [],
    env: {
      FLEET_ETCD: '127.0.0.1:2379',
      FLEET_SIM_CONTROL: 'http://127.0.0.1:7070',
      FLEET_SIM_CONTROL_SECRET: SECRET,
    },
  });
  assert.ok(!parsed.help);
  assert.equal(parsed.config.simControl, 'http://127.0.0.1:7070');
  assert.equal(parsed.config.simControlSecret, SECRET);
  const flag = refusal(['--sim-control-secret', SECRET], { FLEET_SIM_CONTROL: 'http://127.0.0.1:7070' });
  assert.match(flag, /FLEET_SIM_CONTROL_SECRET: give it in the environment or a file \(a flag shows in ps\)/);
  assert.ok(!flag.includes(SECRET), 'the secret is not echoed');
  assert.match(
    refusal([], { FLEET_SIM_CONTROL: 'http://127.0.0.1:7070' }),
    /FLEET_SIM_CONTROL_SECRET.*the secret of --sim-control/,
  );
  assert.match(
    refusal([], { FLEET_SIM_CONTROL: 'http://127.0.0.1:7070', FLEET_SIM_CONTROL_SECRET: 'short' }),
    /16-128 letters/,
  );
});

test('a sim command: the secret from the environment, else from the file of its port; else what to do', async () => {
  const port = 40_000 + (process.pid % 20_000);
  const file = simControlFile(port);
  const url = `http://127.0.0.1:${port}`;
  await rm(file, { force: true });
  assert.equal(await simControlSecret(url, { FLEET_SIM_CONTROL_SECRET: SECRET }), SECRET);
  await assert.rejects(
    simControlSecret(url, {}),
    /no simulated fleet answers on port \d+ .*fleetkit sim start 6/,
  );
  await mkdir(SIM_CONTROL_DIR, { recursive: true, mode: 0o700 });
  await writeFile(file, simControlSettings({ url, secret: SECRET }), { mode: 0o600 });
  try {
    assert.equal(await simControlSecret(url, {}), SECRET);
    assert.match(await readFile(file, 'utf8'), new RegExp(`^FLEET_SIM_CONTROL=${url}$`, 'm'));
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    await writeFile(file, '# nothing\n');
    await assert.rejects(simControlSecret(url, {}), /has no FLEET_SIM_CONTROL_SECRET line/);
  } finally {
    await rm(file, { force: true });
  }
});
