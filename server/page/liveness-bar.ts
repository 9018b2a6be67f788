// A tile's liveness bar: what is left of the device's window in this store, draining as the store
// says (etcd: the lease's remaining TTL; ZooKeeper: the session timeout less the time since the
// session's last contact, from `cons`; Consul: passing, or the reap countdown once critical), with
// the seconds left as text and where the figure comes from in its title. Where the store said nothing
// (ZooKeeper's `cons` refused, a server the kit did not start), the time since the device's last
// event stands in, and the title says so. Between two readings the page counts down by itself on
// the server's clock (FleetState.serverNow), four frames a second, the width gliding between them
// with a linear transition (liveness.css), so it drains smoothly. A device that ran out leaves a
// short-lived ghost in its place: "expired after 5.2 s (window 5 s)".
import type { DeviceView, ExpiredStamp, LivenessView } from '../contract.ts';
import { el, setAttr, setText } from './dom.ts';
import { expiredText, windowText } from './liveness-text.ts';

/** How long a ghost stays where its tile was. */
export const GHOST_MS = 20_000;
/**
 * Bars are redrawn this often (the page's own tick is once a second): each time the width is set to
 * where the countdown will be one frame later, reached by a linear CSS transition of the same length
 * (liveness.css), so that it drains smoothly and is never more than a frame off.
 */
const FRAME_MS = 250;
const GLIDE_MS = FRAME_MS;

/** Every bar made; one timer redraws those on the page. */
const bars = new Set<LivenessBar>();
let framing = false;
function startFrames(): void {
  if (framing) return;
  framing = true;
  setInterval(() => {
    for (const bar of bars) bar.frame();
  }, FRAME_MS);
}

type BarState = 'counting' | 'passing' | 'critical' | 'waiting' | 'stale';

interface Countdown {
  state: BarState;
  /** ms left now (null: nothing counts down: a passing check). */
  leftMs: number | null;
  totalMs: number;
  label: string;
  source: string;
}

const seconds = (ms: number) => `${(Math.max(0, ms) / 1000).toFixed(1)} s`;

export class LivenessBar {
  readonly element: HTMLElement;
  private readonly track: HTMLElement;
  private readonly fill: HTMLElement;
  private readonly text: HTMLElement;
  private reading: LivenessView | null = null;
  /** What the last tick drew from, for the frames in between. */
  private last: { device: DeviceView; columnWindowMs: number; clockOffsetMs: number } | null = null;
  private wasConnected = false;
  private active = true;

  constructor() {
    this.element = el('div', 'liveness');
    this.track = el('div', 'liveness-track');
    setAttr(this.track, 'role', 'meter');
    setAttr(this.track, 'aria-valuemin', '0');
    this.fill = el('div', 'liveness-fill');
    this.track.append(this.fill);
    this.text = el('span', 'liveness-text');
    this.element.append(this.track, this.text);
    bars.add(this);
    startFrames();
  }

  /** Whether the bar is on show (a dense grid's cell has none): only those are redrawn between ticks. */
  setActive(active: boolean): void {
    this.active = active;
  }

  /** A frame between two ticks: the same countdown, on the server's clock as the last tick knew it. */
  frame(): void {
    if (!this.element.isConnected) {
      if (this.wasConnected) bars.delete(this); // its tile left the page
      return;
    }
    this.wasConnected = true;
    if (!this.active) return;
    const last = this.last;
    if (last) this.draw(last.device, last.columnWindowMs, Date.now() + last.clockOffsetMs);
  }

  /** The newest countdown read from the store (null: none; the last event stands in). */
  setReading(reading: LivenessView | null): void {
    this.reading = reading;
  }

  /**
   * Redraws for `serverNow`; returns the device's window (its own, else the column's) for the tile's
   * liveness line.
   */
  tick(device: DeviceView, columnWindowMs: number, serverNow: number): number {
    this.last = { device, columnWindowMs, clockOffsetMs: serverNow - Date.now() };
    return this.draw(device, columnWindowMs, serverNow);
  }

  private draw(device: DeviceView, columnWindowMs: number, serverNow: number): number {
    const windowMs = device.window?.ms ?? columnWindowMs;
    const c = this.countdown(device, windowMs, serverNow);
    const total = c.totalMs > 0 ? c.totalMs : 1;
    const share = (ms: number) => Math.min(1, Math.max(0, ms / total));
    const nowShare = c.leftMs === null ? 1 : share(c.leftMs);
    const glideShare = c.leftMs === null ? 1 : share(c.leftMs - GLIDE_MS);
    if (c.state !== 'stale') this.fill.style.width = `${(glideShare * 100).toFixed(2)}%`;
    const level =
      c.state !== 'counting' ? c.state : nowShare > 2 / 3 ? 'ok' : nowShare > 1 / 3 ? 'low' : 'out';
    setAttr(this.element, 'data-level', level);
    setAttr(this.element, 'data-state', c.state);
    setAttr(
      this.element,
      'data-remaining-ms',
      c.leftMs === null ? null : String(Math.round(Math.max(0, c.leftMs))),
    );
    setAttr(this.element, 'data-window-ms', String(Math.round(c.totalMs)));
    setAttr(this.element, 'data-source', c.source);
    setAttr(this.track, 'aria-valuemax', (c.totalMs / 1000).toFixed(1));
    setAttr(this.track, 'aria-valuenow', ((c.leftMs ?? c.totalMs) / 1000).toFixed(1));
    setAttr(this.track, 'aria-valuetext', c.label);
    const own = device.window
      ? device.window.own
        ? "the device's own"
        : "the server's, the record has none"
      : '';
    setAttr(
      this.element,
      'title',
      `${c.label} · countdown from: ${c.source}` +
        (device.window ? ` · window: ${device.window.text} (${own})` : ''),
    );
    setText(this.text, c.label);
    return windowMs;
  }

  private countdown(device: DeviceView, windowMs: number, now: number): Countdown {
    // The store is down (its column says so): nothing runs out meanwhile that the page could know of
    // (etcd renews every lease when it is back, a ZooKeeper server that comes back renews its
    // sessions): the bar stops where it was.
    if (this.element.closest('[data-watch]')?.getAttribute('data-watch') === 'down') {
      return {
        state: 'stale',
        leftMs: null,
        totalMs: windowMs,
        label: 'store down: last known',
        source: 'nothing: the store is unreachable',
      };
    }
    if (device.liveness.model === 'check') {
      // Consul: its check is pushed with the device (health); once critical, Consul reaps it later.
      if (device.health === 'critical' && device.reapAt !== null && device.criticalSince !== null) {
        const left = device.reapAt - now;
        return {
          state: 'critical',
          leftMs: left,
          totalMs: device.reapAt - device.criticalSince,
          label: left > 0 ? `reaped in ${seconds(left)}` : 'reaping now…',
          source: "Consul's check: critical, reaped after its deregister delay",
        };
      }
      return {
        state: device.health === 'critical' ? 'critical' : 'passing',
        leftMs: null,
        totalMs: windowMs,
        label: `check ${device.health}`,
        source: "Consul's check, as Consul reports it",
      };
    }
    const r = this.reading;
    if (r && r.id === device.id && r.store === device.store) {
      const left = r.remainingMs - (now - r.at);
      return {
        state: 'counting',
        leftMs: left,
        totalMs: r.windowMs,
        label: `${seconds(left)} left`,
        source: r.source,
      };
    }
    if (!(windowMs > 0)) {
      return { state: 'waiting', leftMs: null, totalMs: 0, label: 'window unknown', source: 'nothing yet' };
    }
    const left = windowMs - (now - device.seenAt);
    return {
      state: 'counting',
      leftMs: left,
      totalMs: windowMs,
      label: `~${seconds(left)} left`,
      source:
        'the time since the last event: the store reported no countdown (ZooKeeper: allow cons in its 4lw.commands.whitelist)',
    };
  }
}

/**
 * The device ran out: its tile makes way for a ghost that says so, for GHOST_MS. The ghost is not a
 * `.tile` (counts and selections ignore it); it keeps the tile's id and last color.
 */
export function leaveGhost(tile: HTMLElement, device: DeviceView, stamp: ExpiredStamp): HTMLElement {
  const ghost = el('div', 'tile-ghost');
  ghost.dataset.store = device.store;
  ghost.dataset.ghostOf = device.id;
  ghost.dataset.expiredAfterMs = String(Math.round(stamp.afterMs));
  ghost.dataset.windowMs = String(Math.round(stamp.windowMs));
  ghost.append(el('strong', 'tile-ghost-id', device.id), el('span', 'tile-ghost-text', expiredText(stamp)));
  ghost.title = `${device.id} ${expiredText(stamp)}: measured from ${stamp.source} to its removal; window ${windowText(stamp.windowMs)}`;
  if (tile.isConnected) tile.replaceWith(ghost);
  setTimeout(() => ghost.remove(), GHOST_MS);
  return ghost;
}
