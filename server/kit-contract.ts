// What the live page tells an attendee's kit (`GET /kit/stores.json`, served with --classroom): the
// stores as the attendee can reach them, the namespace, the service and the liveness the page measures
// against. The server owns it and device/kit/ reads it; the kit checks every field (the JSON comes over
// the venue's network from whatever answered at the address the attendee typed).
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { livenessSchema, namespaceSchema, STORE_KINDS, serviceSchema } from '../lib/registry/index.ts';

export const KIT_PATHS = {
  page: '/kit/',
  bundle: '/kit/fleetkit.mjs',
  stores: '/kit/stores.json',
  credentials: '/kit/credentials',
} as const;

/** The answer to /kit/* while the classroom is off (404): says how the instructor turns it on. */
export const CLASSROOM_OFF =
  'the classroom is off on this page: the instructor starts it with `npm run demo -- --classroom` or `fleetkit server --classroom` (FLEET_CLASSROOM=on)';

export const KIT_STORES_VERSION = 1;

/** At most this many endpoints per store: a real cluster has 3 or 5. */
const MAX_ENDPOINTS = 9;

const endpointList = z.array(z.string().max(300, 'an endpoint of at most 300 characters')).max(MAX_ENDPOINTS);

export const kitStoresSchema = z.object({
  version: z.literal(KIT_STORES_VERSION, {
    error: `${KIT_STORES_VERSION} (this kit is older or newer than the page: download fleetkit.mjs again)`,
  }),
  /** The live page, for the attendee to open. */
  page: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }).max(2000),
  namespace: namespaceSchema,
  service: serviceSchema,
  /** Each configured store's endpoints, as the attendee can reach them; at least one store. */
  stores: z
    .object(
      Object.fromEntries(STORE_KINDS.map((k) => [k, endpointList.optional()])) as Record<
        (typeof STORE_KINDS)[number],
        z.ZodOptional<typeof endpointList>
      >,
    )
    .refine((s) => Object.values(s).some((list) => list && list.length > 0), 'at least one store'),
  /** The liveness the page shows windows for: the kit's devices use it (with Consul TTL checks). */
  liveness: livenessSchema,
  /**
   * The stores require credentials: the kit asks for the class code and gets the devices' credentials
   * at /kit/credentials (absent from an older page: false).
   */
  credentials: z.boolean().optional(),
});

export type KitStoresAnswer = z.infer<typeof kitStoresSchema>;

// The class's device credentials (`GET` or `POST /kit/credentials` with the class code): given to an
// attendee's kit only with the code the instructor says in the room (never on a page), in the header
// below or as {"code": "..."} in a POST body; never in the URL (a query lands in logs and histories).
export const CLASS_CODE_HEADER = 'x-class-code';

/** The files of a credentials folder, as `fleetkit stores --secure` writes one per role. */
export const CLASS_CREDENTIAL_FILES = ['credentials.env', 'ca.pem', 'client.pem', 'client-key.pem'] as const;

export const kitCredentialsSchema = z.object({
  version: z.literal(KIT_STORES_VERSION, {
    error: `${KIT_STORES_VERSION} (this kit is older or newer than the page: download fleetkit.mjs again)`,
  }),
  /** Which credentials, in words without a secret ("etcd user fleet-device, Consul token, ..."). */
  summary: z.string().max(300),
  /** credentials.env (relative paths to the PEM files beside it) and those files, as text. */
  files: z
    .array(z.object({ name: z.enum(CLASS_CREDENTIAL_FILES), text: z.string().max(64 * 1024) }))
    .min(1)
    .max(CLASS_CREDENTIAL_FILES.length)
    .refine((files) => new Set(files.map((f) => f.name)).size === files.length, 'each file once')
    .refine((files) => files.some((f) => f.name === 'credentials.env'), 'a credentials.env'),
});

export type KitCredentialsAnswer = z.infer<typeof kitCredentialsSchema>;

/** The class code as typed: letters and digits only, lower case (spaces, dashes and case do not count). */
export const normalizeClassCode = (text: string) => text.toLowerCase().replace(/[^a-z0-9]/g, '');

/** What an attendee can type (from the board or the projector): 6-64 letters or digits, dashes and spaces ignored. */
export const CLASS_CODE_RE = /^[A-Za-z0-9 -]{6,80}$/;
export const isClassCode = (text: string) =>
  CLASS_CODE_RE.test(text) && normalizeClassCode(text).length >= 6 && normalizeClassCode(text).length <= 64;

/** Letters and digits that read the same on a projector or a whiteboard (no 0/o, 1/l/i). */
const CODE_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/** A class code made at start: 8 characters in two groups (`k7mq-3xfa`), 31^8 (8.5e11) codes. */
export function makeClassCode(): string {
  const chars = Array.from({ length: 8 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]);
  return `${chars.slice(0, 4).join('')}-${chars.slice(4).join('')}`;
}
