// The store controls' checks, without a store: a request as it arrives (any JSON), the kit's members
// matched with the store's own member list (who leads), --members, and the server's two settings.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { isSettingsError, type SettingIssue } from '../../lib/cli/settings.ts';
import { isValidationError } from '../../lib/registry/index.ts';
import { parseDemoOptions } from '../../provision/demo.ts';
import { storeControlSettings } from '../../provision/stores/control.ts';
import { parseMembers } from '../../provision/stores/members.ts';
import { parseServerConfig } from '../../server/config.ts';
import type { KitStoreMember, StoreView } from '../../server/contract.ts';
import { endpointPort, leaderMember, memberRows } from '../../server/page/store-members.ts';
import { actionPath, parseStoreControl, targetText } from '../../server/store-control-contract.ts';

/** The parsed settings (not --help). */
const configOf = <T>(parsed: { help: true; text: string } | { help: false; config: Readonly<T> }) =>
  parsed.help ? undefined : parsed.config;

const refusal = (parse: () => unknown): string => {
  try {
    parse();
  } catch (error) {
    assert.ok(isValidationError(error), String(error));
    return error.message;
  }
  assert.fail('accepted');
};

test('storeControl: a store, an optional member and an action', () => {
  assert.deepEqual(parseStoreControl({ store: 'etcd', action: 'kill' }), { store: 'etcd', action: 'kill' });
  assert.deepEqual(parseStoreControl({ store: 'consul', member: 3, action: 'restart', extra: [1] }), {
    store: 'consul',
    member: 3,
    action: 'restart',
  });
  assert.equal(
    actionPath({ store: 'zookeeper', member: 2, action: 'stop' }),
    '/stores/zookeeper/members/2/stop',
  );
  assert.equal(actionPath({ store: 'etcd', action: 'kill' }), '/stores/etcd/kill');
  assert.equal(targetText({ store: 'etcd', member: 1 }), 'etcd m1');
  assert.equal(targetText({ store: 'etcd' }), 'etcd');
});

test('storeControl: anything else is refused, each bad field named with what was expected', () => {
  for (const payload of [null, [], 'etcd', 42, true, undefined]) {
    assert.match(
      refusal(() => parseStoreControl(payload)),
      /^invalid storeControl: request: an object such as/,
    );
  }
  const all = refusal(() => parseStoreControl({ store: 'redis', member: 0, action: 'explode' }));
  assert.match(all, /store: one of etcd, zookeeper, consul/);
  assert.match(all, /member: a member number from 1 to 9, or none for the whole store/);
  assert.match(all, /action: one of stop, kill, restart/);
  for (const member of [1.5, -1, 10, '2', null, Number.NaN, Number.POSITIVE_INFINITY, [1], { n: 1 }]) {
    assert.match(
      refusal(() => parseStoreControl({ store: 'etcd', member, action: 'kill' })),
      /member: /,
    );
  }
  for (const action of ['KILL', 'kill ', '', 'restart\u0000', ['kill'], 1]) {
    assert.match(
      refusal(() => parseStoreControl({ store: 'etcd', action })),
      /action: /,
    );
  }
  // Inherited names are not the client's fields.
  const inherited = Object.create({ store: 'etcd', action: 'kill' });
  assert.match(
    refusal(() => parseStoreControl(inherited)),
    /store: .*action: /s,
  );
  assert.match(
    refusal(() => parseStoreControl(JSON.parse('{"__proto__": {"store": "etcd"}, "action": "kill"}'))),
    /store: /,
  );
});

const kit = (
  member: number,
  ports: number[],
  state: KitStoreMember['state'] = 'running',
): KitStoreMember => ({
  member,
  endpoint: `http://127.0.0.1:${ports[0]}`,
  ports,
  state,
  pid: state === 'running' ? 1000 + member : null,
  busy: null,
});

const view = (members: StoreView['members'], control: KitStoreMember[] | null): StoreView =>
  ({
    store: 'etcd',
    members,
    control: control && { store: 'etcd', members: control, error: null },
  }) as StoreView;

test("memberRows: the kit's processes matched by port with the store's members; a dead one has no role", () => {
  assert.equal(endpointPort('http://127.0.0.1:2379'), 2379);
  assert.equal(endpointPort('127.0.0.1:2181'), 2181);
  assert.equal(endpointPort('http://[::1]:8500/'), 8500);
  assert.equal(endpointPort('no port'), null);
  const control = [kit(1, [2379, 2380]), kit(2, [2389, 2390]), kit(3, [8301, 8300])];
  const listed = [
    { name: 'a', endpoint: 'http://127.0.0.1:2389', role: 'leader' as const, healthy: true },
    { name: 'b', endpoint: 'http://127.0.0.1:2379', role: 'follower' as const, healthy: true },
    // Consul lists Serf's address, one of the member's ports.
    { name: 'fleetkit-m3-x', endpoint: '127.0.0.1:8301', role: 'follower' as const, healthy: true },
  ];
  const rows = memberRows(view(listed, control));
  assert.deepEqual(
    rows.map((r) => [r.name, r.role]),
    [
      ['m1', 'follower'],
      ['m2', 'leader'],
      ['m3', 'follower'],
    ],
  );
  assert.equal(leaderMember(view(listed, control)), 2);
  // Killed: the store may still list it (etcd keeps a dead member in its list), with a stale role.
  const killed = [kit(1, [2379, 2380]), kit(2, [2389, 2390], 'killed'), kit(3, [8301])];
  assert.equal(leaderMember(view(listed, killed)), null);
  assert.equal(memberRows(view(listed, killed))[1]?.role, null);
  // An unhealthy member (ZooKeeper's that does not answer) has no role either.
  const unhealthy = listed.map((m) => (m.role === 'leader' ? { ...m, healthy: false } : m));
  assert.equal(leaderMember(view(unhealthy, control)), null);
  // No control: the kit did not start the store.
  assert.deepEqual(memberRows(view(listed, null)), []);
  assert.deepEqual(memberRows(undefined), []);
});

test('--members: 1, 3 or 5, named otherwise, for the demo and the stores alike', () => {
  const issues: SettingIssue[] = [];
  assert.equal(parseMembers(undefined, issues), 1);
  assert.equal(parseMembers('3', issues), 3);
  assert.equal(parseMembers(' 5 ', issues), 5);
  assert.deepEqual(issues, []);
  for (const bad of ['2', '4', '0', '7', '', '3.0', '1e0', 'three', ['3', '3']]) {
    const found: SettingIssue[] = [];
    assert.equal(parseMembers(bad, found), undefined, String(bad));
    assert.deepEqual(found, [
      { field: 'members', expected: '1, 3 or 5 (a cluster of that many members per store)' },
    ]);
  }
  assert.equal(configOf(parseDemoOptions({ argv: ['--members', '3'], env: {} }))?.members, 3);
  assert.equal(configOf(parseDemoOptions({ argv: [], env: { FLEET_DEMO_MEMBERS: '5' } }))?.members, 5);
  assert.equal(configOf(parseDemoOptions({ argv: [], env: {} }))?.members, 1);
  assert.throws(
    () => parseDemoOptions({ argv: ['--members', '2'], env: {} }),
    (error) => isSettingsError(error) && /members/.test(error.message),
  );
});

test('server settings: the file `fleetkit stores` writes gives the server its store control (--env-file)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fleetkit-control-'));
  try {
    const file = path.join(dir, 'store-control.env');
    const secret = 'b'.repeat(43);
    writeFileSync(file, storeControlSettings({ url: 'http://127.0.0.1:4567', secret }));
    const parsed = parseServerConfig({
      argv: ['--env-file', file],
      env: { FLEET_ETCD: 'http://127.0.0.1:2379' },
    });
    assert.deepEqual(configOf(parsed)?.storeControl, { url: 'http://127.0.0.1:4567', secret });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('server settings: the store control is a loopback URL and its secret, both or neither', () => {
  const secret = 'a'.repeat(43);
  const base = { FLEET_ETCD: 'http://127.0.0.1:2379' };
  const parsed = parseServerConfig({
    argv: [],
    env: { ...base, FLEET_STORE_CONTROL: 'http://127.0.0.1:4567/', FLEET_STORE_CONTROL_SECRET: secret },
  });
  assert.deepEqual(configOf(parsed)?.storeControl, { url: 'http://127.0.0.1:4567', secret });
  assert.equal(configOf(parseServerConfig({ argv: [], env: base }))?.storeControl, undefined);
  const refused = (env: Record<string, string>, field: RegExp) =>
    assert.throws(
      () => parseServerConfig({ argv: [], env: { ...base, ...env } }),
      (error) => isSettingsError(error) && field.test(error.message),
      JSON.stringify(env),
    );
  refused(
    { FLEET_STORE_CONTROL: 'http://127.0.0.1:4567' },
    /FLEET_STORE_CONTROL_SECRET.*the secret of --store-control/,
  );
  refused({ FLEET_STORE_CONTROL_SECRET: secret }, /FLEET_STORE_CONTROL\b.*the URL the secret belongs to/);
  refused(
    { FLEET_STORE_CONTROL: 'http://10.0.0.5:4567', FLEET_STORE_CONTROL_SECRET: secret },
    /on this machine/,
  );
  refused(
    { FLEET_STORE_CONTROL: 'https://127.0.0.1:4567', FLEET_STORE_CONTROL_SECRET: secret },
    /on this machine/,
  );
  refused(
    { FLEET_STORE_CONTROL: 'http://127.0.0.1:4567', FLEET_STORE_CONTROL_SECRET: 'short' },
    /16-128 letters/,
  );
  refused(
    { FLEET_STORE_CONTROL: 'http://127.0.0.1:4567', FLEET_STORE_CONTROL_SECRET: `${secret}\nX=1` },
    /16-128 letters/,
  );
});
