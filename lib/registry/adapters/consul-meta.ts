// The instance record in Consul: ID, Service, Address and Port are the service's own fields; labels
// are Meta keys as they are; the kit's own fields are Meta keys starting with "fleet_" (docs/stores.md).
// What changes while a device runs (load, color, updatedAt) is not in the service: it is a KV entry per
// device, `<ns>/status/<service>/<id>` (statusOf / parseStatus), so that a load or color change is one
// KV write, not a re-registration with the agent. Records written the old way (all of it in Meta) are
// still read: fromService takes the Meta fields when there is no status entry.
import { MalformedValueError } from '../errors.ts';
import { machineLoad } from '../load-kinds.ts';
import { validateRecord } from '../record.ts';
import { RESERVED_LABEL_PREFIX } from '../schema.ts';
import type { InstanceRecord, LivenessSettings } from '../types.ts';

const LOAD_KEYS = {
  cpuPercent: 'fleet_cpu',
  load1: 'fleet_load1',
  memUsedPercent: 'fleet_mem',
  temperatureC: 'fleet_temp',
  uptimeSeconds: 'fleet_uptime',
} as const;

/** The record's liveness knobs (InstanceRecord.liveness) as Meta keys; numbers as text, like the load. */
const LIVENESS_KEYS = {
  leaseTtlSeconds: 'fleet_lease_ttl',
  sessionTimeoutMs: 'fleet_session_timeout_ms',
  consulCheck: 'fleet_check',
  checkIntervalSeconds: 'fleet_check_interval',
  checkTimeoutSeconds: 'fleet_check_timeout',
  checkTtlSeconds: 'fleet_check_ttl',
  deregisterCriticalAfterSeconds: 'fleet_deregister_after',
} as const satisfies Record<keyof LivenessSettings, string>;

export interface ConsulServiceFields {
  ID: string;
  Service: string;
  Address: string;
  Port: number;
  Meta: Record<string, string> | null;
  /** The Raft index of the service's last change (in catalog/health answers, not agent-local ones). */
  ModifyIndex?: number;
}

/**
 * The whole record as Meta: the layout before the status entry (still read by fromService). The
 * adapter registers serviceMeta(record) and writes the rest with statusOf(record).
 */
export function toMeta(record: InstanceRecord): Record<string, string> {
  const meta: Record<string, string> = {
    ...record.labels,
    fleet_incarnation: record.incarnation,
    fleet_registered_at: record.registeredAt,
    fleet_updated_at: record.updatedAt,
  };
  if (record.color !== null) meta.fleet_color = record.color;
  for (const [field, key] of Object.entries(LIVENESS_KEYS)) {
    const value = record.liveness?.[field as keyof typeof LIVENESS_KEYS];
    if (value !== undefined) meta[key] = String(value);
  }
  const load = machineLoad(record.load);
  if (load) {
    for (const [field, key] of Object.entries(LOAD_KEYS)) {
      const value = load[field as keyof typeof LOAD_KEYS];
      if (value !== null) meta[key] = String(value);
    }
  }
  return meta;
}

/** The part of the record that does not change while the device runs, as Meta of its service. */
export function serviceMeta(record: InstanceRecord): Record<string, string> {
  const meta: Record<string, string> = {
    ...record.labels,
    fleet_incarnation: record.incarnation,
    fleet_registered_at: record.registeredAt,
  };
  for (const [field, key] of Object.entries(LIVENESS_KEYS)) {
    const value = record.liveness?.[field as keyof typeof LIVENESS_KEYS];
    if (value !== undefined) meta[key] = String(value);
  }
  return meta;
}

/** What changes while the device runs: the value of its status entry in KV (a JSON object). */
export interface DeviceStatus {
  incarnation: string;
  updatedAt: string;
  color: string | null;
  load: InstanceRecord['load'];
}

/** A status entry is a few hundred bytes; anything much larger is not parsed. */
export const MAX_STATUS_BYTES = 4096;
const STATUS_FIELDS = ['incarnation', 'updatedAt', 'color', 'load'] as const;

export function statusOf(record: InstanceRecord): string {
  const status: DeviceStatus = {
    incarnation: record.incarnation,
    updatedAt: record.updatedAt,
    color: record.color,
    load: record.load,
  };
  return JSON.stringify(status);
}

/**
 * A status entry's value as found in KV (untrusted: anyone with write access to the prefix can put
 * anything there). Only the shape is checked here: a JSON object with exactly the four fields, each
 * of the right JSON type; the values themselves are checked with the whole record (validateRecord).
 */
export function parseStatus(
  key: string,
  text: string | null | undefined,
): DeviceStatus | MalformedValueError {
  const expected = `a device status (a JSON object: ${STATUS_FIELDS.join(', ')})`;
  if (typeof text !== 'string') return new MalformedValueError('consul', key, `${expected}, found no value`);
  if (Buffer.byteLength(text) > MAX_STATUS_BYTES)
    return new MalformedValueError('consul', key, `${expected} of at most ${MAX_STATUS_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return new MalformedValueError('consul', key, `${expected}, not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return new MalformedValueError('consul', key, expected);
  const keys = Object.keys(parsed);
  if (keys.length !== STATUS_FIELDS.length || !STATUS_FIELDS.every((f) => Object.hasOwn(parsed, f)))
    return new MalformedValueError(
      'consul',
      key,
      `${expected}, found fields ${keys.join(', ').slice(0, 80)}`,
    );
  const o = parsed as Record<string, unknown>;
  const load = o.load;
  if (
    typeof o.incarnation !== 'string' ||
    typeof o.updatedAt !== 'string' ||
    (o.color !== null && typeof o.color !== 'string') ||
    (load !== null && (typeof load !== 'object' || Array.isArray(load)))
  )
    return new MalformedValueError('consul', key, expected);
  return {
    incarnation: o.incarnation,
    updatedAt: o.updatedAt,
    color: o.color as string | null,
    load: load as DeviceStatus['load'],
  };
}

/** The liveness knobs found in Meta (undefined: none, an older agent); checked by the record schema. */
function livenessFromMeta(meta: Record<string, string>): Record<string, unknown> | undefined {
  const found: Record<string, unknown> = {};
  for (const [field, key] of Object.entries(LIVENESS_KEYS)) {
    const text = meta[key];
    if (text === undefined) continue;
    found[field] = field === 'consulCheck' ? text : Number(text);
  }
  return Object.keys(found).length > 0 ? found : undefined;
}

const num = (text: string | undefined): number | undefined => (text === undefined ? undefined : Number(text));

/**
 * The record of one service: its Meta, and its status entry when there is one of the same incarnation
 * (one of an earlier incarnation is what a device left when it was reaped: not this one's). Without a
 * status entry, the Meta's own load, color and update time (a record written the old way), else none
 * yet (updatedAt: registeredAt).
 */
export function fromService(
  key: string,
  service: ConsulServiceFields,
  status?: DeviceStatus,
): InstanceRecord | MalformedValueError {
  const meta = service.Meta ?? {};
  const labels = Object.fromEntries(
    Object.entries(meta).filter(([k]) => !k.startsWith(RESERVED_LABEL_PREFIX)),
  );
  const hasLoad = LOAD_KEYS.cpuPercent in meta;
  const candidate = {
    id: service.ID,
    service: service.Service,
    host: service.Address,
    port: service.Port,
    labels,
    load: hasLoad
      ? {
          cpuPercent: num(meta.fleet_cpu),
          load1: num(meta.fleet_load1),
          memUsedPercent: num(meta.fleet_mem),
          temperatureC: num(meta.fleet_temp) ?? null,
          uptimeSeconds: num(meta.fleet_uptime),
        }
      : null,
    color: meta.fleet_color ?? null,
    incarnation: meta.fleet_incarnation,
    registeredAt: meta.fleet_registered_at,
    updatedAt: meta.fleet_updated_at,
  };
  if (status && status.incarnation === meta.fleet_incarnation) {
    candidate.load = status.load as typeof candidate.load;
    candidate.color = status.color;
    candidate.updatedAt = status.updatedAt;
  } else if (!('fleet_updated_at' in meta)) {
    candidate.updatedAt = meta.fleet_registered_at;
  }
  const liveness = livenessFromMeta(meta);
  if (liveness) Object.assign(candidate, { liveness });
  return validateRecord('consul', key, candidate, { id: service.ID, service: service.Service });
}
