// Changes leave for the pages in small batches, at most one per event-loop turn: a thousand devices
// changing at once make a few messages, not a thousand. Keyed by store/id, so that many changes to
// one device in one turn leave as its last state (and a device added then removed leaves as gone).
import type {
  AudienceState,
  ColorWriteTrace,
  DeviceFlags,
  DeviceView,
  FleetChanges,
  LivenessView,
  PhoneCell,
  SimulatedDevice,
  StoreColor,
  StoreKind,
  StoreView,
  TimelineEntry,
} from '../contract.ts';
import { wallClock } from '../wall-clock.ts';

export type Gone = FleetChanges['gone'][number];

/** Part of a batch; each field adds to what is pending. */
export interface ChangePart {
  devices?: DeviceView[];
  gone?: Gone[];
  stores?: StoreView[];
  timeline?: TimelineEntry[];
  /** undefined: unchanged; null: the simulated fleet went away. */
  simulation?: SimulatedDevice[] | null;
  /** undefined: unchanged; null: unpinned. */
  pinned?: TimelineEntry | null;
  flags?: DeviceFlags[];
  liveness?: LivenessView[];
  /** undefined: unchanged; null: the stores agree. */
  configColors?: StoreColor[] | null;
  /** The audience's phones (audience-bands.ts): cells added or changed, cells gone, the switch and rates. */
  phones?: PhoneCell[];
  phonesGone?: Gone[];
  audience?: AudienceState;
  /** The bench's stamps (only with FLEET_BENCH_TRACE): see BatchTrace. */
  trace?: { watched?: { store: StoreKind; id: string; at: number }[]; colors?: ColorWriteTrace[] };
}

/** The clock of the bench's stamps: the wall clock in ms, sub-ms resolution (the bench's and the page's). */
export const traceNow: () => number = wallClock();

interface PendingChanges {
  devices: Map<string, DeviceView>;
  gone: Map<string, Gone>;
  stores: Map<StoreKind, StoreView>;
  timeline: TimelineEntry[];
  /** undefined: unchanged. */
  simulation?: SimulatedDevice[] | null;
  pinned?: TimelineEntry | null;
  /** By device id: the last flags of this turn. */
  flags: Map<string, DeviceFlags>;
  /** By store/id: the newest countdown of this turn. */
  liveness: Map<string, LivenessView>;
  configColors?: StoreColor[] | null;
  /** By store/id, as devices and gone are. */
  phones: Map<string, PhoneCell>;
  phonesGone: Map<string, Gone>;
  audience?: AudienceState;
  /** By store/id: when the watch handed over the last change of this turn; undefined: no trace. */
  watched?: Map<string, { store: StoreKind; id: string; at: number }>;
  colors?: ColorWriteTrace[];
}

export class ChangeBatcher {
  private pending: PendingChanges | undefined;

  constructor(
    /** Called once per event-loop turn in which something was queued. */
    private readonly send: (changes: FleetChanges) => void,
  ) {}

  queue(part: ChangePart): void {
    if (!this.pending) {
      this.pending = {
        devices: new Map(),
        gone: new Map(),
        stores: new Map(),
        timeline: [],
        flags: new Map(),
        liveness: new Map(),
        phones: new Map(),
        phonesGone: new Map(),
      };
      setImmediate(() => this.flush());
    }
    const p = this.pending;
    for (const d of part.devices ?? []) {
      p.gone.delete(`${d.store}/${d.id}`);
      p.devices.set(`${d.store}/${d.id}`, d);
    }
    for (const g of part.gone ?? []) {
      p.devices.delete(`${g.store}/${g.id}`);
      p.liveness.delete(`${g.store}/${g.id}`);
      p.gone.set(`${g.store}/${g.id}`, g);
    }
    for (const v of part.stores ?? []) p.stores.set(v.store, v);
    p.timeline.push(...(part.timeline ?? []));
    if (part.simulation !== undefined) p.simulation = part.simulation;
    if (part.pinned !== undefined) p.pinned = part.pinned;
    for (const f of part.flags ?? []) p.flags.set(f.id, f);
    for (const l of part.liveness ?? []) p.liveness.set(`${l.store}/${l.id}`, l);
    if (part.configColors !== undefined) p.configColors = part.configColors;
    for (const c of part.phones ?? []) {
      p.phonesGone.delete(`${c.store}/${c.id}`);
      p.phones.set(`${c.store}/${c.id}`, c);
    }
    for (const g of part.phonesGone ?? []) {
      p.phones.delete(`${g.store}/${g.id}`);
      p.phonesGone.set(`${g.store}/${g.id}`, g);
    }
    if (part.audience) p.audience = part.audience;
    if (part.trace) {
      p.watched ??= new Map();
      for (const w of part.trace.watched ?? []) p.watched.set(`${w.store}/${w.id}`, w);
      if (part.trace.colors) p.colors = [...(p.colors ?? []), ...part.trace.colors];
    }
  }

  private flush(): void {
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    this.send({
      serverTime: Date.now(),
      devices: [...p.devices.values()],
      gone: [...p.gone.values()],
      stores: [...p.stores.values()],
      timeline: p.timeline,
      ...(p.simulation === undefined ? {} : { simulation: p.simulation }),
      ...(p.pinned === undefined ? {} : { pinned: p.pinned }),
      ...(p.flags.size === 0 ? {} : { flags: [...p.flags.values()] }),
      ...(p.liveness.size === 0 ? {} : { liveness: [...p.liveness.values()] }),
      ...(p.configColors === undefined ? {} : { configColors: p.configColors }),
      ...(p.phones.size === 0 ? {} : { phones: [...p.phones.values()] }),
      ...(p.phonesGone.size === 0 ? {} : { phonesGone: [...p.phonesGone.values()] }),
      ...(p.audience ? { audience: p.audience } : {}),
      ...(p.watched === undefined
        ? {}
        : {
            trace: {
              sentAt: traceNow(),
              watched: [...p.watched.values()],
              ...(p.colors ? { colors: p.colors } : {}),
            },
          }),
    });
  }
}
