// The audience's phones as devices: the control host registers each phone in every store (service
// `audience`, label kind=phone) on its behalf, and keeps those registrations alive only while the
// phone's page heartbeats. A phone that falls silent (tab closed, flight mode, out of Wi-Fi) is
// dropped as an unplugged device is (Registry.drop): each store then removes it at the end of its own
// window. Leaving is a clean stop (deregistered everywhere at once). One phone = one registry per store:
// a ZooKeeper session, an etcd lease and a Consul TTL check of its own.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { Logger } from '../../lib/cli/log.ts';
import {
  type BrowserLoad,
  createRegistry,
  errorMessage,
  type LivenessSettings,
  livenessModel,
  newIncarnation,
  type Registration,
  type Registry,
  type StoreKind,
} from '../../lib/registry/index.ts';
import {
  AUDIENCE_SERVICE,
  audienceFull,
  type FleetGlance,
  HEARTBEAT_MS,
  JOINING_PAUSED,
  type JoinAnswer,
  PHONE_LABELS,
  type PhoneView,
  SILENT_AFTER_MS,
} from '../audience-contract.ts';
import type { ServerConfig } from '../config.ts';
import type { Fleet } from '../fleet/fleet.ts';
import { RefusedError } from '../http/socket-guard.ts';
import { friendlyId } from './names.ts';

/** What the audience needs of the server's settings. */
export type AudienceSettings = Pick<
  ServerConfig,
  'stores' | 'namespace' | 'credentials' | 'liveness' | 'port' | 'audienceCap'
>;

interface Phone {
  id: string;
  key: string;
  /** Kept across a drop: the next registration takes over what the stores still hold of this one. */
  incarnation: string;
  host: string;
  lastBeatAt: number;
  /** Null while dropped (silent): the stores are letting it expire. */
  held: { registry: Registry; registration: Registration }[] | null;
  color: string | null;
  load: BrowserLoad | null;
  /** When its load was last written to the stores (server clock, ms). */
  loadWrittenAt: number;
}

/**
 * A phone's load goes to the stores at most this often, and only when it moved (a loop delay by
 * LOOP_STEP_MS, the battery by a percent): 200 phones' beats must not become 600 store writes a second.
 */
const LOAD_EVERY_MS = 5000;
const LOOP_STEP_MS = 20;

/** Phones remembered (for a rejoin with the same id) beyond the cap, while dropped. */
const REMEMBERED_PER_CAP = 4;

/**
 * 'phone': a phone's view changed; sent to the connections that joined with its key. 'glance': what
 * every phone's page shows of the fleet (joined or not) changed. 'removed': by the presenter.
 */
export class Audience extends EventEmitter<{
  phone: [key: string, view: PhoneView];
  glance: [FleetGlance];
  /** The presenter removed this phone: its page stops and does not join again by itself. */
  removed: [key: string];
}> {
  private readonly byKey = new Map<string, Phone>();
  private readonly ids = new Set<string>();
  private color: string | null = null;
  /** The presenter's switch: false, new phones are refused (phones this server knows may come back). */
  private joining = true;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly settings: AudienceSettings,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.sweeper = setInterval(() => this.sweep(), HEARTBEAT_MS / 2);
    this.sweeper.unref();
  }

  /** Phones registered now (not dropped). */
  get count(): number {
    return [...this.byKey.values()].filter((p) => p.held).length;
  }

  /**
   * A phone's page joins: its device again when it brings the key of one (kept across reloads), else a
   * new one. Throws RefusedError when the room is full.
   */
  join(key: string | undefined, address: string): JoinAnswer {
    if (this.closed) throw new RefusedError('the page is stopping');
    const known = key === undefined ? undefined : this.byKey.get(key);
    if (known?.held) {
      known.lastBeatAt = this.now();
      return this.answer(known, true);
    }
    if (!known && !this.joining) throw new RefusedError(JOINING_PAUSED);
    if (this.count >= this.settings.audienceCap)
      throw new RefusedError(audienceFull(this.settings.audienceCap));
    const phone = known ?? this.newPhone(address);
    phone.lastBeatAt = this.now();
    this.hold(phone);
    return this.answer(phone, false);
  }

  /**
   * The page is still there, with what it measured of itself (now and then); an unknown or dropped key
   * is told to join again (false).
   */
  beat(key: string, load?: BrowserLoad): boolean {
    const phone = this.byKey.get(key);
    if (!phone?.held) return false;
    phone.lastBeatAt = this.now();
    if (load && phone.lastBeatAt - phone.loadWrittenAt >= LOAD_EVERY_MS && loadMoved(phone.load, load)) {
      phone.load = load;
      phone.loadWrittenAt = phone.lastBeatAt;
      for (const { registration } of phone.held) registration.update({ load }).catch(() => undefined);
    }
    return true;
  }

  /** The page shows this color now: written back to the phone's registrations, as a Pi does. */
  applied(key: string, color: string): void {
    const phone = this.byKey.get(key);
    if (!phone?.held || phone.color === color) return;
    phone.color = color;
    for (const { registration } of phone.held) registration.update({ color }).catch(() => undefined); // written with the next registration
  }

  view(key: string): PhoneView | undefined {
    const phone = this.byKey.get(key);
    return phone ? this.viewOf(phone) : undefined;
  }

  /** The leave button: gone from every store at once. */
  async leave(key: string): Promise<boolean> {
    const phone = this.byKey.get(key);
    if (!phone) return false;
    this.forget(phone);
    await this.release(phone);
    return true;
  }

  /**
   * The presenter's "remove all audience devices": each registered phone deregistered at once (its
   * page told, and forgotten). Phones already let go (silent) are forgotten too; what the stores still
   * hold of them ends with each store's window, as for an unplugged Pi. Returns the phones deregistered.
   */
  async removeAll(): Promise<number> {
    const removed = await this.releaseAll((phone) => this.emit('removed', phone.key));
    this.log.info(`audience: ${removed} phones removed by the presenter`);
    return removed;
  }

  /** Every phone forgotten (`told` first), the registered ones deregistered; returns how many those were. */
  private async releaseAll(told: (phone: Phone) => void = () => {}): Promise<number> {
    const phones = [...this.byKey.values()];
    const held = phones.filter((phone) => phone.held);
    for (const phone of phones) {
      this.forget(phone);
      told(phone);
    }
    await Promise.all(held.map((p) => this.release(p)));
    return held.length;
  }

  /** The presenter's switch: lets new phones join, or pauses joining (the phones in stay). */
  setJoining(joining: boolean): void {
    if (joining === this.joining) return;
    this.joining = joining;
    this.log.info(`audience: joining ${joining ? 'open' : 'paused'} by the presenter`);
    this.emit('glance', this.glance());
  }

  /** What every phone's page shows of the fleet, joined or not. */
  glance(): FleetGlance {
    return { color: this.color, joining: this.joining };
  }

  /** The fleet's color changed in a store's config: every phone is told (each applies and reports it). */
  setColor(color: string | null): void {
    if (color === this.color) return;
    this.color = color;
    this.emit('glance', this.glance());
    for (const phone of this.byKey.values())
      if (phone.held) this.emit('phone', phone.key, this.viewOf(phone));
  }

  /** The server stops: every phone deregistered (a clean stop of the control host, not an unplug). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    await this.releaseAll();
  }

  private newPhone(address: string): Phone {
    const phone: Phone = {
      id: friendlyId((id) => this.ids.has(id)),
      key: randomBytes(24).toString('base64url'),
      incarnation: newIncarnation(),
      host: hostOf(address),
      lastBeatAt: this.now(),
      held: null,
      color: null,
      load: null,
      loadWrittenAt: 0,
    };
    this.byKey.set(phone.key, phone);
    this.ids.add(phone.id);
    this.forgetOldest();
    return phone;
  }

  private hold(phone: Phone): void {
    const stores = Object.entries(this.settings.stores) as [StoreKind, string[]][];
    phone.held = stores.map(([store, endpoints]) => {
      const registry = createRegistry({
        store,
        endpoints,
        namespace: this.settings.namespace,
        credentials: this.settings.credentials,
        // The phone cannot answer an HTTP check: Consul hears from the control host, while the phone beats.
        liveness: this.phoneLiveness(),
        incarnation: phone.incarnation,
      });
      const registration = registry.register({
        service: AUDIENCE_SERVICE,
        id: phone.id,
        host: phone.host,
        port: this.settings.port,
        labels: { ...PHONE_LABELS },
        load: phone.load,
        color: phone.color,
      });
      registration.on('state', () => this.emit('phone', phone.key, this.viewOf(phone)));
      registration.on('conflict', (error) => this.log.warn(`audience ${phone.id}: ${error.message}`));
      return { registry, registration };
    });
    this.log.info(`audience: ${phone.id} joined (${this.count} of ${this.settings.audienceCap})`);
  }

  /** Phones silent for SILENT_AFTER_MS are let go as unplugged devices: each store's window runs. */
  private sweep(): void {
    const now = this.now();
    for (const phone of this.byKey.values()) {
      if (!phone.held || now - phone.lastBeatAt <= SILENT_AFTER_MS) continue;
      const held = phone.held;
      phone.held = null;
      this.log.info(
        `audience: ${phone.id} silent for ${now - phone.lastBeatAt} ms: left to expire in each store`,
      );
      for (const { registry } of held)
        registry.drop().catch((error) => this.log.warn(`audience ${phone.id}: ${errorMessage(error)}`));
    }
  }

  private forget(phone: Phone): void {
    this.byKey.delete(phone.key);
    this.ids.delete(phone.id);
  }

  private async release(phone: Phone): Promise<void> {
    const held = phone.held;
    phone.held = null;
    if (!held) return;
    await Promise.all(
      held.map(async ({ registry, registration }) => {
        await registration.deregister().catch(() => undefined); // a store down: it expires instead
        await registry.close();
      }),
    );
  }

  /** Dropped phones are remembered for a rejoin; beyond REMEMBERED_PER_CAP x cap the oldest go. */
  private forgetOldest(): void {
    const limit = this.settings.audienceCap * REMEMBERED_PER_CAP;
    for (const phone of this.byKey.values()) {
      if (this.byKey.size <= limit) return;
      if (!phone.held) this.forget(phone);
    }
  }

  private answer(phone: Phone, resumed: boolean): JoinAnswer {
    return { id: phone.id, key: phone.key, heartbeatMs: HEARTBEAT_MS, resumed };
  }

  private viewOf(phone: Phone): PhoneView {
    return {
      id: phone.id,
      color: this.color,
      stores: (phone.held ?? []).map(({ registration }) => {
        const model = livenessModel(registration.store, this.phoneLiveness());
        return {
          store: registration.store,
          state: registration.state,
          windowMs: model.windowMs,
          windowText: model.text,
        };
      }),
      silentAfterMs: SILENT_AFTER_MS,
    };
  }

  /** The phones' liveness: the server's, with a TTL check in Consul (a phone cannot answer an HTTP one). */
  private phoneLiveness(): LivenessSettings {
    return { ...this.settings.liveness, consulCheck: 'ttl' };
  }
}

/** Worth a write: the first figures, a sensor appearing or going, or a figure that moved by its step. */
function loadMoved(before: BrowserLoad | null, after: BrowserLoad): boolean {
  if (!before) return true;
  const moved = (a: number | null, b: number | null, step: number) =>
    (a === null) !== (b === null) || (a !== null && b !== null && Math.abs(a - b) >= step);
  return (
    moved(before.eventLoopDelayMs, after.eventLoopDelayMs, LOOP_STEP_MS) ||
    moved(before.batteryPercent, after.batteryPercent, 1)
  );
}

/** The phone's address as the record's host: IPv4-mapped IPv6 unwrapped; anything odd, 0.0.0.0. */
function hostOf(address: string): string {
  const plain = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  return isIP(plain) ? plain : '0.0.0.0';
}

/**
 * The audience and the fleet, both ways: the phones show the fleet's color as a Pi applies it (the
 * latest value a store's config changed to: the fleet's store views carry each store's config color);
 * the presenter's switch is the audience's, and the pages see it through the fleet's snapshot and changes.
 */
export function linkAudience(fleet: Fleet, audience: Audience): void {
  audience.on('glance', (glance) => fleet.setAudienceJoining(glance.joining));
  const seen = new Map<StoreKind, string | null>();
  fleet.on('changes', (changes) => {
    for (const view of changes.stores) {
      const before = seen.get(view.store);
      seen.set(view.store, view.color);
      if (view.color !== null && view.color !== before) audience.setColor(view.color);
    }
  });
}
