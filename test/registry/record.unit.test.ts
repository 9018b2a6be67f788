import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromService, toMeta } from '../../lib/registry/adapters/consul-meta.ts';
import { MalformedValueError } from '../../lib/registry/errors.ts';
import { decodeRecord, encodeRecord, newRecord } from '../../lib/registry/record.ts';

const record = newRecord(
  {
    service: 'web',
    id: 'pi-1',
    host: '10.0.0.5',
    port: 8080,
    labels: { zone: 'stage', model: 'Raspberry Pi 5' },
    load: { cpuPercent: 12.5, load1: 0.42, memUsedPercent: 40.1, temperatureC: null, uptimeSeconds: 99 },
    color: '#ff8800',
  },
  'inc-1',
  new Date('2026-11-22T10:00:00Z'),
);
const expect = { id: 'pi-1', service: 'web' };

test('a record round-trips through JSON (etcd, ZooKeeper) and through Consul Meta', () => {
  assert.deepEqual(decodeRecord('etcd', '/fleet/services/web/pi-1', encodeRecord(record), expect), record);
  const meta = toMeta(record);
  assert.equal(meta.zone, 'stage');
  assert.equal(meta.fleet_cpu, '12.5');
  assert.equal(meta.fleet_temp, undefined, 'no sensor: no key');
  const back = fromService('pi-1', {
    ID: 'pi-1',
    Service: 'web',
    Address: '10.0.0.5',
    Port: 8080,
    Meta: meta,
  });
  assert.deepEqual(back, record);
});

test('garbage found in a store is a MalformedValueError naming the key, never a crash', () => {
  const key = '/fleet/services/web/pi-1';
  const cases: [string | undefined, RegExp][] = [
    [undefined, /found nothing/],
    ['not json', /not valid JSON/],
    ['x'.repeat(20_000), /at most 16384 bytes/],
    ['{"id":"pi-1"}', /an instance record/],
    [encodeRecord({ ...record, port: 70000 }), /port/],
    [encodeRecord({ ...record, id: 'pi-2' }), /as in its key/],
    [encodeRecord({ ...record, color: 'javascript:alert(1)' }), /color/],
  ];
  for (const [raw, reason] of cases) {
    const decoded = decodeRecord('etcd', key, raw, expect);
    assert.ok(decoded instanceof MalformedValueError, String(raw).slice(0, 30));
    assert.equal(decoded.key, key);
    assert.match(decoded.message, reason);
  }
  const meta = { ...toMeta(record), fleet_cpu: 'lots' };
  assert.ok(
    fromService('pi-1', {
      ID: 'pi-1',
      Service: 'web',
      Address: '10.0.0.5',
      Port: 8080,
      Meta: meta,
    }) instanceof MalformedValueError,
  );
});

test("a phone's record carries a browser's load (event-loop delay, battery): round-trips; a bad one is refused naming the field; Consul's Meta holds no machine figures for it", () => {
  const phone = newRecord(
    {
      service: 'audience',
      id: 'brave-otter-3f',
      host: '10.0.0.77',
      port: 3000,
      labels: { kind: 'phone' },
      load: { kind: 'browser', eventLoopDelayMs: 14, batteryPercent: null },
      color: null,
    },
    'inc-2',
    new Date('2026-12-03T10:00:00Z'),
  );
  assert.deepEqual(
    decodeRecord('etcd', '/fleet/services/audience/brave-otter-3f', encodeRecord(phone), {
      id: 'brave-otter-3f',
      service: 'audience',
    }),
    phone,
  );
  assert.equal(toMeta(phone).fleet_cpu, undefined);
  for (const [load, field] of [
    [{ kind: 'browser', eventLoopDelayMs: -3, batteryPercent: 50 }, 'event-loop delay'],
    [{ kind: 'browser', eventLoopDelayMs: 3, batteryPercent: 140 }, 'battery percent'],
    [{ kind: 'browser', eventLoopDelayMs: 3, batteryPercent: 5, cpuPercent: 1 }, 'load'],
    [{ kind: 'phone', eventLoopDelayMs: 3, batteryPercent: 5 }, 'load'],
  ] as const) {
    const result = decodeRecord(
      'etcd',
      '/fleet/services/audience/brave-otter-3f',
      JSON.stringify({ ...phone, load }),
      {
        id: 'brave-otter-3f',
        service: 'audience',
      },
    );
    assert.ok(result instanceof MalformedValueError, JSON.stringify(load));
    assert.match(result.message, new RegExp(field), JSON.stringify(load));
  }
});
