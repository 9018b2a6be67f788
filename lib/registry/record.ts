// The instance record as stored in etcd and ZooKeeper (a JSON document). Consul's Meta mapping is in
// adapters/consul-meta.ts; both end in the same schema check.
import { randomBytes } from 'node:crypto';
import { MalformedValueError } from './errors.ts';
import { describeIssues, instanceRecordSchema } from './schema.ts';
import type { DeviceLiveness, InstanceRecord, InstanceSpec, StoreKind } from './types.ts';

/** Values larger than this are not even parsed (someone pasted a file into etcdctl). */
export const MAX_RECORD_BYTES = 16 * 1024;

export function newIncarnation(): string {
  return `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}

export function newRecord(
  spec: InstanceSpec,
  incarnation: string,
  now = new Date(),
  liveness?: DeviceLiveness,
): InstanceRecord {
  const at = now.toISOString();
  const record: InstanceRecord = {
    id: spec.id,
    service: spec.service,
    host: spec.host,
    port: spec.port,
    labels: { ...(spec.labels ?? {}) },
    load: spec.load ?? null,
    color: spec.color ?? null,
    incarnation,
    registeredAt: at,
    updatedAt: at,
  };
  if (liveness) record.liveness = { ...liveness };
  return record;
}

export function encodeRecord(record: InstanceRecord): string {
  return JSON.stringify(record);
}

/** Checks a record that came out of a store; `expect` pins what its key says (id, service). */
export function validateRecord(
  store: StoreKind,
  key: string,
  candidate: unknown,
  expect: { id: string; service: string },
): InstanceRecord | MalformedValueError {
  const parsed = instanceRecordSchema.safeParse(candidate);
  if (!parsed.success)
    return new MalformedValueError(store, key, `an instance record (${describeIssues(parsed.error)})`);
  if (parsed.data.id !== expect.id || parsed.data.service !== expect.service) {
    return new MalformedValueError(
      store,
      key,
      `id "${expect.id}" and service "${expect.service}" as in its key`,
    );
  }
  return parsed.data;
}

export function decodeRecord(
  store: StoreKind,
  key: string,
  raw: string | Buffer | undefined | null,
  expect: { id: string; service: string },
): InstanceRecord | MalformedValueError {
  if (raw == null || raw.length === 0)
    return new MalformedValueError(store, key, 'a JSON instance record, found nothing');
  if (raw.length > MAX_RECORD_BYTES) {
    return new MalformedValueError(store, key, `a JSON instance record of at most ${MAX_RECORD_BYTES} bytes`);
  }
  let candidate: unknown;
  try {
    candidate = JSON.parse(raw.toString());
  } catch {
    return new MalformedValueError(store, key, 'a JSON instance record (not valid JSON)');
  }
  return validateRecord(store, key, candidate, expect);
}
