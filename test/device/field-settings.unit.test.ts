// The field settings and the address watch, without stores: FLEET_ADDRESS_CHECK and FLEET_LED_ROOT
// checked and named when wrong; AddressWatch (device/network.ts) with its lookup injected: the first
// address, a change, no route (the last address kept), a pinned FLEET_HOST, one lookup at a time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAgentConfig } from '../../device/config.ts';
import { AddressWatch, type NetworkStatus } from '../../device/network.ts';
import { SettingsError } from '../../lib/cli/settings.ts';

const parse = (env: Record<string, string>) => {
  const parsed = parseAgentConfig({ argv: [], env: { FLEET_ETCD: '10.0.0.1', ...env } });
  assert.equal(parsed.help, false);
  return parsed.help ? undefined! : parsed.config;
};

test('FLEET_ADDRESS_CHECK and FLEET_LED_ROOT: defaults, off, and bad values named with what is expected', () => {
  const config = parse({});
  assert.equal(config.addressCheckSeconds, 3);
  assert.equal(config.ledRoot, '/sys/class/leds');
  assert.equal(parse({ FLEET_LED_ROOT: 'off' }).ledRoot, null);
  assert.equal(parse({ FLEET_LED_ROOT: '/tmp/leds', FLEET_ADDRESS_CHECK: '10' }).ledRoot, '/tmp/leds');
  for (const [env, named, expected] of [
    [{ FLEET_ADDRESS_CHECK: '0' }, 'FLEET_ADDRESS_CHECK', /whole seconds/],
    [{ FLEET_ADDRESS_CHECK: 'soon' }, 'FLEET_ADDRESS_CHECK', /whole seconds/],
    [{ FLEET_LED_ROOT: 'sys/class/leds' }, 'FLEET_LED_ROOT', /an absolute path .* or off/],
    [{ FLEET_LED_ROOT: '/sys/class/leds\n/x' }, 'FLEET_LED_ROOT', /an absolute path .* or off/],
  ] as const) {
    assert.throws(
      () => parse(env),
      (error: unknown) => {
        assert.ok(error instanceof SettingsError, String(error));
        assert.match(error.message, new RegExp(named));
        assert.match(error.message, expected);
        return true;
      },
    );
  }
});

/** A lookup answering from a script: an address, or an Error for no route. */
function scripted(...answers: (string | Error)[]) {
  let calls = 0;
  return {
    detect: async () => {
      const answer = answers[Math.min(calls++, answers.length - 1)]!;
      if (answer instanceof Error) throw answer;
      return answer;
    },
    calls: () => calls,
  };
}

test('AddressWatch: the first address, a change, no route keeping the last address, a route again', async () => {
  const lookup = scripted('10.0.0.5', '10.0.0.5', '10.0.0.9', new Error('no route to any store'), '10.0.0.9');
  const watch = new AddressWatch([], { detect: lookup.detect, intervalMs: 60_000 });
  const changes: [string, string | null][] = [];
  const statuses: NetworkStatus[] = [];
  watch.on('change', (host, previous) => changes.push([host, previous]));
  watch.on('status', (s) => statuses.push(s));
  assert.equal(watch.status().host, null);
  assert.equal(watch.status().source, 'none');

  await watch.start();
  assert.deepEqual(changes, [['10.0.0.5', null]]);
  assert.equal(watch.status().changes, 0, 'the first address found is no change');
  assert.ok(watch.status().changedAt);

  await watch.check(); // the same: nothing emitted
  assert.equal(statuses.length, 1);
  await watch.check();
  assert.deepEqual(changes.at(-1), ['10.0.0.9', '10.0.0.5']);
  assert.equal(watch.status().changes, 1);

  await watch.check(); // no route: said, the address kept
  assert.equal(watch.status().host, '10.0.0.9');
  assert.equal(watch.status().problem, 'no route to any store');
  assert.equal(changes.length, 2);
  await watch.check(); // the same address again: the problem goes, no change
  assert.equal(watch.status().problem, null);
  assert.equal(changes.length, 2);
  watch.stop();
});

test('AddressWatch: FLEET_HOST pins it (nothing looked up); checks at once share one lookup; the interval runs', async () => {
  const pinnedLookup = scripted('10.0.0.5');
  const pinned = new AddressWatch([], { pinned: '192.168.4.20', detect: pinnedLookup.detect });
  await pinned.start();
  await pinned.check();
  assert.equal(pinnedLookup.calls(), 0);
  assert.deepEqual(pinned.status(), {
    host: '192.168.4.20',
    source: 'pinned',
    problem: null,
    changes: 0,
    changedAt: null,
  });

  const lookup = scripted('10.0.0.5', '10.0.0.6');
  const watch = new AddressWatch([], { detect: lookup.detect, intervalMs: 50 });
  await Promise.all([watch.check(), watch.check(), watch.check()]);
  assert.equal(lookup.calls(), 1, 'three checks at once, one lookup');
  await watch.start();
  const started = performance.now();
  while (watch.status().host !== '10.0.0.6' && performance.now() - started < 2000) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(watch.status().host, '10.0.0.6', 'the interval looked again');
  watch.stop();
  const calls = lookup.calls();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(lookup.calls(), calls, 'stopped: no more lookups');
});

test('AddressWatch towards a real address: loopback stores advertise 127.0.0.1 (no route: field-agent.test.ts)', async () => {
  const local = new AddressWatch([{ host: '127.0.0.1', port: 2379 }]);
  await local.check();
  assert.equal(local.status().host, '127.0.0.1');
  assert.equal(local.status().source, 'route');
});
