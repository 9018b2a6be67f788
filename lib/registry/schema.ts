// Validation of everything that enters the registry: caller input and values found in the stores.
// One place, so that the device, the server and the stores agree on what is valid.
import { isIP } from 'node:net';
import { z } from 'zod';
import { type FieldIssue, ValidationError } from './errors.ts';
import type { LivenessSettings } from './types.ts';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const SERVICE_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const LABEL_KEY_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const HOSTNAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*$/;
// Control characters and the bidi overrides have no business in a label shown on a projector.
// biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point of this pattern
const UNPRINTABLE_RE = /[\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]/;

/** Reserved for the kit's own fields in Consul's service Meta (see docs/stores.md). */
export const RESERVED_LABEL_PREFIX = 'fleet_';
export const MAX_LABELS = 32;

export const namespaceSchema = z
  .string()
  .regex(
    NAME_RE,
    "1-64 letters, digits, '-' or '_', starting with a letter or digit (no '/', '.' or spaces)",
  );
export const serviceSchema = z
  .string()
  .regex(SERVICE_RE, "1-63 lowercase letters, digits or '-', starting with a letter or digit (a DNS label)");
export const instanceIdSchema = z
  .string()
  .regex(ID_RE, "1-128 letters, digits, '_', '.', ':' or '-', starting with a letter or digit (no '/')");
export const configKeySchema = z
  .string()
  .regex(SERVICE_RE, "1-63 lowercase letters, digits or '-', starting with a letter or digit");

export const hostSchema = z
  .string()
  .refine((h) => isIP(h) !== 0 || HOSTNAME_RE.test(h), 'an IPv4 or IPv6 address or a hostname');
export const portSchema = z
  .number({ error: 'a whole number from 1 to 65535' })
  .int('a whole number from 1 to 65535')
  .min(1, 'a whole number from 1 to 65535')
  .max(65535, 'a whole number from 1 to 65535');

const printable = (max: number) =>
  z
    .string()
    .max(max, `at most ${max} characters`)
    .refine((s) => !UNPRINTABLE_RE.test(s), 'printable text (no control characters)');

export const labelsSchema = z
  .record(
    z
      .string()
      .regex(LABEL_KEY_RE, "label names: a letter, then letters, digits, '_' or '-' (at most 64)")
      .refine(
        (k) => !k.startsWith(RESERVED_LABEL_PREFIX),
        `label names may not start with "${RESERVED_LABEL_PREFIX}"`,
      ),
    printable(256),
  )
  .refine((labels) => Object.keys(labels).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`);

const finite = (min: number, max: number, what: string) =>
  z
    .number({ error: `${what} (a number from ${min} to ${max})` })
    .min(min, `${what} from ${min} to ${max}`)
    .max(max, `${what} from ${min} to ${max}`);

export const machineLoadSchema = z.object({
  cpuPercent: finite(0, 100, 'CPU percent'),
  load1: finite(0, 10_000, 'load average'),
  memUsedPercent: finite(0, 100, 'memory used percent'),
  temperatureC: finite(-60, 200, 'temperature in °C').nullable(),
  uptimeSeconds: finite(0, 1e10, 'uptime in seconds'),
});

/** A phone's page: its event loop's delay and its battery, each null where the browser does not tell. */
export const browserLoadSchema = z.strictObject({
  kind: z.literal('browser', { error: 'kind "browser"' }),
  eventLoopDelayMs: finite(0, 600_000, 'event-loop delay in ms').nullable(),
  batteryPercent: finite(0, 100, 'battery percent').nullable(),
});

/** A machine's load (an agent's), or a browser's (kind "browser": the audience's phones). */
export const loadSchema = z.union([browserLoadSchema, machineLoadSchema], {
  error: 'a load: cpuPercent, load1, memUsedPercent, temperatureC, uptimeSeconds; or kind "browser"',
});

// A CSS color a device can paint itself with: #rgb or #rrggbb, or a plain color name. Nothing that
// could be a URL, an expression or markup gets through.
const HEX_COLOR_RE = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;
export const COLOR_NAMES = [
  'black',
  'white',
  'gray',
  'grey',
  'silver',
  'red',
  'maroon',
  'orange',
  'gold',
  'yellow',
  'olive',
  'lime',
  'green',
  'teal',
  'cyan',
  'aqua',
  'blue',
  'navy',
  'indigo',
  'purple',
  'violet',
  'magenta',
  'fuchsia',
  'pink',
  'brown',
  'coral',
  'crimson',
  'salmon',
  'tomato',
  'turquoise',
  'skyblue',
  'steelblue',
  'royalblue',
  'orchid',
] as const;
const COLOR_NAME_SET: ReadonlySet<string> = new Set(COLOR_NAMES);
export const COLOR_EXPECTED = 'a color as #rgb, #rrggbb or a plain color name such as red';
export const colorSchema = z
  .string()
  .max(32, COLOR_EXPECTED)
  .refine((c) => HEX_COLOR_RE.test(c) || COLOR_NAME_SET.has(c.toLowerCase()), COLOR_EXPECTED);

export const instanceSpecSchema = z.strictObject({
  service: serviceSchema,
  id: instanceIdSchema,
  host: hostSchema,
  port: portSchema,
  labels: labelsSchema.optional(),
  load: loadSchema.nullable().optional(),
  color: colorSchema.nullable().optional(),
});

export const instancePatchSchema = z.strictObject({
  labels: labelsSchema.optional(),
  load: loadSchema.nullable().optional(),
  color: colorSchema.nullable().optional(),
});

const isoDate = z
  .string()
  .max(40)
  .refine((s) => !Number.isNaN(Date.parse(s)), 'an ISO date');
export const instanceRecordSchema = z.strictObject({
  id: instanceIdSchema,
  service: serviceSchema,
  host: hostSchema,
  port: portSchema,
  labels: labelsSchema,
  load: loadSchema.nullable(),
  color: colorSchema.nullable(),
  incarnation: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'an incarnation token'),
  registeredAt: isoDate,
  updatedAt: isoDate,
  // A function, not the schema itself: livenessSchema is defined below (with its defaults).
  liveness: z.lazy(() => deviceLivenessSchema).optional(),
});

const seconds = (min: number, max: number) =>
  z
    .number({ error: `a number of seconds from ${min} to ${max}` })
    .int(`a whole number of seconds from ${min} to ${max}`)
    .min(min, `a whole number of seconds from ${min} to ${max}`)
    .max(max, `a whole number of seconds from ${min} to ${max}`);

export const DEFAULT_LIVENESS: Readonly<LivenessSettings> = Object.freeze({
  leaseTtlSeconds: 5,
  sessionTimeoutMs: 5000,
  consulCheck: 'http',
  checkIntervalSeconds: 2,
  checkTimeoutSeconds: 1,
  checkTtlSeconds: 5,
  deregisterCriticalAfterSeconds: 60,
});

export const livenessSchema = z.strictObject({
  leaseTtlSeconds: seconds(1, 3600),
  sessionTimeoutMs: z
    .number({ error: 'milliseconds from 1000 to 60000' })
    .int('whole milliseconds from 1000 to 60000')
    .min(1000, 'milliseconds from 1000 to 60000')
    .max(60000, 'milliseconds from 1000 to 60000'),
  consulCheck: z.enum(['http', 'ttl'], { error: "'http' or 'ttl'" }),
  checkIntervalSeconds: seconds(1, 3600),
  checkTimeoutSeconds: seconds(1, 3600),
  checkTtlSeconds: seconds(1, 3600),
  deregisterCriticalAfterSeconds: seconds(60, 86400),
});

/**
 * A record's own liveness settings (InstanceRecord.liveness): any of the knobs, each checked as a
 * setting is; an unknown knob or a bad value makes the record malformed, named field by field.
 */
export const deviceLivenessSchema = livenessSchema.partial();

/** Consul: the default minimum interval between load-only updates (RegistryOptions.consulLoadIntervalSeconds). */
export const DEFAULT_CONSUL_LOAD_INTERVAL_SECONDS = 15;
export const loadIntervalSchema = seconds(0, 3600);

/** How long after a device dies its store says so: the window the page counts down. */
export function livenessWindowMs(store: 'etcd' | 'zookeeper' | 'consul', l: LivenessSettings): number {
  const windows = {
    etcd: l.leaseTtlSeconds * 1000,
    zookeeper: l.sessionTimeoutMs,
    consul:
      l.consulCheck === 'ttl'
        ? l.checkTtlSeconds * 1000
        : (l.checkIntervalSeconds + l.checkTimeoutSeconds) * 1000,
  };
  return windows[store];
}

export function toFieldIssues(error: z.ZodError, prefix = ''): FieldIssue[] {
  const join = (...parts: string[]) => parts.filter(Boolean).join('.') || '(value)';
  return error.issues.flatMap((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: join(prefix, path, key),
        expected: 'no such setting (unknown field)',
      }));
    }
    return [{ field: join(prefix, path), expected: issue.message }];
  });
}

/** Parses or throws a ValidationError naming every bad field. */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string, prefix = ''): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(what, toFieldIssues(result.error, prefix));
  return result.data;
}

/** The reason a value failed, in a few words, for MalformedValueError. */
export function describeIssues(error: z.ZodError): string {
  return toFieldIssues(error)
    .slice(0, 3)
    .map((i) => `${i.field}: ${i.expected}`)
    .join('; ');
}
