// What the live page tells an attendee's kit (`GET /kit/stores.json`, served with --classroom): the
// stores as the attendee can reach them, the namespace, the service and the liveness the page measures
// against. The server owns it and device/kit/ reads it; the kit checks every field (the JSON comes over
// the venue's network from whatever answered at the address the attendee typed).
import { z } from 'zod';
import { livenessSchema, namespaceSchema, STORE_KINDS, serviceSchema } from '../lib/registry/index.ts';

export const KIT_PATHS = {
  page: '/kit/',
  bundle: '/kit/fleetkit.mjs',
  stores: '/kit/stores.json',
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
});

export type KitStoresAnswer = z.infer<typeof kitStoresSchema>;
