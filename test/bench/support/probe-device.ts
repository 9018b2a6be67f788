// A device the bench itself holds in each store, through the kit's own registry: its writes are the
// "store events" whose arrival in the page is timed. It answers /health so Consul's HTTP check passes.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  InstanceSpec,
  MachineLoad,
  Registration,
  Registry,
  StoreKind,
} from '../../../lib/registry/index.ts';
import { createRegistry } from '../../../lib/registry/index.ts';
import { formatPercent } from '../../../server/page/format.ts';
import { eventually } from '../../support/eventually.ts';
import { now } from './clock.ts';
import type { PageProbe } from './page-probe.ts';
import { BENCH_NAMESPACE, BENCH_SERVICE, type Stack } from './stack.ts';

export const PROBE_LOAD: MachineLoad = {
  cpuPercent: 50,
  load1: 0.5,
  memUsedPercent: 20,
  temperatureC: null,
  uptimeSeconds: 100,
};

export interface TimedUpdate {
  /** From the update() call until the store acknowledged the write. */
  writtenMs: number;
  /** From the update() call until the page's DOM showed it; undefined when it did not in time. */
  shownMs: number | undefined;
  /** The same on the bench's clock (test/bench/support/clock.ts), for the per-hop figures. */
  startedAt: number;
  ackedAt: number;
  shownAt: number | undefined;
  /** The CPU % written: how its arrival is found among the page's traced batches. */
  cpuPercent: number;
}

export class ProbeDevices {
  private cpu = PROBE_LOAD.cpuPercent;
  private trials = 0;

  private constructor(
    private readonly registries: Map<StoreKind, Registry>,
    private readonly health: Server,
    readonly host: string,
    readonly port: number,
  ) {}

  static async start(stack: Stack): Promise<ProbeDevices> {
    const health = createServer((_req, res) => res.end('ok'));
    health.listen(0, '127.0.0.1');
    await once(health, 'listening');
    const registries = new Map<StoreKind, Registry>();
    for (const [store, endpoints] of Object.entries(stack.endpoints) as [StoreKind, string[]][]) {
      registries.set(
        store,
        // Every probe write goes to the store at once (no Consul load interval): the store path is timed.
        createRegistry({
          store,
          endpoints,
          namespace: BENCH_NAMESPACE,
          liveness: stack.liveness,
          consulLoadIntervalSeconds: 0,
        }),
      );
    }
    return new ProbeDevices(registries, health, '127.0.0.1', (health.address() as AddressInfo).port);
  }

  /** Sets the fleet's color in every store (as the page's Apply does, through the kit's registry). */
  async setColor(color: string): Promise<void> {
    await Promise.all([...this.registries.values()].map((r) => r.setConfig('color', color)));
  }

  spec(id: string, load: MachineLoad = PROBE_LOAD): InstanceSpec {
    return {
      service: BENCH_SERVICE,
      id,
      host: this.host,
      port: this.port,
      labels: { zone: 'bench', role: 'probe' },
      load,
      color: null,
    };
  }

  /** Registers `id` in `store` (not waiting: the caller times it). */
  register(store: StoreKind, id: string, load?: MachineLoad): Registration {
    return this.registries.get(store)!.register(this.spec(id, load));
  }

  /** Registers and waits until the store has it. */
  async registered(store: StoreKind, id: string, timeoutMs = 20_000): Promise<Registration> {
    const registration = this.register(store, id);
    await eventually(`${id} registered in ${store}`, () => registration.state === 'registered', {
      timeoutMs,
    });
    return registration;
  }

  /**
   * One load update of `registration` (a probe device in `store`), timed from the update() call until
   * the tile's CPU figure shows it. A different whole percent every time, so that the text changes.
   */
  async timedLoadUpdate(
    page: PageProbe,
    store: StoreKind,
    registration: Registration,
    timeoutMs: number,
  ): Promise<TimedUpdate> {
    this.cpu = this.cpu >= 95 ? 5 : this.cpu + 1;
    const name = `load-${store}-${++this.trials}`;
    const id = registration.record.id;
    const value = `CPU ${formatPercent(this.cpu)}`;
    await page.watch([[name, { kind: 'text', store, id, selector: '.metric-cpu', value }]]);
    const cpuPercent = this.cpu;
    const t0 = now();
    await registration.update({ load: { ...PROBE_LOAD, cpuPercent } });
    const ackedAt = now();
    const timed = { writtenMs: ackedAt - t0, startedAt: t0, ackedAt, cpuPercent };
    try {
      const shownAt = (await page.waitFor([name], timeoutMs)).get(name)!;
      return { ...timed, shownMs: shownAt - t0, shownAt };
    } catch {
      return { ...timed, shownMs: undefined, shownAt: undefined };
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.registries.values()].map((r) => r.close()));
    this.health.close();
  }
}
