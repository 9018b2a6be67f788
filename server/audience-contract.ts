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
  stores: PhoneStore[];
  /** How long the server waits for a beat before it lets the stores' windows run (SILENT_AFTER_MS). */
  silentAfterMs: number;
}

/** How one store holds the phone: its registration's state and the store's window for it. */
export interface PhoneStore {
  store: StoreKind;
  state: RegistrationState;
  /** How long after the server lets the phone go the store says it is gone (Consul: critical), ms. */
  windowMs: number;
  /** The store's liveness model in a few words: "lease TTL 5 s", "session timeout 5 s", "TTL check 5 s". */
  windowText: string;
}

export function audienceFull(cap: number): string {
  return `the room is full: ${cap} phones are devices already (the presenter's cap); watch the fleet at /`;
}

/** The answer to a new phone's join while the presenter has paused joining (phones already in stay). */
export const JOINING_PAUSED =
  'joining is paused by the presenter: you can watch the fleet at / until it opens again';

/** Told to each phone the presenter removed (event 'removed'): its page stops beating and waits. */
export const REMOVED_BY_PRESENTER =
  'the presenter removed every phone from the fleet: tap "join again" to be a device once more';

/** The main page's joins and leaves per second are counted over this window. */
export const AUDIENCE_RATE_WINDOW_MS = 10_000;

/** What every phone's page is told of the fleet, joined or not (event 'fleet'): it shows it read-only. */
export interface FleetGlance {
  color: string | null;
  joining: boolean;
}

export const TOO_MANY_JOINS = 'too many joins from this address: wait a few seconds and reload';
