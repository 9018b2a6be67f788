// A record's own liveness settings (InstanceRecord.liveness) and ZooKeeper's `cons` answer: what is
// valid, what is refused naming the field, and hostile input (random strings and numbers) that never
// throws. The real stores' side (a record written and read back, a countdown read) is in
// test/server/liveness.test.ts.
import assert from 'node:assert/strict';
import { type AddressInfo, createServer } from 'node:net';
import { test } from 'node:test';
import { fromService, toMeta } from '../../lib/registry/adapters/consul-meta.ts';
import { parseCons } from '../../lib/registry/adapters/zookeeper-cons.ts';
import { fourLetterWord } from '../../lib/registry/adapters/zookeeper-session.ts';
import { MalformedValueError } from '../../lib/registry/errors.ts';
import { deviceLivenessModel, storeKnobs } from '../../lib/registry/liveness.ts';
import { decodeRecord, encodeRecord, newRecord } from '../../lib/registry/record.ts';
import { DEFAULT_LIVENESS } from '../../lib/registry/schema.ts';
import type { InstanceRecord } from '../../lib/registry/types.ts';
import { Fuzz, fuzzSeed } from '../support/fuzz.ts';

const spec = { service: 'web', id: 'pi-1', host: '10.0.0.5', port: 8080 };
const expect = { id: 'pi-1', service: 'web' };
const key = '/fleet/services/web/pi-1';
const at = new Date('2026-11-22T10:00:00Z');

test('a record carries the store’s own knobs; it round-trips through JSON and Consul Meta; a record without them is still valid', () => {
  const own = {
    ...DEFAULT_LIVENESS,
    leaseTtlSeconds: 9,
    sessionTimeoutMs: 7000,
    consulCheck: 'ttl' as const,
  };
  assert.deepEqual(storeKnobs('etcd', own), { leaseTtlSeconds: 9 });
  assert.deepEqual(storeKnobs('zookeeper', own), { sessionTimeoutMs: 7000 });
  assert.deepEqual(Object.keys(storeKnobs('consul', own)).sort(), [
    'checkIntervalSeconds',
    'checkTimeoutSeconds',
    'checkTtlSeconds',
    'consulCheck',
    'deregisterCriticalAfterSeconds',
  ]);
  const etcd = newRecord(spec, 'inc-1', at, storeKnobs('etcd', own));
  assert.deepEqual(decodeRecord('etcd', key, encodeRecord(etcd), expect), etcd);
  const consul = newRecord(spec, 'inc-1', at, storeKnobs('consul', own));
  const meta = toMeta(consul);
  assert.equal(meta.fleet_check, 'ttl');
  assert.equal(meta.fleet_deregister_after, '60');
  assert.deepEqual(
    fromService('pi-1', { ID: 'pi-1', Service: 'web', Address: '10.0.0.5', Port: 8080, Meta: meta }),
    consul,
  );
  // An older agent's record: no liveness field at all.
  const old = newRecord(spec, 'inc-1', at);
  assert.equal('liveness' in old, false);
  assert.deepEqual(decodeRecord('zookeeper', key, encodeRecord(old), expect), old);
  const oldMeta = toMeta(old);
  assert.equal(
    Object.keys(oldMeta).some((k) => k.startsWith('fleet_check')),
    false,
  );
  assert.deepEqual(
    fromService('pi-1', { ID: 'pi-1', Service: 'web', Address: '10.0.0.5', Port: 8080, Meta: oldMeta }),
    old,
  );
});

test('the device’s own window: its knobs over the reader’s settings, and whether it had any', () => {
  const reader = DEFAULT_LIVENESS;
  const own = deviceLivenessModel('etcd', reader, { leaseTtlSeconds: 12 });
  assert.equal(own.windowMs, 12_000);
  assert.equal(own.text, 'lease TTL 12 s');
  assert.equal(own.own, true);
  const fallback = deviceLivenessModel('zookeeper', reader, undefined);
  assert.equal(fallback.windowMs, reader.sessionTimeoutMs);
  assert.equal(fallback.own, false);
  // Another store's knobs in the record (a hand-written one) do not change this store's window.
  const other = deviceLivenessModel('zookeeper', reader, { leaseTtlSeconds: 30 });
  assert.equal(other.windowMs, reader.sessionTimeoutMs);
  assert.equal(other.own, false);
  const consul = deviceLivenessModel('consul', reader, {
    consulCheck: 'ttl',
    checkTtlSeconds: 8,
    deregisterCriticalAfterSeconds: 90,
  });
  assert.equal(consul.windowMs, 8000);
  assert.equal(consul.reapAfterCriticalMs, 90_000);
  assert.match(consul.text, /TTL check 8 s, reaped 90 s after critical/);
});

test('garbage in the liveness field from a store is refused field by field (the record is malformed, named), never thrown', () => {
  const base = newRecord(spec, 'inc-1', at, { leaseTtlSeconds: 5 });
  const cases: [unknown, RegExp][] = [
    [{ leaseTtlSeconds: -1 }, /liveness\.leaseTtlSeconds/],
    [{ leaseTtlSeconds: 'five' }, /liveness\.leaseTtlSeconds/],
    [{ sessionTimeoutMs: 1e12 }, /liveness\.sessionTimeoutMs/],
    [{ consulCheck: '<script>' }, /liveness\.consulCheck/],
    [{ bogus: 1 }, /liveness\.bogus/],
    ['5 s', /liveness/],
    [[5], /liveness/],
    [null, /liveness/],
  ];
  for (const [liveness, reason] of cases) {
    const decoded = decodeRecord('etcd', key, JSON.stringify({ ...base, liveness }), expect);
    assert.ok(decoded instanceof MalformedValueError, JSON.stringify(liveness));
    assert.match(decoded.message, reason);
  }
  const meta = { ...toMeta(newRecord(spec, 'inc-1', at, { checkTtlSeconds: 5 })), fleet_check_ttl: 'soon' };
  const fromConsul = fromService('pi-1', {
    ID: 'pi-1',
    Service: 'web',
    Address: '10.0.0.5',
    Port: 8080,
    Meta: meta,
  });
  assert.ok(fromConsul instanceof MalformedValueError);
  assert.match(fromConsul.message, /liveness\.checkTtlSeconds/);
});

test('fuzz: random liveness fields in records (JSON and Consul Meta) are valid or a MalformedValueError, never a throw', () => {
  const seed = fuzzSeed();
  const fuzz = new Fuzz(seed);
  const knobs = [
    'leaseTtlSeconds',
    'sessionTimeoutMs',
    'consulCheck',
    'checkTtlSeconds',
    'deregisterCriticalAfterSeconds',
  ];
  const metaKeys = [
    'fleet_lease_ttl',
    'fleet_session_timeout_ms',
    'fleet_check',
    'fleet_check_ttl',
    'fleet_deregister_after',
  ];
  const base: InstanceRecord = newRecord(spec, 'inc-1', at);
  for (let i = 0; i < 2000; i++) {
    const liveness: Record<string, unknown> = fuzz.chance(0.2)
      ? (fuzz.value() as Record<string, unknown>)
      : {};
    if (liveness && typeof liveness === 'object')
      for (let k = fuzz.int(4); k > 0; k--)
        (liveness as Record<string, unknown>)[fuzz.pick(knobs)] = fuzz.chance(0.5)
          ? fuzz.number()
          : fuzz.string();
    let decoded: unknown;
    assert.doesNotThrow(() => {
      decoded = decodeRecord('etcd', key, JSON.stringify({ ...base, liveness }), expect);
    }, `seed ${seed}`);
    if (!(decoded instanceof MalformedValueError)) {
      const valid = decoded as InstanceRecord;
      for (const value of Object.values(valid.liveness ?? {}))
        assert.ok(
          typeof value === 'number' ? Number.isFinite(value) : value === 'http' || value === 'ttl',
          `seed ${seed}`,
        );
    }
    const meta: Record<string, string> = { ...toMeta(base) };
    for (let k = fuzz.int(4); k > 0; k--) meta[fuzz.pick(metaKeys)] = fuzz.string();
    assert.doesNotThrow(
      () => fromService('pi-1', { ID: 'pi-1', Service: 'web', Address: '10.0.0.5', Port: 8080, Meta: meta }),
      `seed ${seed}`,
    );
  }
});

/** A real answer of ZooKeeper 3.8 (Debian bookworm), as `cons` gave it here. */
const REAL_CONS =
  ' /127.0.0.1:60688[0](queued=0,recved=1,sent=0)\n' +
  ' /127.0.0.1:60660[1](queued=0,recved=9,sent=9,sid=0x1000169614c0000,lop=PING,est=1796221474452,to=5000,lcxid=0x6,lzxid=0x5,lresp=23685609,llat=1,minlat=0,avglat=6,maxlat=21)\n' +
  ' /0:0:0:0:0:0:0:1:41234[1](queued=0,recved=3,sent=3,sid=0x2a,lop=GETD,est=1796221474452,to=12000,lcxid=0x1,lzxid=0xffffffffffffffff,lresp=23680000,llat=0,minlat=0,avglat=0,maxlat=0)\n\n';

test('cons: each session with its id as an ephemeral owner is written, its timeout and last response; the cons connection itself is skipped', () => {
  assert.deepEqual(parseCons(REAL_CONS), [
    { sid: '01000169614c0000', timeoutMs: 5000, lastResponse: 23685609 },
    { sid: '000000000000002a', timeoutMs: 12000, lastResponse: 23680000 },
  ]);
  assert.deepEqual(parseCons(''), []);
  assert.deepEqual(parseCons('cons is not executed because it is not in the whitelist.\n'), []);
  // Lines that almost parse: each missing or bad field skips the line, never the others.
  const bad = [
    ' /h:1[1](sid=0x1,to=5000)',
    ' /h:1[1](sid=0x1,lresp=5)',
    ' /h:1[1](sid=1,to=5000,lresp=5)',
    ' /h:1[1](sid=0x11111111111111111,to=5000,lresp=5)',
    ' /h:1[1](sid=0x1,to=-5,lresp=5)',
    ' /h:1[1](sid=0x1,to=0,lresp=5)',
    ' /h:1[1](sid=0x1,to=5000,lresp=1e9)',
    ' /h:1[1](sid=0x1,to=5000,lresp=99999999999999999999)',
    ' /h:1[1]sid=0x1,to=5000,lresp=5',
  ];
  assert.deepEqual(parseCons(`${bad.join('\n')}\n${REAL_CONS}`).length, 2);
});

test('fuzz: hostile cons answers (random lines, fields and lengths) parse to valid sessions or none, never a throw', () => {
  const seed = fuzzSeed();
  const fuzz = new Fuzz(seed);
  const fields = ['sid', 'to', 'lresp', 'est', 'lop', 'queued', '__proto__', ''];
  const values = () =>
    fuzz.pick([
      () => fuzz.string(),
      () => String(fuzz.number()),
      () => `0x${Math.floor(fuzz.random() * 2 ** 52).toString(16)}`,
      () => String(fuzz.int(1e9)),
      () => '',
    ])();
  for (let i = 0; i < 2000; i++) {
    const lines: string[] = [];
    for (let n = fuzz.int(6); n > 0; n--) {
      if (fuzz.chance(0.3)) {
        lines.push(fuzz.string());
        continue;
      }
      const pairs: string[] = [];
      for (let k = fuzz.int(8); k > 0; k--) pairs.push(`${fuzz.pick(fields)}=${values()}`);
      lines.push(
        ` /${fuzz.string(fuzz.int(10))}[${fuzz.int(3)}](${pairs.join(fuzz.pick([',', ',,', ', ']))})`,
      );
    }
    let sessions: ReturnType<typeof parseCons> = [];
    assert.doesNotThrow(() => {
      sessions = parseCons(lines.join(fuzz.pick(['\n', '\r\n', '\n\n'])));
    }, `seed ${seed}`);
    for (const s of sessions) {
      assert.match(s.sid, /^[0-9a-f]{16}$/, `seed ${seed}`);
      assert.ok(Number.isSafeInteger(s.timeoutMs) && s.timeoutMs > 0, `seed ${seed}`);
      assert.ok(Number.isSafeInteger(s.lastResponse) && s.lastResponse >= 0, `seed ${seed}`);
    }
  }
  // Not even a string, and a huge answer: still no throw, and bounded work.
  assert.deepEqual(parseCons(undefined as unknown as string), []);
  const huge = ' /h:1[1](sid=0x1,to=5000,lresp=5)\n'.repeat(50_000);
  assert.equal(parseCons(huge).length, 20_000);
});

test('a four-letter word’s answer is bounded: a listener that never stops talking is cut off, an answer under the bound is whole', async () => {
  const endless = createServer((socket) => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const pump = () => {
      while (!socket.destroyed && socket.write(chunk));
      if (!socket.destroyed) socket.once('drain', pump);
    };
    socket.on('error', () => {});
    pump();
  });
  const polite = createServer((socket) => socket.end(REAL_CONS));
  await Promise.all([endless, polite].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
  const portOf = (s: ReturnType<typeof createServer>) => (s.address() as AddressInfo).port;
  try {
    await assert.rejects(
      fourLetterWord('127.0.0.1', portOf(endless), 'cons', { timeoutMs: 10_000, maxBytes: 1024 * 1024 }),
      /cons: answer over 1048576 bytes/,
    );
    const answer = await fourLetterWord('127.0.0.1', portOf(polite), 'cons', { timeoutMs: 5000 });
    assert.equal(parseCons(answer).length, 2);
  } finally {
    endless.close();
    polite.close();
  }
});
