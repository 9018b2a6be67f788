// The instance record in Consul: ID, Service, Address and Port are the service's own fields; labels
// are Meta keys as they are; the kit's own fields are Meta keys starting with "fleet_" (docs/stores.md).
import type { MalformedValueError } from '../errors.ts';
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
  if (record.load) {
    for (const [field, key] of Object.entries(LOAD_KEYS)) {
      const value = record.load[field as keyof typeof LOAD_KEYS];
      if (value !== null) meta[key] = String(value);
    }
  }
  return meta;
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

export function fromService(key: string, service: ConsulServiceFields): InstanceRecord | MalformedValueError {
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
  const liveness = livenessFromMeta(meta);
  if (liveness) Object.assign(candidate, { liveness });
  return validateRecord('consul', key, candidate, { id: service.ID, service: service.Service });
}
