// Where the stores disagree, flagged for the pages and named in the timeline: a device one store lists
// and another does not (missing), a device id held by two processes (conflict), a device that applied
// different colors in different stores, and stores whose config holds different colors.
//
// What the server can see of a conflict: a device in conflict is the second process with an id that
// another live process holds. It never writes its record (the store refuses its claim, lib/registry
// adapters' ConflictError, and it retries with backoff), so a store shows only the holder, and the
// server cannot see the loser from any one store. What it sees is the stores disagreeing about who
// holds the id: one store holds it at one host:port, another at a different one (each store was won by
// a different process, or one process took over where the other was lost). That is what is flagged.
//
// The stores never change in step (a color reaches three stores milliseconds apart, a dead device
// leaves etcd seconds before Consul reaps it), so a disagreement is flagged only once it has lasted
// GRACE_MS; it is cleared at once. Timeline entries go through a NoteBudget: a classroom of 120
// laptops joining one store after another must not fill the timeline with flags.
import type { DeviceFlags, DeviceView, StoreColor, StoreKind, StoreView } from '../contract.ts';
import { NoteBudget } from './note-budget.ts';
import type { Note } from './timeline.ts';

export const GRACE_MS = 3000;
/** A demo's kills and rejoins are named one by one; a classroom's 120 joins are summed up. */
export const NOTES_PER_MINUTE = 30;

type FlagKind = 'missing' | 'conflict' | 'colors';
const FLAG_KINDS: readonly FlagKind[] = ['missing', 'conflict', 'colors'];

export interface DisagreementHooks {
  /** The views of this id, one per store that holds it. */
  views(id: string): DeviceView[];
  /** Stores with a complete list (live or last known, none held back by the cap): absence there counts. */
  listed(): StoreKind[];
  /** The plain command that reads this device in this store. */
  command(store: StoreKind, id: string): string | undefined;
  note(note: Note): void;
  flags(flags: DeviceFlags): void;
  configColors(colors: StoreColor[] | null): void;
}

const colorText = (color: string | null) => color ?? 'none';
const storeColors = (colors: StoreColor[]) =>
  colors.map((c) => `${c.store} ${colorText(c.color)}`).join(', ');
export const noFlags = (id: string): DeviceFlags => ({ id, missing: [], conflict: null, colors: null });
const flagged = (flags: DeviceFlags, kind: FlagKind) =>
  kind === 'missing' ? flags.missing.length > 0 : flags[kind] !== null;
export const anyFlag = (flags: DeviceFlags) => FLAG_KINDS.some((kind) => flagged(flags, kind));

/** What the stores say about one device now, with no grace. */
export function rawFlags(id: string, views: DeviceView[], listed: readonly StoreKind[]): DeviceFlags {
  const flags = noFlags(id);
  if (views.length === 0) return flags;
  const holders = new Set(views.map((v) => v.store));
  flags.missing = listed.filter((store) => !holders.has(store));
  // host:port per store: a process registers one address in every store it writes to.
  const byAddress = new Map<string, StoreKind[]>();
  for (const view of views) {
    const address = `${view.host}:${view.port}`;
    byAddress.set(address, [...(byAddress.get(address) ?? []), view.store]);
  }
  if (byAddress.size > 1) {
    flags.conflict = [...byAddress]
      .map(([address, stores]) => `${stores.join(', ')} ${stores.length > 1 ? 'hold' : 'holds'} ${address}`)
      .join('; ');
  }
  if (new Set(views.map((v) => v.color)).size > 1) {
    flags.colors = views.map((v) => ({ store: v.store, color: v.color }));
  }
  return flags;
}

/** The config colors of the stores that are live, when they differ; else null. */
export function configDisagreement(views: readonly StoreView[]): StoreColor[] | null {
  const live = views.filter((v) => v.watch === 'live');
  if (new Set(live.map((v) => v.color)).size < 2) return null;
  return live.map((v) => ({ store: v.store, color: v.color }));
}

const sameFlags = (a: DeviceFlags, b: DeviceFlags) => JSON.stringify(a) === JSON.stringify(b);

interface Tracked {
  /** Per kind: since when the stores have said it (server clock, ms). */
  since: Partial<Record<FlagKind, number>>;
  shown: DeviceFlags;
  timer: NodeJS.Timeout | undefined;
}

export class Disagreement {
  private readonly devices = new Map<string, Tracked>();
  private readonly budget: NoteBudget;
  private listedKey = '';
  private config: { raw: StoreColor[] | null; since: number; shown: StoreColor[] | null } = {
    raw: null,
    since: 0,
    shown: null,
  };
  private configTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly hooks: DisagreementHooks,
    private readonly graceMs = GRACE_MS,
  ) {
    this.budget = new NoteBudget(
      (suppressed) =>
        hooks.note({
          kind: 'missing',
          text: `and ${suppressed} more changes where the stores disagree about a device: not named one by one (the tiles show them)`,
        }),
      NOTES_PER_MINUTE,
    );
  }

  /** Flags shown now (devices with at least one). */
  list(): DeviceFlags[] {
    return [...this.devices.values()].map((t) => t.shown).filter(anyFlag);
  }

  /** The stores' config colors when they differ (shown after the grace), else null. */
  get configColors(): StoreColor[] | null {
    return this.config.shown;
  }

  /** One device changed in some store: looks again at it. */
  check(id: string, now = Date.now()): void {
    const raw = rawFlags(id, this.hooks.views(id), this.hooks.listed());
    let tracked = this.devices.get(id);
    if (!tracked) {
      if (!anyFlag(raw)) return;
      tracked = { since: {}, shown: noFlags(id), timer: undefined };
      this.devices.set(id, tracked);
    }
    for (const kind of FLAG_KINDS) {
      if (flagged(raw, kind)) tracked.since[kind] ??= now;
      else delete tracked.since[kind];
    }
    const ripe = (kind: FlagKind) => {
      const since = tracked.since[kind];
      return since !== undefined && now - since >= this.graceMs;
    };
    const next: DeviceFlags = {
      id,
      missing: ripe('missing') ? raw.missing : [],
      conflict: ripe('conflict') ? raw.conflict : null,
      colors: ripe('colors') ? raw.colors : null,
    };
    if (!sameFlags(next, tracked.shown)) {
      this.noteChange(tracked.shown, next);
      tracked.shown = next;
      this.hooks.flags(next);
    }
    clearTimeout(tracked.timer);
    tracked.timer = undefined;
    const waiting = FLAG_KINDS.flatMap((kind) => {
      const since = tracked.since[kind];
      return since !== undefined && !ripe(kind) ? [since + this.graceMs - now] : [];
    });
    if (waiting.length > 0) {
      tracked.timer = setTimeout(() => this.check(id), Math.max(1, Math.min(...waiting)));
    } else if (!anyFlag(next)) {
      this.devices.delete(id);
    }
  }

  /**
   * The stores' views changed: their config colors are compared, and when the set of stores with a
   * complete list changed, every device is looked at again (`ids`: all the ids shown).
   */
  storesChanged(views: readonly StoreView[], ids: () => Iterable<string>, now = Date.now()): void {
    this.checkConfig(configDisagreement(views), now);
    const listed = this.hooks.listed().join(',');
    if (listed === this.listedKey) return;
    this.listedKey = listed;
    for (const id of new Set([...ids(), ...this.devices.keys()])) this.check(id, now);
  }

  close(): void {
    for (const tracked of this.devices.values()) clearTimeout(tracked.timer);
    clearTimeout(this.configTimer);
    this.budget.close();
  }

  private checkConfig(raw: StoreColor[] | null, now: number): void {
    const config = this.config;
    if (JSON.stringify(raw) !== JSON.stringify(config.raw)) {
      // A different disagreement starts its own grace; agreement is shown at once.
      if (config.raw === null || raw === null) config.since = now;
      config.raw = raw;
    }
    clearTimeout(this.configTimer);
    this.configTimer = undefined;
    const show = raw !== null && now - config.since >= this.graceMs ? raw : null;
    if (raw !== null && show === null) {
      this.configTimer = setTimeout(
        () => this.checkConfig(this.config.raw, Date.now()),
        config.since + this.graceMs - now,
      );
    }
    if (JSON.stringify(show) === JSON.stringify(config.shown)) return;
    const before = config.shown;
    config.shown = show;
    this.hooks.configColors(show);
    if (show) {
      this.hooks.note({
        kind: 'config-differs',
        text: `the stores hold different colors: ${storeColors(show)}`,
      });
    } else if (before) {
      this.hooks.note({ kind: 'agreed', text: "the stores' config colors agree again" });
    }
  }

  private noteChange(before: DeviceFlags, after: DeviceFlags): void {
    const { id } = after;
    const holders = this.hooks.views(id).map((v) => v.store);
    const notes: Note[] = [];
    if (after.missing.length > 0 && after.missing.join() !== before.missing.join()) {
      const store = after.missing[0]!;
      notes.push({
        kind: 'missing',
        store,
        deviceId: id,
        text: `${id} missing from ${after.missing.join(', ')}, still in ${holders.join(', ')}`,
        command: this.hooks.command(store, id),
      });
    }
    if (after.conflict !== null && after.conflict !== before.conflict) {
      notes.push({
        kind: 'conflict',
        deviceId: id,
        text: `${id}: two processes claim this id (${after.conflict})`,
      });
    }
    if (after.colors !== null && JSON.stringify(after.colors) !== JSON.stringify(before.colors)) {
      notes.push({
        kind: 'colors-differ',
        deviceId: id,
        text: `${id} applied different colors: ${storeColors(after.colors)}`,
      });
    }
    if (anyFlag(before) && !anyFlag(after)) {
      notes.push({
        kind: 'agreed',
        deviceId: id,
        text:
          holders.length === 0
            ? `${id} gone from every store: the stores agree again`
            : `${id}: the stores agree again (${holders.join(', ')})`,
      });
    }
    for (const note of notes) if (this.budget.take()) this.hooks.note(note);
  }
}
