// The stores as `join` sees them, through the registry's pushed watches (what the instructor's page
// sees): whose devices carry this attendee's name. Ours (this laptop, this run), an earlier run's from
// this laptop (a Ctrl-C'd or killed join: its entries go when their window ends), or another laptop's:
// then the name is taken. Nothing here polls.
import {
  createRegistry,
  type DiscoveredInstance,
  errorMessage,
  type InstanceWatch,
  type Registry,
  type StoreKind,
} from '../../lib/registry/index.ts';
import type { KitStores } from './stores-from-page.ts';

export type Holder = 'ours' | 'earlier-run' | 'another-laptop';

export interface NamedEntry {
  store: StoreKind;
  id: string;
  holder: Holder;
  instance: DiscoveredInstance;
}

export interface Attendee {
  name: string;
  /** The device ids this join registers. */
  ids: readonly string[];
  laptop: string;
  /** When this join started (ms): our records are younger. */
  since: number;
}

/** Who holds an entry of this attendee's name, or null when it is not about this name. */
export function holderOf(instance: DiscoveredInstance, who: Attendee): Holder | null {
  const { id, labels, registeredAt } = instance.record;
  const name = who.name.toLowerCase();
  const named =
    who.ids.some((own) => own.toLowerCase() === id.toLowerCase()) ||
    (typeof labels.attendee === 'string' && labels.attendee.toLowerCase() === name);
  if (!named) return null;
  if (labels.laptop === who.laptop)
    return Date.parse(registeredAt) >= who.since - 1000 ? 'ours' : 'earlier-run';
  // Consul keeps a dead device as critical until it reaps it; a registration takes its place.
  return instance.health === 'critical' ? null : 'another-laptop';
}

export class JoinView {
  private readonly links = new Map<StoreKind, { registry: Registry; watch: InstanceWatch }>();
  private readonly listeners = new Set<() => void>();
  private scheduled = false;

  constructor(
    stores: KitStores,
    private readonly who: Attendee,
  ) {
    for (const [store, endpoints] of Object.entries(stores.stores) as [StoreKind, string[]][]) {
      const registry = createRegistry({
        store,
        endpoints,
        namespace: stores.namespace,
        liveness: stores.liveness,
        ...(stores.credentials ? { credentials: stores.credentials } : {}),
      });
      const watch = registry.watchInstances(stores.service);
      for (const event of ['change', 'synced', 'state'] as const) watch.on(event, () => this.changed());
      // A bad entry in the instructor's store is the instructor's business, not a reason to stop.
      watch.on('invalid', () => undefined);
      this.links.set(store, { registry, watch });
    }
  }

  get stores(): StoreKind[] {
    return [...this.links.keys()];
  }

  /** Told (once per event-loop turn at most) whenever a store's view changed. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const listener of this.listeners) listener();
    });
  }

  /**
   * Until every store's watch is live (synced once) or `timeoutMs` passed; then the stores still not
   * reached, each with why. `progress` is told as each store answers.
   */
  async ready(
    timeoutMs: number,
    progress: (store: StoreKind, count: number) => void,
  ): Promise<Map<StoreKind, string>> {
    const unreached = new Map<StoreKind, string>();
    await Promise.all(
      [...this.links].map(
        ([store, { watch, registry }]) =>
          new Promise<void>((resolve) => {
            let why = `no answer from ${registry.endpoints.join(', ')}`;
            const finish = () => {
              clearTimeout(timer);
              watch.off('state', onState);
              if (watch.state === 'live') progress(store, watch.instances().length);
              else unreached.set(store, why);
              resolve();
            };
            const onState = (state: string, error?: Error) => {
              if (error) why = errorMessage(error);
              if (state === 'live') finish();
            };
            const timer = setTimeout(finish, timeoutMs);
            if (watch.state === 'live') finish();
            else watch.on('state', onState);
          }),
      ),
    );
    return unreached;
  }

  /** Every entry of this attendee's name in every store, with who holds it. */
  named(): NamedEntry[] {
    const entries: NamedEntry[] = [];
    for (const [store, { watch }] of this.links) {
      for (const instance of watch.instances()) {
        const holder = holderOf(instance, this.who);
        if (holder) entries.push({ store, id: instance.record.id, holder, instance });
      }
    }
    return entries;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    for (const { watch } of this.links.values()) watch.close();
    await Promise.all([...this.links.values()].map((l) => l.registry.close()));
  }
}
