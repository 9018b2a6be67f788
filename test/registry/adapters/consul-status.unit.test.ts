// The Consul record split in two (docs/stores.md): the service's Meta (what does not change while a
// device runs) and its status entry in KV (load, color, update time). Status entries are untrusted:
// anyone who may write the KV prefix can put anything there.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  fromService,
  MAX_STATUS_BYTES,
  parseStatus,
  serviceMeta,
  statusOf,
  toMeta,
} from '../../../lib/registry/adapters/consul-meta.ts';
import { MalformedValueError } from '../../../lib/registry/errors.ts';
import { newRecord } from '../../../lib/registry/record.ts';
import { instanceRecordSchema } from '../../../lib/registry/schema.ts';
import type { InstanceRecord } from '../../../lib/registry/types.ts';
import { Fuzz, fuzzSeed, PROTO_KEYS } from '../../support/fuzz.ts';

const KEY = 'fleet/status/web/pi-1';
const record = newRecord(
  {
    service: 'web',
    id: 'pi-1',
    host: '10.0.0.5',
    port: 8080,
    labels: { zone: 'stage' },
    load: { cpuPercent: 12.5, load1: 0.42, memUsedPercent: 40.1, temperatureC: null, uptimeSeconds: 99 },
    color: '#ff8800',
  },
  'inc-1',
  new Date('2026-11-22T10:00:00Z'),
  { consulCheck: 'ttl', checkTtlSeconds: 3 },
);
const service = (meta: Record<string, string>) => ({
  ID: 'pi-1',
  Service: 'web',
  Address: '10.0.0.5',
  Port: 8080,
  Meta: meta,
});

test('Meta + status entry give the record back; the Meta holds nothing that changes while it runs', () => {
  const meta = serviceMeta(record);
  for (const key of ['fleet_cpu', 'fleet_color', 'fleet_updated_at']) assert.equal(meta[key], undefined, key);
  const later = { ...record, updatedAt: '2026-11-22T10:05:00.000Z', color: '#00ff00' };
  assert.deepEqual(serviceMeta(later), meta, 'a color change leaves the Meta as it was');
  const status = parseStatus(KEY, statusOf(later));
  assert.ok(!(status instanceof MalformedValueError));
  assert.deepEqual(fromService('pi-1', service(meta), status), later);
  // No status entry yet (the service is there before it): no load, no color, updated when registered.
  assert.deepEqual(fromService('pi-1', service(meta)), {
    ...record,
    load: null,
    color: null,
    updatedAt: record.registeredAt,
  });
  // Another incarnation's entry (left by a reaped device) is not this one's status.
  const other = parseStatus(KEY, statusOf({ ...later, incarnation: 'inc-0' }));
  assert.ok(!(other instanceof MalformedValueError));
  assert.deepEqual(fromService('pi-1', service(meta), other), fromService('pi-1', service(meta)));
  // The old layout (everything in Meta) reads as before.
  assert.deepEqual(fromService('pi-1', service(toMeta(record))), record);
});

test('a malformed status entry is a MalformedValueError naming its key', () => {
  const cases: [string | null | undefined, RegExp][] = [
    [undefined, /found no value/],
    [null, /found no value/],
    ['', /not valid JSON/],
    ['{', /not valid JSON/],
    ['[]', /a device status/],
    ['null', /a device status/],
    ['"text"', /a device status/],
    ['x'.repeat(MAX_STATUS_BYTES + 1), /at most 4096 bytes/],
    ['{"incarnation":"a","updatedAt":"b","color":null}', /found fields/],
    ['{"incarnation":"a","updatedAt":"b","color":null,"load":null,"extra":1}', /found fields/],
    ['{"incarnation":"a","updatedAt":"b","color":null,"__proto__":null}', /found fields/],
    ['{"incarnation":1,"updatedAt":"b","color":null,"load":null}', /a device status/],
    ['{"incarnation":"a","updatedAt":"b","color":7,"load":null}', /a device status/],
    ['{"incarnation":"a","updatedAt":"b","color":null,"load":[1]}', /a device status/],
  ];
  for (const [text, reason] of cases) {
    const parsed = parseStatus(KEY, text);
    assert.ok(parsed instanceof MalformedValueError, String(text).slice(0, 40));
    assert.equal(parsed.key, KEY);
    assert.match(parsed.message, reason, String(text).slice(0, 40));
  }
  // Well-formed, wrong values: the record's own schema refuses them.
  const bad = { ...JSON.parse(statusOf(record)), color: 'javascript:alert(1)' };
  const status = parseStatus(KEY, JSON.stringify(bad));
  assert.ok(!(status instanceof MalformedValueError));
  assert.ok(fromService('pi-1', service(serviceMeta(record)), status) instanceof MalformedValueError);
});

test('fuzz: any status entry text gives a valid record or a MalformedValueError, never a throw', (t) => {
  const seed = fuzzSeed();
  t.diagnostic(`FUZZ_SEED=${seed}`);
  const fuzz = new Fuzz(seed);
  const base = JSON.parse(statusOf(record)) as Record<string, unknown>;
  const fields = ['incarnation', 'updatedAt', 'color', 'load', ...PROTO_KEYS];
  const loadFields = [
    'cpuPercent',
    'load1',
    'memUsedPercent',
    'temperatureC',
    'uptimeSeconds',
    ...PROTO_KEYS,
  ];
  const meta = serviceMeta(record);
  let valid = 0;
  for (let i = 0; i < 3000; i++) {
    let text: string;
    const kind = fuzz.int(4);
    if (kind === 0) text = fuzz.string();
    else if (kind === 1) text = JSON.stringify(fuzz.value());
    else {
      const status: Record<string, unknown> = structuredClone(base);
      for (let k = 1 + fuzz.int(3); k > 0; k--) {
        const value = fuzz.chance(0.2) ? undefined : fuzz.value();
        if (kind === 3 && status.load && typeof status.load === 'object')
          Object.defineProperty(status.load, fuzz.pick(loadFields), {
            value,
            enumerable: true,
            writable: true,
          });
        else Object.defineProperty(status, fuzz.pick(fields), { value, enumerable: true, writable: true });
      }
      text = JSON.stringify(status);
      if (fuzz.chance(0.1)) text = text.slice(0, fuzz.int(text.length));
    }
    let result: unknown;
    assert.doesNotThrow(
      () => {
        const status = parseStatus(KEY, text);
        result = status instanceof MalformedValueError ? status : fromService('pi-1', service(meta), status);
      },
      `seed ${seed}, input ${i}: ${text.slice(0, 80)}`,
    );
    if (result instanceof MalformedValueError) continue;
    valid++;
    // What comes through is a record the schema accepts, with the service's own identity.
    const checked = instanceRecordSchema.safeParse(result);
    assert.ok(checked.success, `seed ${seed}, input ${i}`);
    const got = result as InstanceRecord;
    assert.equal(got.id, 'pi-1');
    assert.equal(got.incarnation, record.incarnation);
    assert.equal(Object.getPrototypeOf(got), Object.prototype);
  }
  t.diagnostic(`${valid} of 3000 inputs were valid records`);
});
