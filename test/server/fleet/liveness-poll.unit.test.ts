// The server's countdown poller (server/fleet/liveness-poll.ts) on its own: what it sends and what it
// keeps back, etcd's whole seconds narrowed, the devices read when there are too many, and the
// "expired after" stamp, measured from the store's last contact or, where the store said nothing,
// from the last event. The stores' side is tested against the real stores in test/server/liveness.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LivenessReading, LivenessTarget } from '../../../lib/registry/index.ts';
import type { DeviceView, LivenessView } from '../../../server/contract.ts';
import { LivenessPoller, POLL_MAX } from '../../../server/fleet/liveness-poll.ts';

function device(id: string, seenAt = 0): DeviceView {
  return {
    store: 'etcd',
    id,
    host: '10.0.0.1',
    port: 80,
    labels: {},
    color: null,
    load: null,
    health: 'passing',
    liveness: { model: 'lease', leaseId: '7' },
    registeredAt: '',
    updatedAt: '',
    seenAt,
    criticalSince: null,
    reapAt: null,
    history: [],
  };
}

/** A registry that answers what the test says, and records what it was asked. */
function fakeRegistry(answer: (targets: readonly LivenessTarget[]) => Map<string, LivenessReading>) {
  const asked: string[][] = [];
  return {
    asked,
    state: 'connected' as const,
    readLiveness: async (targets: readonly LivenessTarget[]) => {
      asked.push(targets.map((t) => t.record.id));
      return answer(targets);
    },
  };
}

test('a countdown is sent when it differs from what the page works out, not while it runs down as expected', async () => {
  let now = 100_000;
  let reading: LivenessReading = {
    kind: 'contact',
    at: now,
    sinceMs: 500,
    windowMs: 5000,
    source: 'ZooKeeper cons',
  };
  const registry = fakeRegistry(() => new Map([['pi-1', reading]]));
  const sent: LivenessView[][] = [];
  const poller = new LivenessPoller(
    'zookeeper',
    registry,
    () => [device('pi-1')],
    (v) => sent.push(v),
  );
  try {
    await poller.poll();
    assert.deepEqual(sent, [
      [
        {
          store: 'zookeeper',
          id: 'pi-1',
          at: now,
          remainingMs: 4500,
          windowMs: 5000,
          source: 'ZooKeeper cons',
        },
      ],
    ]);
    // One second on, no contact since: the page's own countdown is right; nothing sent.
    now += 1000;
    reading = { ...reading, at: now, sinceMs: 1500 };
    await poller.poll();
    assert.equal(sent.length, 1);
    // Contact again (a ping): sent.
    now += 1000;
    reading = { ...reading, at: now, sinceMs: 100 };
    await poller.poll();
    assert.equal(sent.length, 2);
    assert.equal(sent[1]![0]!.remainingMs, 4900);
    assert.deepEqual(
      poller.views().map((v) => v.remainingMs),
      [4900],
    );
  } finally {
    poller.close();
  }
});

test("etcd's whole seconds: the same deadline read twice is narrowed to what both allow", async () => {
  const answers: LivenessReading[] = [
    // Deadline in [5000, 6000) at 0, then in [5700, 6700) at 1700 (TTL 4): both allow [5700, 6000).
    { kind: 'expires', at: 0, minMs: 5000, maxMs: 6000, windowMs: 6000, source: 'etcd lease TTL' },
    { kind: 'expires', at: 1700, minMs: 4000, maxMs: 5000, windowMs: 6000, source: 'etcd lease TTL' },
  ];
  let i = 0;
  const registry = fakeRegistry(() => new Map([['pi-1', answers[i++]!]]));
  const sent: LivenessView[] = [];
  const poller = new LivenessPoller(
    'etcd',
    registry,
    () => [device('pi-1')],
    (v) => sent.push(...v),
  );
  try {
    await poller.poll();
    assert.equal(sent[0]!.remainingMs, 5500);
    await poller.poll();
    // The page counts 5500 - 1700 = 3800; narrowed, the deadline's middle is 5850: 4150 left, sent.
    assert.equal(sent.length, 2);
    assert.equal(sent[1]!.remainingMs, 4150);
    const stamp = poller.expiredStamp(device('pi-1'), 6000, 6100);
    // The last renewal: that middle less the window, -150; removed at 6100.
    assert.deepEqual(stamp, { kind: 'expired', afterMs: 6250, windowMs: 6000, source: 'etcd lease TTL' });
  } finally {
    poller.close();
  }
});

test('"expired after": from the last event where the store reported nothing; a device that left early did not expire', () => {
  const registry = fakeRegistry(() => new Map());
  const poller = new LivenessPoller(
    'zookeeper',
    registry,
    () => [],
    () => {},
  );
  try {
    assert.deepEqual(poller.expiredStamp(device('pi-1', 10_000), 5000, 15_200), {
      kind: 'expired',
      afterMs: 5200,
      windowMs: 5000,
      source: 'the last event',
    });
    // Gone 1 s after its last event with a 5 s window: it was deregistered (stopped cleanly).
    assert.equal(poller.expiredStamp(device('pi-1', 10_000), 5000, 11_000), undefined);
    assert.equal(poller.expiredStamp(device('pi-1', 10_000), 0, 99_000), undefined);
  } finally {
    poller.close();
  }
});

test(`more than ${POLL_MAX} devices: at most ${POLL_MAX} read per round, those running out first, the rest in turn`, async () => {
  const shown = Array.from({ length: POLL_MAX * 2 }, (_, i) => device(`pi-${i}`));
  const now = Date.now();
  // pi-100 is running out (1 s of 6 left); every other device is fresh.
  const registry = fakeRegistry(
    (targets) =>
      new Map(
        targets.map((t) => [
          t.record.id,
          {
            kind: 'contact',
            at: now,
            sinceMs: t.record.id === 'pi-100' ? 5000 : 0,
            windowMs: 6000,
            source: 'ZooKeeper cons',
          } satisfies LivenessReading,
        ]),
      ),
  );
  const poller = new LivenessPoller(
    'zookeeper',
    registry,
    () => shown,
    () => {},
  );
  try {
    for (let round = 0; round < 3; round++) await poller.poll();
    assert.ok(registry.asked.every((ids) => ids.length === POLL_MAX));
    const everyone = new Set(registry.asked.flat());
    assert.equal(everyone.size, shown.length, 'every device read within a few rounds');
    // Once known to run out, pi-100 is read every round.
    assert.ok(registry.asked.slice(2).every((ids) => ids.includes('pi-100')));
  } finally {
    poller.close();
  }
});

test('nothing is asked while the store is down, and a reading of a device no longer shown is dropped', async () => {
  let state: 'connected' | 'disconnected' = 'disconnected';
  let shown = [device('pi-1')];
  const registry = {
    asked: 0,
    get state() {
      return state;
    },
    readLiveness: async () => {
      registry.asked++;
      shown = [];
      return new Map<string, LivenessReading>([
        ['pi-1', { kind: 'contact', at: 0, sinceMs: 0, windowMs: 5000, source: 'ZooKeeper cons' }],
      ]);
    },
  };
  const sent: LivenessView[] = [];
  const poller = new LivenessPoller(
    'zookeeper',
    registry,
    () => shown,
    (v) => sent.push(...v),
  );
  try {
    await poller.poll();
    assert.equal(registry.asked, 0);
    state = 'connected';
    await poller.poll();
    assert.equal(registry.asked, 1);
    // pi-1 was still shown when asked: sent; then it left, and the next round forgets it.
    assert.equal(sent.length, 1);
    await poller.poll();
    assert.deepEqual(poller.views(), []);
  } finally {
    poller.close();
  }
});
