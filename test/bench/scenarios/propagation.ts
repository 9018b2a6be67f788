// Propagation: a write in a store (a load update of a registered device, or a new registration) until
// the page's DOM shows it, with the fleet's own devices on the page and reporting their load meanwhile.
import os from 'node:os';
import { STORE_KINDS, type StoreKind } from '../../../lib/registry/index.ts';
import { delay } from '../../support/eventually.ts';
import { now } from '../support/clock.ts';
import { type BenchContext, floorOf, type Scenario } from '../support/context.ts';
import { distributionFigure } from '../support/figures.ts';
import { processGroups } from '../support/fleet-session.ts';
import {
  describeHops,
  fromStamps,
  type HopSample,
  type HopSpec,
  hopFigures,
  kitHopsFigure,
  PAGE_HOP_NAMES,
  pageHops,
} from '../support/hops.ts';
import { ProbeDevices } from '../support/probe-device.ts';
import { cpuSecondsOf } from '../support/proc.ts';
import { SocketListener } from '../support/socket-listener.ts';
import { summarize } from '../support/stats.ts';

const TARGET = { max: 50, text: 'p99 <= 50 ms (100 devices)' };
const PROBE_ID = 'bench-probe';

/** A load update's way to the page, hop by hop (docs/performance.md, "Where the time goes"). */
export const PROPAGATION_HOPS: readonly HopSpec[] = [
  { name: 'store-ack', what: "the bench's update() call until the store acknowledged the write" },
  {
    name: 'watch',
    what: "the acknowledgement until the server's watch handed the change over (negative: the watch came before the writer's acknowledgement)",
  },
  ...pageHops("the page's socket until the tile's text changed"),
];
/** The hops that are the kit's own code: the server after its watch, the socket, the page. */
export const KIT_HOPS = PAGE_HOP_NAMES;

export const propagationScenario: Scenario = {
  id: 'propagation',
  title: 'propagation: a store event to the change in the page DOM',
  async run(ctx: BenchContext) {
    const devices = ctx.quick ? 20 : 100;
    const updates = ctx.quick ? 40 : 200;
    const registrations = ctx.quick ? 8 : 30;
    const session = await ctx.fleet(devices);
    const { stack } = session;
    const probe = await ProbeDevices.start(stack);
    const listener = await SocketListener.connect(stack.server.url);
    try {
      const held = new Map(
        await Promise.all(STORE_KINDS.map(async (s) => [s, await probe.registered(s, PROBE_ID)] as const)),
      );
      const shown = STORE_KINDS.map((store) => `probe-${store}`);
      await stack.probe.watch(
        STORE_KINDS.map((store, i) => [shown[i]!, { kind: 'present', store, id: PROBE_ID }]),
      );
      await stack.probe.waitFor(shown, 10_000);

      const loadLatency: Record<StoreKind, number[]> = { etcd: [], zookeeper: [], consul: [] };
      const groups = processGroups(session);
      const cpuBefore = cpuSecondsOf(groups);
      await stack.probe.longTasks(); // only those of the measured window count
      const loopStarted = now();
      // Other work on the machine shows in every figure: said beside them.
      const loadAtStart = os.loadavg()[0]!;
      /** From the update() call until the store acknowledged the write: the store's own share. */
      const written: Record<StoreKind, number[]> = { etcd: [], zookeeper: [], consul: [] };
      /** The same updates hop by hop, from the server's stamps the page kept (FLEET_BENCH_TRACE). */
      const hops: Record<StoreKind, HopSample[]> = { etcd: [], zookeeper: [], consul: [] };
      let unstamped = 0;
      await stack.probe.forgetArrivals();
      listener.forget();
      for (let i = 0; i < updates; i++) {
        for (const store of STORE_KINDS) {
          const timed = await probe.timedLoadUpdate(stack.probe, store, held.get(store)!, 5_000);
          const { shownMs, writtenMs } = timed;
          written[store].push(writtenMs);
          if (shownMs === undefined) throw new Error(`${store}: a load update never reached the page`);
          loadLatency[store].push(shownMs);
          const arrived = (
            await stack.probe.arrivals(store, [PROBE_ID], 'cpu', timed.cpuPercent, true)
          ).devices.get(PROBE_ID);
          const heardAt = listener.arrivals(store, [PROBE_ID], 'cpu', timed.cpuPercent).get(PROBE_ID);
          listener.forget();
          if (arrived?.watchedAt == null || heardAt === undefined) unstamped++;
          else
            hops[store].push(
              fromStamps(PROPAGATION_HOPS, [
                timed.startedAt,
                timed.ackedAt,
                arrived.watchedAt,
                arrived.sentAt,
                heardAt,
                arrived.receivedAt,
                timed.shownAt!,
              ]),
            );
          await delay(10 + Math.random() * 30);
        }
        if ((i + 1) % 50 === 0) ctx.log(`  ${i + 1}/${updates} load updates per store`);
      }
      const cpuAfter = cpuSecondsOf(groups);
      const acks = STORE_KINDS.map((k) => {
        const w = summarize(written[k]);
        return `${k} ${w.p50.toFixed(1)} / ${w.p99.toFixed(1)}`;
      });
      ctx.note(
        `propagation, ${devices} devices: of the latency, the store's write acknowledgement took (p50 / p99 ms) ${acks.join(', ')}`,
      );
      const longTasks = await stack.probe.longTasks();
      const seconds = (now() - loopStarted) / 1000;
      const share = (group: string) => Math.round(((cpuAfter[group]! - cpuBefore[group]!) / seconds) * 100);
      ctx.note(
        `propagation, ${devices} devices: CPU while the load updates were timed (% of one core, ${os.cpus().length * 100} = every core): ` +
          `devices ${share('devices')}, server ${share('server')}, stores ${share('stores')} (the page's renderer not counted); ` +
          `the page's main thread had ${longTasks.length} long tasks (over 50 ms) in ${seconds.toFixed(0)} s` +
          (longTasks.length > 0 ? `, longest ${Math.max(...longTasks).toFixed(0)} ms` : '') +
          `; the machine's load average (1 min) ${loadAtStart.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end`,
      );

      const registerLatency: Record<StoreKind, number[]> = { etcd: [], zookeeper: [], consul: [] };
      for (let i = 0; i < registrations; i++) {
        for (const store of STORE_KINDS) {
          const id = `bench-new-${i}`;
          const name = `new-${store}-${i}`;
          await stack.probe.watch([[name, { kind: 'present', store, id }]]);
          const t0 = now();
          const registration = probe.register(store, id);
          const at = (await stack.probe.waitFor([name], 10_000)).get(name)!;
          registerLatency[store].push(at - t0);
          const gone = `gone-${store}-${i}`;
          await stack.probe.watch([[gone, { kind: 'absent', store, id }]]);
          await registration.deregister();
          await stack.probe.waitFor([gone], 10_000);
        }
      }
      ctx.log(`  ${registrations} registrations per store`);
      if (unstamped > 0)
        ctx.note(
          `propagation, ${devices} devices: ${unstamped} load updates had no server stamps on the page (not in the per-hop figures)`,
        );

      for (const store of STORE_KINDS) {
        const common = {
          scenario: 'propagation' as const,
          store,
          devices,
          unit: 'ms' as const,
          floor: floorOf(ctx, store),
        };
        ctx.record(
          distributionFigure({ ...common, metric: 'load-update-to-dom', target: TARGET }, loadLatency[store]),
        );
        if (hops[store].length > 0) {
          for (const f of hopFigures(common, 'load-update', PROPAGATION_HOPS, hops[store])) ctx.record(f);
          ctx.record(kitHopsFigure({ ...common, metric: 'load-update-kit-hops' }, KIT_HOPS, hops[store]));
          ctx.note(
            `propagation, ${devices} devices, ${store}, a load update to the DOM ${describeHops(PROPAGATION_HOPS, hops[store])}`,
          );
        }
        ctx.record(
          distributionFigure(
            {
              ...common,
              metric: 'registration-to-dom',
              note: 'from the register() call: includes lease grant / session / check setup',
            },
            registerLatency[store],
          ),
        );
      }
      await Promise.all([...held.values()].map((r) => r.deregister()));
    } finally {
      listener.close();
      await probe.close();
    }
  },
};
