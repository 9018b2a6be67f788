// One store's view of one service, kept from what the adapter's watch pushes. It turns full snapshots
// and single events alike into added/updated/removed changes, and keeps the last known list while the
// store is down, so that "store down" is never shown as "no devices".
import { EventEmitter } from 'node:events';
import type { InstanceSink, RawInstance } from '../adapters/adapter.ts';
import { MalformedValueError, type RegistryError } from '../errors.ts';
import type {
  DiscoveredInstance,
  InstanceWatch,
  InstanceWatchEvents,
  StoreKind,
  WatchState,
} from '../types.ts';

const sameInstance = (a: DiscoveredInstance, b: DiscoveredInstance) =>
  a.health === b.health &&
  JSON.stringify(a.record) === JSON.stringify(b.record) &&
  JSON.stringify(a.liveness) === JSON.stringify(b.liveness);

export class InstanceView extends EventEmitter<InstanceWatchEvents> implements InstanceWatch, InstanceSink {
  private readonly known = new Map<string, DiscoveredInstance>();
  /** The malformed entries reported, per id: one handed again unchanged is not reported again. */
  private readonly reported = new Map<string, MalformedValueError>();
  private current: WatchState = 'syncing';
  private stopWatch: (() => void) | undefined;

  constructor(
    private readonly store: StoreKind,
    readonly service: string,
    start: (sink: InstanceSink) => () => void,
  ) {
    super();
    this.stopWatch = start(this);
  }

  get state(): WatchState {
    return this.current;
  }

  instances(): DiscoveredInstance[] {
    return [...this.known.values()];
  }

  get(id: string): DiscoveredInstance | undefined {
    return this.known.get(id);
  }

  close(): void {
    this.stopWatch?.();
    this.stopWatch = undefined;
    this.setState('closed');
  }

  reset(entries: RawInstance[]): void {
    if (this.current === 'closed') return;
    const seen = new Set<string>();
    const present = new Set<string>();
    for (const entry of entries) {
      present.add(entry.id);
      if (this.apply(entry)) seen.add(entry.id);
    }
    for (const id of [...this.known.keys()]) if (!seen.has(id)) this.remove(id);
    for (const id of [...this.reported.keys()]) if (!present.has(id)) this.reported.delete(id);
    this.setState('live');
    this.emit('synced', this.instances());
  }

  upsert(entry: RawInstance): void {
    if (this.current === 'closed') return;
    this.apply(entry);
    this.setState('live');
  }

  remove(id: string): void {
    this.reported.delete(id);
    const instance = this.known.get(id);
    if (!instance || this.current === 'closed') return;
    this.known.delete(id);
    this.emit('change', { type: 'removed', instance });
  }

  down(error: RegistryError): void {
    if (this.current === 'closed') return;
    this.setState('down', error);
  }

  /**
   * True when the entry is valid and now known. An adapter that hands the very same record and
   * liveness objects again says "unchanged since" (Consul's watch re-sends every entry on every
   * change, and keeps the ones whose indexes did not move): nothing to compare, nothing to report.
   */
  private apply(entry: RawInstance): boolean {
    if (entry.record instanceof MalformedValueError) {
      const again = this.reported.get(entry.id) === entry.record;
      this.remove(entry.id);
      this.reported.set(entry.id, entry.record);
      if (!again) this.emit('invalid', entry.record);
      return false;
    }
    this.reported.delete(entry.id);
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

  private setState(state: WatchState, error?: RegistryError): void {
    if (this.current === state) return;
    this.current = state;
    this.emit('state', state, error);
  }
}
