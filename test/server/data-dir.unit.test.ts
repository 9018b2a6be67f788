// The server's --data-dir / FLEET_SERVER_DATA: where the timeline outlives a restart. Resolved to an
// absolute path from the working directory; a value with control characters is refused by name.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { isSettingsError } from '../../lib/cli/settings-error.ts';
import { DEFAULT_DATA_DIR, parseServerConfig } from '../../server/config.ts';

const base = { FLEET_ETCD: 'http://127.0.0.1:2379' };
const dataDir = (argv: string[], env: Record<string, string> = {}) => {
  const parsed = parseServerConfig({ argv, env: { ...base, ...env } });
  return parsed.help ? undefined : parsed.config.dataDir;
};

test('default .cache/server under the working directory; the flag and the variable, as absolute paths', () => {
  assert.equal(dataDir([]), path.resolve(DEFAULT_DATA_DIR));
  assert.equal(dataDir([], { FLEET_SERVER_DATA: 'state/fleet' }), path.resolve('state/fleet'));
  assert.equal(dataDir(['--data-dir', '/var/lib/fleetkit'], { FLEET_SERVER_DATA: 'x' }), '/var/lib/fleetkit');
});

test('a path with a line break or a control character is refused, naming the setting', () => {
  for (const bad of ['/tmp/a\nb', '/tmp/\u0007', 'x\u007f']) {
    assert.throws(
      () => parseServerConfig({ argv: [], env: { ...base, FLEET_SERVER_DATA: bad } }),
      (error) =>
        isSettingsError(error) &&
        /FLEET_SERVER_DATA/.test(error.message) &&
        /directory path/.test(error.message),
      JSON.stringify(bad),
    );
  }
});
