// The audience's phones as each store holds them (service `audience`), for the main page's band under
// each column: one cell per phone (id, color, health, load) sent as changes, and per store how fast
// phones join and leave. Apart from the Pis' tiles, so that a hundred phones leave the Pis readable.
// What is under `audience` is untrusted like any store content: the registry's watch validates it, and
// past MAX_AUDIENCE_CAP entries per store the rest are counted, not sent.
import type { InstanceChange, InstanceWatch, Registry } from '../../lib/registry/index.ts';
import { AUDIENCE_RATE_WINDOW_MS, AUDIENCE_SERVICE, MAX_AUDIENCE_CAP } from '../audience-contract.ts';
import type { AudienceBand, AudienceState, PhoneCell, StoreKind } from '../contract.ts';
import type { ChangePart } from './batcher.ts';

/** How often the rates are worked out again (and sent when they changed). */
const RATE_EVERY_MS = 1000;

interface Band {
  watch: InstanceWatch;
  cells: Map<string, PhoneCell>;
  /** Ids over MAX_AUDIENCE_CAP: counted in `hidden`. */
  over: Set<string>;
  /** When phones were added and removed, within the rate window (server clock, ms). */
  joins: number[];
  leaves: number[];
}

export class AudienceBands {
  private joining = true;
  private readonly bands = new Map<StoreKind, Band>();
  private readonly timer: NodeJS.Timeout;
  private sent = '';

  constructor(
    private readonly cap: number,
    private readonly queue: (part: ChangePart) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => this.sendState(), RATE_EVERY_MS);
    this.timer.unref();
  }

  /** Watches the phones in one store (the fleet's own connection to it). */
  watch(store: StoreKind, registry: Registry): void {
    const band: Band = {
      watch: registry.watchInstances(AUDIENCE_SERVICE),
      cells: new Map(),
      over: new Set(),
      joins: [],
      leaves: [],
    };
    this.bands.set(store, band);
    band.watch.on('change', (change) => this.onChange(store, band, change));
  }

  /** The presenter's switch, as the page shows it. */
  setJoining(joining: boolean): void {
    this.joining = joining;
    this.sendState();
  }

  state(): AudienceState {
    const now = this.now();
    return {
      joining: this.joining,
      cap: this.cap,
      bands: [...this.bands].map(([store, band]): AudienceBand => {
        prune(band.joins, now);
        prune(band.leaves, now);
        const perSecond = (events: number[]) =>
          Math.round((events.length * 10_000) / AUDIENCE_RATE_WINDOW_MS) / 10;
        return {
          store,
          joinsPerSecond: perSecond(band.joins),
          leavesPerSecond: perSecond(band.leaves),
          hidden: band.over.size,
        };
      }),
    };
  }

  phones(): PhoneCell[] {
    return [...this.bands.values()].flatMap((band) => [...band.cells.values()]);
  }

  close(): void {
    clearInterval(this.timer);
    for (const band of this.bands.values()) band.watch.close();
  }

  private onChange(store: StoreKind, band: Band, change: InstanceChange): void {
    const { record, health } = change.instance;
    const { id } = record;
    if (change.type === 'removed') {
      band.leaves.push(this.now());
      if (band.over.delete(id)) return;
      if (band.cells.delete(id)) this.queue({ phonesGone: [{ store, id }] });
      return;
    }
    if (change.type === 'added') band.joins.push(this.now());
    if (!band.cells.has(id) && (band.over.has(id) || band.cells.size >= MAX_AUDIENCE_CAP)) {
      band.over.add(id);
      return;
    }
    const cell: PhoneCell = { store, id, color: record.color, health, load: record.load };
    band.cells.set(id, cell);
    this.queue({ phones: [cell] });
  }

  /** The switch and the rates, sent when they differ from what was last sent. */
  private sendState(): void {
    const state = this.state();
    const text = JSON.stringify(state);
    if (text === this.sent) return;
    this.sent = text;
    this.queue({ audience: state });
  }
}

/** Drops the times older than the rate window (they are in time order). */
function prune(times: number[], now: number): void {
  let old = 0;
  while (old < times.length && now - times[old]! > AUDIENCE_RATE_WINDOW_MS) old++;
  if (old > 0) times.splice(0, old);
}
