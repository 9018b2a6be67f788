// What the tests watch: for one namespace, a registry client and a live view of a service in each of
// the three stores, and the questions the tests ask of them. `close()` ends every client opened.
import {
  createRegistry,
  type InstanceWatch,
  type Registry,
  STORE_KINDS,
  type StoreKind,
} from '../../lib/registry/index.ts';

type Endpoints = Readonly<Record<StoreKind, { endpoints: readonly string[] }>>;

export interface StoreViews {
  namespace: string;
  views: Record<StoreKind, InstanceWatch>;
  clients: Record<StoreKind, Registry>;
  /** Registered and passing in all three. */
  passingEverywhere(id: string): boolean;
  /** Not in the store's view, or critical there (Consul keeps a failed service until it is removed). */
  goneFrom(kind: StoreKind, id: string): boolean;
  /** In no store's view at all. */
  absentEverywhere(id: string): boolean;
}

export class StoreWatcher {
  private readonly registries: Registry[] = [];

  constructor(private readonly stores: () => Endpoints) {}

  /** The three views of `service` in `namespace`. */
  watch(namespace: string, service = 'web'): StoreViews {
    const views = {} as Record<StoreKind, InstanceWatch>;
    const clients = {} as Record<StoreKind, Registry>;
    for (const kind of STORE_KINDS) {
      const registry = createRegistry({
        store: kind,
        endpoints: [...this.stores()[kind].endpoints],
        namespace,
      });
      this.registries.push(registry);
      clients[kind] = registry;
      views[kind] = registry.watchInstances(service);
    }
    return {
      namespace,
      views,
      clients,
      passingEverywhere: (id) => STORE_KINDS.every((k) => views[k].get(id)?.health === 'passing'),
      goneFrom: (kind, id) => {
        const seen = views[kind].get(id);
        return seen === undefined || seen.health === 'critical';
      },
      absentEverywhere: (id) => STORE_KINDS.every((k) => views[k].get(id) === undefined),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.registries.splice(0).map((r) => r.close()));
  }
}
