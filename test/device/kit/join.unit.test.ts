// join's decisions that need no store: the name a laptop gets, the settings, and who holds an entry
// of an attendee's name (ours, an earlier run from this folder, or another laptop).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nameFromHostname, parseJoinConfig } from '../../../device/kit/join-settings.ts';
import { type Attendee, holderOf } from '../../../device/kit/join-view.ts';
import { isSettingsError } from '../../../lib/cli/settings.ts';
import { type DiscoveredInstance, newRecord } from '../../../lib/registry/index.ts';

describe("the name from the laptop's hostname", () => {
  const cases: [string, string][] = [
    ['Alices-MacBook-Pro.local', 'alices-macbook-pro'],
    ['DESKTOP-7QK2N1', 'desktop-7qk2n1'],
    ['raspberrypi', 'raspberrypi'],
    ['__weird  host__', 'weird-host'],
    ['a-very-long-hostname-that-goes-on-and-on', 'a-very-long-hostname-tha'],
    ['...', 'attendee'],
    ['ÄÖÜ', 'attendee'],
  ];
  for (const [host, name] of cases)
    test(`"${host}" is "${name}"`, () => assert.equal(nameFromHostname(host), name));
});

describe('join settings', () => {
  const parse = (argv: string[]) => parseJoinConfig({ argv, env: {} });
  test('INSTRUCTOR and the defaults', () => {
    const parsed = parse(['10.0.0.5', '--name', 'alice']);
    assert.ok(!parsed.help);
    assert.deepEqual(parsed.config, {
      instructor: '10.0.0.5',
      name: 'alice',
      nameFromHost: false,
      devices: 3,
      load: 0,
      firstPort: 8100,
    });
  });
  test('every bad setting named at once', () => {
    assert.throws(
      () => parse(['--name', 'al ice', '--devices', '11', '--load', '150', '--first-port', '0']),
      (error: unknown) => {
        assert.ok(isSettingsError(error));
        assert.deepEqual(
          error.fields.sort(),
          [
            '--devices (FLEET_KIT_DEVICES)',
            '--first-port (FLEET_KIT_FIRST_PORT)',
            '--load (FLEET_KIT_LOAD)',
            '--name (FLEET_KIT_NAME)',
            'INSTRUCTOR',
          ].sort(),
        );
        return true;
      },
    );
  });
  test('a second INSTRUCTOR is refused', () => {
    assert.throws(() => parse(['10.0.0.5', '10.0.0.6']), /one INSTRUCTOR only/);
  });
});

describe('who holds an entry of the name', () => {
  const since = Date.parse('2026-01-01T10:00:00Z');
  const who: Attendee = { name: 'alice', ids: ['alice-1', 'alice-2'], laptop: 'aaaa1111', since };
  const entry = (
    id: string,
    labels: Record<string, string>,
    registeredAt: number,
    health: DiscoveredInstance['health'] = 'passing',
  ): DiscoveredInstance => {
    const record = newRecord({ service: 'web', id, host: '10.0.0.7', port: 8100, labels }, 'inc');
    return {
      store: 'etcd',
      key: `/fleet/services/web/${id}`,
      record: { ...record, registeredAt: new Date(registeredAt).toISOString() },
      health,
      liveness: { model: 'lease', leaseId: '1' },
    };
  };
  test('this laptop, this run', () =>
    assert.equal(
      holderOf(entry('alice-1', { attendee: 'alice', laptop: 'aaaa1111' }, since + 500), who),
      'ours',
    ));
  test('this laptop, an earlier run (older than this join)', () =>
    assert.equal(
      holderOf(entry('alice-1', { attendee: 'alice', laptop: 'aaaa1111' }, since - 60_000), who),
      'earlier-run',
    ));
  test('another laptop, by the label, whatever the case', () =>
    assert.equal(
      holderOf(entry('alice-7', { attendee: 'Alice', laptop: 'bbbb2222' }, since), who),
      'another-laptop',
    ));
  test('another laptop, by one of our ids without labels (a device started by hand)', () =>
    assert.equal(holderOf(entry('ALICE-2', {}, since), who), 'another-laptop'));
  test("another laptop's dead device in Consul (critical) does not hold the name", () =>
    assert.equal(
      holderOf(entry('alice-1', { attendee: 'alice', laptop: 'bbbb2222' }, since, 'critical'), who),
      null,
    ));
  test('another name is none of our business', () =>
    assert.equal(holderOf(entry('bob-1', { attendee: 'bob', laptop: 'bbbb2222' }, since), who), null));
});
