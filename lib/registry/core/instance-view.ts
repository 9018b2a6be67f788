// One store's view of one service, kept from what the adapter's watch pushes. It turns full snapshots
// and single events alike into added/updated/removed changes, and keeps the last known list while the
// store is down, so that "store down" is never shown as "no devices".

import { createHash } from 'node:crypto';
import type { InstanceSink, RawInstance } from '../adapters/adapter.ts';
import { MalformedValueError, NotAliveError } from '../errors.ts';
import type {
  DiscoveredInstance,
  InstanceWatch,
  InstanceWatchEvents,
  SkippedCounts,
  StoreKind,
} from '../types.ts';
import { WatchView } from './watch-view.ts';

/**
 * Where a skipped entry is remembered: its id, or a digest of it when it is long (a key written by
 * hand may be 1.5 MB; valid ids are short, see schema.ts).
 */
const slotOf = (id: string) =>
  id.length <= 256 ? id : `#${createHash('sha256').update(id).digest('base64url')}`;

const sameInstance = (a: DiscoveredInstance, b: DiscoveredInstance) =>
  a.health === b.health &&
  JSON.stringify(a.record) === JSON.stringify(b.record) &&
  JSON.stringify(a.liveness) === JSON.stringify(b.liveness);

export class InstanceView extends WatchView<InstanceWatchEvents> implements InstanceWatch, InstanceSink {
  private readonly known = new Map<string, DiscoveredInstance>();
  /** The skipped entries reported, per slotOf(id): one handed again unchanged is not reported again. */
  private readonly reported = new Map<string, MalformedValueError>();
  /** Counts of `reported`, kept as it changes; `told` is what the last 'skipped' event said. */
  private readonly counts: SkippedCounts = { notAlive: 0, malformed: 0 };
  private told: SkippedCounts = { notAlive: 0, malformed: 0 };

  constructor(
    private readonly store: StoreKind,
    readonly service: string,
    start: (sink: InstanceSink) => () => void,
  ) {
    super();
    this.follow(start);
  }

  instances(): DiscoveredInstance[] {
    return [...this.known.values()];
  }

  get(id: string): DiscoveredInstance | undefined {
    return this.known.get(id);
  }

  skipped(): SkippedCounts {
    return { ...this.counts };
  }

  reset(entries: RawInstance[]): void {
    if (this.closed) return;
    const seen = new Set<string>();
    const present = new Set<string>();
    for (const entry of entries) {
      present.add(slotOf(entry.id));
      if (this.apply(entry)) seen.add(entry.id);
    }
    for (const id of [...this.known.keys()]) if (!seen.has(id)) this.remove(id);
    for (const slot of [...this.reported.keys()]) if (!present.has(slot)) this.forget(slot);
    this.tellSkipped();
    this.setState('live');
    this.emit('synced', this.instances());
  }

  upsert(entry: RawInstance): void {
    if (this.closed) return;
    this.apply(entry);
    this.tellSkipped();
    this.setState('live');
  }

  remove(id: string): void {
    this.forget(slotOf(id));
    this.tellSkipped();
    if (!this.closed) this.removeKnown(id);
  }

  /**
   * True when the entry is valid and now known. An adapter that hands the very same record and
   * liveness objects again says "unchanged since" (Consul's watch re-sends every entry on every
   * change, and keeps the ones whose indexes did not move): nothing to compare, nothing to report.
   */
  private apply(entry: RawInstance): boolean {
    const slot = slotOf(entry.id);
    if (entry.record instanceof MalformedValueError) {
      const before = this.reported.get(slot);
      this.removeKnown(entry.id);
      this.forget(slot);
      this.reported.set(slot, entry.record);
      this.counts[entry.record instanceof NotAliveError ? 'notAlive' : 'malformed']++;
      // Named once: again only when it changes kind (a hand-written entry gets a lease, or garbage).
      const again = before === entry.record || (before && before.message === entry.record.message);
      if (!again) this.emit('invalid', entry.record);
      return false;
    }
    this.forget(slot);
    const previous = this.known.get(entry.id);
    if (
      previous &&
      previous.record === entry.record &&
      previous.liveness === entry.liveness &&
      previous.health === entry.health &&
      previous.key === entry.key
    ) {
      return true;
    }
    const instance: DiscoveredInstance = {
      store: this.store,
      key: entry.key,
      record: entry.record,
      health: entry.health,
      liveness: entry.liveness,
    };
    this.known.set(entry.id, instance);
    if (!previous) this.emit('change', { type: 'added', instance });
    else if (!sameInstance(previous, instance)) this.emit('change', { type: 'updated', instance, previous });
    return true;
  }

  private removeKnown(id: string): void {
    const instance = this.known.get(id);
    if (!instance) return;
    this.known.delete(id);
    this.emit('change', { type: 'removed', instance });
  }

  private forget(slot: string): void {
    const error = this.reported.get(slot);
    if (!error) return;
    this.reported.delete(slot);
    this.counts[error instanceof NotAliveError ? 'notAlive' : 'malformed']--;
  }

  /** After every batch of entries, and only when the counts changed. */
  private tellSkipped(): void {
    const { notAlive, malformed } = this.counts;
    if (notAlive === this.told.notAlive && malformed === this.told.malformed) return;
    this.told = { notAlive, malformed };
    this.emit('skipped', { ...this.told });
  }
}
