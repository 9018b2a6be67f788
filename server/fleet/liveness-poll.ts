// The countdowns the page shows, read from the stores themselves (Registry.readLiveness): once a
// second, for the devices shown in one store's column, one poll at a time. A reading leaves for the
// pages only when it differs from what the page works out from the last one (it counts down by
// itself), so a device running out costs nothing after its first reading, and a live one a message
// each time its lease or session is renewed. The last reading of each device stays for the "expired
// after" stamp (expiredStamp), measured from the last contact the store reported.
import type { LivenessReading, LivenessTarget, Registry } from '../../lib/registry/index.ts';
import type { DeviceView, ExpiredStamp, LivenessView, StoreKind } from '../contract.ts';

export const POLL_EVERY_MS = 1000;
/** Devices read per poll and store: a page of tiles (more are read in turn, the ones running out first). */
export const POLL_MAX = 64;
/** A reading differing from the page's own countdown by less than this is not sent. */
const DRIFT_MS = 300;
/** A device removed after less than this share of its window since its last contact left; it did not expire. */
const EXPIRED_SHARE = 0.5;

/** What the poller remembers of a device: the last reading sent, and the store's deadline narrowed. */
interface Known {
  view: LivenessView;
  /** Server clock: the store ends it between lo and hi (etcd answers whole seconds: narrowed poll by poll). */
  lo: number;
  hi: number;
  /** Server clock: the last contact the store reported (the lease's last renewal, the session's last answer). */
  contactAt: number;
}

export class LivenessPoller {
  private readonly known = new Map<string, Known>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private closed = false;
  /** Round-robin position over the shown devices when there are more than POLL_MAX. */
  private cursor = 0;

  constructor(
    private readonly store: StoreKind,
    private readonly registry: Pick<Registry, 'readLiveness' | 'state'>,
    /** The devices shown in this column now. */
    private readonly shown: () => DeviceView[],
    /** New readings for the pages. */
    private readonly send: (views: LivenessView[]) => void,
  ) {
    this.timer = setInterval(() => void this.poll(), POLL_EVERY_MS);
    this.timer.unref?.();
  }

  /** The last readings of the devices shown, for a page's snapshot. */
  views(): LivenessView[] {
    return [...this.known.values()].map((k) => k.view);
  }

  /**
   * The device left the store: if it ran out (at least half its window since the last contact the
   * store reported, or since its last event when the store reported none), how long after.
   */
  expiredStamp(device: DeviceView, windowMs: number, now: number): ExpiredStamp | undefined {
    const known = this.known.get(device.id);
    this.known.delete(device.id);
    const contactAt = known?.contactAt ?? device.seenAt;
    const window = known?.view.windowMs ?? windowMs;
    const afterMs = now - contactAt;
    if (!(window > 0) || afterMs < window * EXPIRED_SHARE) return undefined;
    return { kind: 'expired', afterMs, windowMs: window, source: known?.view.source ?? 'the last event' };
  }

  forget(id: string): void {
    this.known.delete(id);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }

  /** One round: the shown devices (at most POLL_MAX, the ones running out first), read and compared. */
  async poll(): Promise<void> {
    if (this.polling || this.closed || this.registry.state !== 'connected') return;
    const shown = this.shown();
    const ids = new Set(shown.map((d) => d.id));
    for (const id of this.known.keys()) if (!ids.has(id)) this.known.delete(id);
    if (shown.length === 0) return;
    this.polling = true;
    try {
      const targets = this.choose(shown);
      const readings = await this.registry.readLiveness(targets);
      if (this.closed) return;
      const fresh: LivenessView[] = [];
      for (const [id, reading] of readings) {
        if (!ids.has(id)) continue;
        const view = this.take(id, reading);
        if (view) fresh.push(view);
      }
      if (fresh.length > 0) this.send(fresh);
    } finally {
      this.polling = false;
    }
  }

  private choose(shown: DeviceView[]): LivenessTarget[] {
    const target = (d: DeviceView): LivenessTarget => ({ record: { id: d.id }, liveness: d.liveness });
    if (shown.length <= POLL_MAX) return shown.map(target);
    const now = Date.now();
    const share = (d: DeviceView) => {
      const k = this.known.get(d.id);
      return k ? (k.view.remainingMs - (now - k.view.at)) / k.view.windowMs : 0;
    };
    // Those running out (below two thirds of their window: a renewal missed) first, then in turn.
    const low = shown.filter((d) => share(d) < 2 / 3).slice(0, POLL_MAX);
    const rest = shown.filter((d) => share(d) >= 2 / 3);
    const picked = [...low];
    for (let i = 0; i < rest.length && picked.length < POLL_MAX; i++)
      picked.push(rest[(this.cursor + i) % rest.length]!);
    this.cursor = rest.length > 0 ? (this.cursor + POLL_MAX) % rest.length : 0;
    return picked.map(target);
  }

  /** The reading as the page's view; undefined when the page's own countdown is close enough. */
  private take(id: string, reading: LivenessReading): LivenessView | undefined {
    const previous = this.known.get(id);
    let lo: number;
    let hi: number;
    let contactAt: number;
    if (reading.kind === 'expires') {
      lo = reading.at + reading.minMs;
      hi = reading.at + reading.maxMs;
      // The same deadline read again (not renewed since): keep what both readings allow.
      if (previous && lo < previous.hi && hi > previous.lo) {
        lo = Math.max(lo, previous.lo);
        hi = Math.min(hi, previous.hi);
      }
      contactAt = (lo + hi) / 2 - reading.windowMs;
    } else {
      contactAt = reading.at - reading.sinceMs;
      lo = contactAt + reading.windowMs;
      hi = lo;
    }
    const view: LivenessView = {
      store: this.store,
      id,
      at: reading.at,
      remainingMs: Math.max(0, Math.round((lo + hi) / 2 - reading.at)),
      windowMs: reading.windowMs,
      source: reading.source,
    };
    this.known.set(id, { view: previous?.view ?? view, lo, hi, contactAt });
    if (previous) {
      const expected = previous.view.remainingMs - (view.at - previous.view.at);
      const same =
        previous.view.windowMs === view.windowMs &&
        previous.view.source === view.source &&
        Math.abs(Math.max(0, expected) - view.remainingMs) < DRIFT_MS;
      if (same) return undefined;
    }
    this.known.get(id)!.view = view;
    return view;
  }
}
