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
    for (const entry of entries) {
      if (this.apply(entry)) seen.add(entry.id);
    }
    for (const id of [...this.known.keys()]) if (!seen.has(id)) this.remove(id);
    this.setState('live');
    this.emit('synced', this.instances());
  }

  upsert(entry: RawInstance): void {
    if (this.current === 'closed') return;
    this.apply(entry);
    this.setState('live');
  }

  remove(id: string): void {
    const instance = this.known.get(id);
    if (!instance || this.current === 'closed') return;
    this.known.delete(id);
    this.emit('change', { type: 'removed', instance });
  }

  down(error: RegistryError): void {
    if (this.current === 'closed') return;
    this.setState('down', error);
  }

  /** True when the entry is valid and now known. */
  private apply(entry: RawInstance): boolean {
    if (entry.record instanceof MalformedValueError) {
      this.emit('invalid', entry.record);
      this.remove(entry.id);
      return false;
    }
    const instance: DiscoveredInstance = {
      store: this.store,
      key: entry.key,
      record: entry.record,
      health: entry.health,
      liveness: entry.liveness,
    };
    const previous = this.known.get(entry.id);
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
