// The class code's pieces without a server: the per-address limit of wrong codes (a fake clock), the
// constant-time comparison (case, dashes and spaces do not count; anything not a string is no), the
// made codes, and the server's settings for them (FLEET_CLASS_CREDENTIALS / FLEET_CLASS_CODE: no flag,
// the device role's file only, classroom only, the values never echoed) with a real secure folder.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeSecureFolder, type SecureFolder } from '../../../provision/stores/secure/index.ts';
import { parseServerConfig } from '../../../server/config.ts';
import { CodeTries, sameClassCode } from '../../../server/http/kit.ts';
import { isClassCode, makeClassCode, normalizeClassCode } from '../../../server/kit-contract.ts';

const STORES = { FLEET_ETCD: 'http://127.0.0.1:2379' };

const configOf = (input: Parameters<typeof parseServerConfig>[0]) => {
  const parsed = parseServerConfig(input);
  assert.ok('config' in parsed);
  return parsed.config;
};

describe('the class code', () => {
  let dir: string;
  let folder: SecureFolder;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fleetkit-class-'));
    folder = await makeSecureFolder(path.join(dir, 'secure'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('made codes: 8 characters of an unambiguous alphabet in two groups, all different', () => {
    const codes = new Set(Array.from({ length: 2000 }, makeClassCode));
    assert.equal(codes.size, 2000);
    for (const code of codes) {
      assert.match(code, /^[a-hjkmnp-z2-9]{4}-[a-hjkmnp-z2-9]{4}$/);
      assert.ok(isClassCode(code));
    }
  });

  test('compared as typed from a board: case, dashes and spaces do not count; nothing else is the code', () => {
    const code = 'k7mq-3xfa';
    for (const typed of ['k7mq-3xfa', 'K7MQ3XFA', ' k7mq 3xfa ', 'k7-mq-3x-fa'])
      assert.ok(sameClassCode(typed, code));
    for (const typed of ['k7mq-3xf', 'k7mq-3xfab', '', 'x'.repeat(201), 'k7mq-3xfá'])
      assert.equal(sameClassCode(typed, code), false, typed);
    for (const typed of [undefined, null, 42, ['k7mq-3xfa'], { code }])
      assert.equal(sameClassCode(typed, code), false);
    assert.equal(normalizeClassCode('AB-cd 12'), 'abcd12');
    assert.equal(isClassCode('abc'), false);
    assert.equal(isClassCode('abc-def'), true);
    assert.equal(isClassCode('abc/def'), false);
  });

  test('5 wrong codes per address per minute, then held until the minute ends; other addresses are not', () => {
    let now = 0;
    const tries = new CodeTries(5, 60_000, () => now);
    for (let i = 0; i < 4; i++) tries.wrong('10.0.0.1');
    assert.equal(tries.blockedFor('10.0.0.1'), 0);
    tries.wrong('10.0.0.1');
    assert.equal(tries.blockedFor('10.0.0.1'), 60);
    assert.equal(tries.blockedFor('10.0.0.2'), 0);
    now = 45_500;
    assert.equal(tries.blockedFor('10.0.0.1'), 15);
    now = 60_000;
    assert.equal(tries.blockedFor('10.0.0.1'), 0);
    tries.wrong('10.0.0.1');
    assert.equal(tries.blockedFor('10.0.0.1'), 0);
    // A flood of addresses is bounded (10,000 remembered), and still counted.
    for (let i = 0; i < 25_000; i++) tries.wrong(`10.1.${i >> 8}.${i & 255}`);
    assert.equal(tries.blockedFor('10.1.0.0'), 0);
  });

  test("the server's settings: the device role's file, classroom only, no flag, the code never echoed", () => {
    const env = {
      ...STORES,
      FLEET_CLASSROOM: 'on',
      FLEET_CLASS_CREDENTIALS: folder.roles.device.env,
      FLEET_ENV_FILE: '',
    };
    const made = { config: configOf({ argv: [], env }) };
    assert.ok(made.config.classCredentials);
    assert.equal(made.config.classCredentials.codeMade, true);
    assert.ok(isClassCode(made.config.classCredentials.code));
    assert.equal(
      JSON.stringify(made.config).includes(made.config.classCredentials.code),
      false,
      'hidden from JSON',
    );
    assert.deepEqual(made.config.classCredentials.packed.files.map((f) => f.name).sort(), [
      'ca.pem',
      'client-key.pem',
      'client.pem',
      'credentials.env',
    ]);

    const given = { config: configOf({ argv: [], env: { ...env, FLEET_CLASS_CODE: 'Blue-Otter-42' } }) };
    assert.equal(given.config.classCredentials?.code, 'Blue-Otter-42');
    assert.equal(given.config.classCredentials?.codeMade, false);

    const problems = (input: Parameters<typeof parseServerConfig>[0]) => {
      try {
        parseServerConfig(input);
      } catch (error) {
        return JSON.stringify((error as { issues: unknown }).issues);
      }
      return 'no problem';
    };
    assert.match(
      problems({ argv: ['--class-code', 'sekrit-code-1'], env }),
      /--class-code.*give it in the environment or a file/,
    );
    assert.doesNotMatch(problems({ argv: ['--class-code', 'sekrit-code-1'], env }), /sekrit/);
    assert.match(
      problems({ argv: [], env: { ...env, FLEET_CLASS_CODE: 'no!' } }),
      /FLEET_CLASS_CODE.*6-64 letters/,
    );
    assert.doesNotMatch(problems({ argv: [], env: { ...env, FLEET_CLASS_CODE: 'no!' } }), /no!/);
    assert.match(
      problems({ argv: [], env: { ...env, FLEET_CLASSROOM: 'off' } }),
      /FLEET_CLASS_CREDENTIALS.*given with --classroom/,
    );
    assert.match(
      problems({ argv: [], env: { ...env, FLEET_CLASS_CREDENTIALS: folder.roles.server.env } }),
      /the devices' credentials .* not the server's/,
    );
    assert.match(
      problems({ argv: [], env: { ...env, FLEET_CLASS_CREDENTIALS: folder.roles.admin.env } }),
      /not the admin's/,
    );
    assert.match(
      problems({ argv: [], env: { ...STORES, FLEET_CLASS_CODE: 'abcdef', FLEET_ENV_FILE: '' } }),
      /FLEET_CLASS_CODE.*given with FLEET_CLASS_CREDENTIALS/,
    );
  });
});
