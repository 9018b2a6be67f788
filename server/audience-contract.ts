// What the audience's phones and the control host say to each other (GET /join, socket namespace
// /audience), answered with the Ack of contract.ts. Constants and types only, with no runtime import:
// the phone's page (server/phone/) is bundled from it for the browser. What a phone sends is untrusted
// and checked by the server (server/audience/requests.ts).
import type { RegistrationState, StoreKind } from '../lib/registry/index.ts';

export const JOIN_PATH = '/join';
export const AUDIENCE_NAMESPACE = '/audience';
/** The service the phones are registered under: never the Pis' (FLEET_SERVICE). */
export const AUDIENCE_SERVICE = 'audience';
export const PHONE_LABELS = { kind: 'phone' } as const;

/** The answer to /join (404) and to a join while joining is off: says how the presenter turns it on. */
export const AUDIENCE_OFF =
  'joining is off: the presenter turns it on with `fleetkit server --audience-devices` (FLEET_AUDIENCE_DEVICES=on)';

export const DEFAULT_AUDIENCE_CAP = 200;
export const MAX_AUDIENCE_CAP = 2000;

/** How often a phone's page says it is still there. */
export const HEARTBEAT_MS = 1000;
/**
 * A phone silent this long is let go: its registrations are dropped as an unplugged device's are, and
 * each store removes it at the end of its own window. Three heartbeats: one late packet on venue Wi-Fi
 * is not an unplug.
 */
export const SILENT_AFTER_MS = 3 * HEARTBEAT_MS;

export interface JoinAnswer {
  id: string;
  key: string;
  heartbeatMs: number;
  /** True when this browser's device was still registered (a reload, a reconnect within the window). */
  resumed: boolean;
}

/** What the server tells a phone about itself, at join and whenever it changes (event 'phone'). */
export interface PhoneView {
  id: string;
  /** The fleet's color, as the stores hold it (the latest a store's config changed to), or null. */
  color: string | null;
  stores: { store: StoreKind; state: RegistrationState }[];
}

export function audienceFull(cap: number): string {
  return `the room is full: ${cap} phones are devices already (the presenter's cap); watch the fleet at /`;
}

export const TOO_MANY_JOINS = 'too many joins from this address: wait a few seconds and reload';
