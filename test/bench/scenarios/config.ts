// Config round-trip: a color applied on the page (as the presenter does) until every device has applied
// it and reported it back through its registration, and every column of the page shows it.
import os from 'node:os';
import { STORE_KINDS, type StoreKind } from '../../../lib/registry/index.ts';
import { delay } from '../../support/eventually.ts';
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
import type { Arrival, PageProbe, Predicate } from '../support/page-probe.ts';
import { cpuSecondsOf } from '../support/proc.ts';
import { SocketListener } from '../support/socket-listener.ts';

const TARGET = { max: 250, text: 'p99 <= 250 ms (100 devices)' };

/**
 * A color's way round the fleet, along the device that finished each column last (its critical path;
 * docs/performance.md, "Where the time goes"). The agent's stamp is its write-back's updatedAt.
 */
export const COLOR_HOPS: readonly HopSpec[] = [
  { name: 'up', what: "the click in the page until the server's setColor began (the socket up)" },
  { name: 'store-ack', what: 'the server writing the color until the first store acknowledged it' },
  {
    name: 'wake-up',
    what: "that acknowledgement until the device wrote the color back (its record's updatedAt): the store's watch to the agent, the agent's turn on the CPU",
  },
  {
    name: 'write-back',
    what: "the device's write until the server's watch of this store handed it over (the store's acknowledgement and watch)",
  },
  ...pageHops("the page's socket until the column's last tile showed the color"),
];
/** The kit's own hops of the round trip outside the devices: page, socket and server. */
export const COLOR_KIT_HOPS = ['up', ...PAGE_HOP_NAMES] as const;

interface ColorHops {
  /** Per trial and store: the critical path. */
  critical: Record<StoreKind, HopSample[]>;
  /** Every device of every store: its wake-up and write-back. */
  wakeUp: number[];
  writeBack: number[];
  /** Per store: setColor until that store acknowledged. */
  acked: Record<StoreKind, number[]>;
  /** Trials x stores without a complete set of stamps. */
  unstamped: number;
}

/** The stamps of one trial (the server's, the page's, the devices'), cut into COLOR_HOPS. */
async function colorTrial(
  probe: PageProbe,
  listener: SocketListener,
  into: ColorHops,
  color: string,
  clickedAt: number,
  shown: Map<StoreKind, number>,
  devices: number,
): Promise<void> {
  // The server reports the write in the batch after its answer: wait for it (2 s at most).
  for (let tries = 0; tries < 80; tries++) {
    const { colors } = await probe.arrivals(STORE_KINDS[0], [], 'color', color, false);
    if (colors.some((c) => c.color === color)) break;
    await delay(25);
  }
  const arrivals = new Map<StoreKind, Map<string, Arrival>>();
  let write: { requestedAt: number; acked: { store: StoreKind; at: number }[] } | undefined;
  for (const [k, store] of STORE_KINDS.entries()) {
    const got = await probe.arrivals(store, null, 'color', color, k === STORE_KINDS.length - 1);
    arrivals.set(store, got.devices);
    write ??= got.colors.find((c) => c.color === color);
  }
  if (!write || write.acked.length === 0) {
    into.unstamped += STORE_KINDS.length;
    return;
  }
  const firstAck = Math.min(...write.acked.map((a) => a.at));
  for (const a of write.acked) into.acked[a.store].push(a.at - write.requestedAt);
  for (const store of STORE_KINDS) {
    const got = [...arrivals.get(store)!.entries()]
      .filter(([, a]) => a.watchedAt !== null)
      .map(([id, a]) => ({ id, ...a }));
    for (const a of got) {
      into.wakeUp.push(a.updatedAt - firstAck);
      into.writeBack.push(a.watchedAt! - a.updatedAt);
    }
    if (got.length < devices) {
      into.unstamped++;
      continue;
    }
    const last = got.reduce((a, b) => (b.receivedAt > a.receivedAt ? b : a));
    const heardAt = listener.arrivals(store, [last.id], 'color', color).get(last.id);
    if (heardAt === undefined) {
      into.unstamped++;
      continue;
    }
    into.critical[store].push(
      fromStamps(COLOR_HOPS, [
        clickedAt,
        write.requestedAt,
        firstAck,
        last.updatedAt,
        last.watchedAt!,
        last.sentAt,
        heardAt,
        last.receivedAt,
        shown.get(store)!,
      ]),
    );
  }
}

function randomColor(previous: string): string {
  for (;;) {
    const color = `#${Math.floor(Math.random() * 0xffffff)
      .toString(16)
      .padStart(6, '0')}`;
    if (color !== previous) return color;
  }
}

async function roundTrips(ctx: BenchContext, devices: number, trials: number) {
  const session = await ctx.fleet(devices);
  const { stack } = session;
  const { probe } = stack;
  const listener = await SocketListener.connect(stack.server.url);
  // Other work on the machine shows in every figure: said beside them.
  const loadAtStart = os.loadavg()[0]!;
  // Where the CPU goes during a round trip: on this machine every device shares its two cores.
  const groups = processGroups(session);
  const cpuMs: Record<string, number> = { devices: 0, server: 0, stores: 0 };
  const perStore: Record<StoreKind, number[]> = { etcd: [], zookeeper: [], consul: [] };
  const all: number[] = [];
  const writes: number[] = [];
  const hops: ColorHops = {
    critical: { etcd: [], zookeeper: [], consul: [] },
    wakeUp: [],
    writeBack: [],
    acked: { etcd: [], zookeeper: [], consul: [] },
    unstamped: 0,
  };
  let color = '';
  for (let i = 0; i < trials; i++) {
    color = randomColor(color);
    const names = STORE_KINDS.map((store) => `color-${store}-${i}`);
    const acked = `acked-${i}`;
    await probe.watch([
      ...STORE_KINDS.map(
        (store, k) =>
          [names[k]!, { kind: 'colorAll', store, value: color, count: devices }] as [string, Predicate],
      ),
      [acked, { kind: 'textIncludes', selector: '#message[data-kind="ok"]', value: `${color} written` }],
    ]);
    await probe.forgetArrivals();
    listener.forget();
    const before = cpuSecondsOf(groups);
    // As the presenter: pick the color, all stores, Apply. The page stamps the click.
    const clickedAt = await probe.runStamped(
      `const input = document.getElementById('color-input'); input.value = ${JSON.stringify(color)};
       document.getElementById('color-store').value = 'all';
       document.getElementById('color-apply').click()`,
    );
    const seen = await probe.waitFor([...names, acked], 15_000);
    const after = cpuSecondsOf(groups);
    for (const group of Object.keys(cpuMs)) cpuMs[group]! += (after[group]! - before[group]!) * 1000;
    writes.push(seen.get(acked)! - clickedAt);
    for (const [k, store] of STORE_KINDS.entries()) perStore[store].push(seen.get(names[k]!)! - clickedAt);
    all.push(Math.max(...STORE_KINDS.map((_, k) => seen.get(names[k]!)!)) - clickedAt);
    const shown = new Map(STORE_KINDS.map((store, k) => [store, seen.get(names[k]!)!] as const));
    await colorTrial(probe, listener, hops, color, clickedAt, shown, devices);
    await delay(200 + Math.random() * 200);
  }
  listener.close();
  ctx.log(`  ${devices} devices: ${trials} colors round the fleet`);
  const perChange = (group: string) => Math.round(cpuMs[group]! / trials);
  ctx.note(
    `config, ${devices} devices: CPU used per color change (click to every tile): devices ${perChange('devices')} ms in all, ` +
      `server ${perChange('server')} ms, stores ${perChange('stores')} ms; ${os.cpus().length} cores to share ` +
      `(${((perChange('devices') + perChange('server') + perChange('stores')) / os.cpus().length).toFixed(0)} ms of wall time if perfectly spread); ` +
      `the machine's load average (1 min) ${loadAtStart.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end`,
  );
  const common = { scenario: 'config' as const, devices, unit: 'ms' as const };
  const target = devices >= 100 ? TARGET : null;
  // The path holds two store hops: the color's write to the devices' watches, their reports to the page's.
  ctx.record(
    distributionFigure(
      {
        ...common,
        metric: 'color-round-trip',
        store: 'all',
        target,
        floor: floorOf(ctx, 'all', 2),
        note: 'click to every tile of every column showing the color',
      },
      all,
    ),
  );
  ctx.record(
    distributionFigure(
      {
        ...common,
        metric: 'color-written-ack',
        store: 'all',
        floor: floorOf(ctx, 'all'),
        note: 'click to the server answering that every store has the color (part of the round trip)',
      },
      writes,
    ),
  );
  for (const store of STORE_KINDS)
    ctx.record(
      distributionFigure(
        { ...common, metric: 'color-round-trip', store, floor: floorOf(ctx, store, 2) },
        perStore[store],
      ),
    );
  recordColorHops(ctx, devices, hops);
}

function recordColorHops(ctx: BenchContext, devices: number, hops: ColorHops): void {
  const common = { scenario: 'config' as const, devices, unit: 'ms' as const };
  const critical = STORE_KINDS.flatMap((store) => hops.critical[store]);
  if (hops.unstamped > 0)
    ctx.note(
      `config, ${devices} devices: ${hops.unstamped} column(s) of trials without a full set of stamps (not in the per-hop figures)`,
    );
  if (critical.length === 0) return;
  // Every column's critical path together: the tail of the round trip is the slowest of them.
  for (const f of hopFigures({ ...common, store: 'all' }, 'color', COLOR_HOPS, critical)) ctx.record(f);
  ctx.record(
    kitHopsFigure(
      { ...common, store: 'all', metric: 'color-kit-hops', floor: floorOf(ctx, 'all') },
      COLOR_KIT_HOPS,
      critical,
    ),
  );
  for (const store of STORE_KINDS)
    if (hops.acked[store].length > 0)
      ctx.record(
        distributionFigure(
          {
            ...common,
            store,
            metric: 'color-store-ack',
            floor: floorOf(ctx, store),
            note: "the server's setColor until this store acknowledged the color",
          },
          hops.acked[store],
        ),
      );
  const everyDevice = (metric: string, samples: number[], note: string) => {
    if (samples.length > 0)
      ctx.record(distributionFigure({ ...common, store: 'all', metric, note }, samples));
  };
  everyDevice(
    'color-device-wake-up',
    hops.wakeUp,
    "every device and store: the first store's acknowledgement until the device's write-back (updatedAt)",
  );
  everyDevice(
    'color-device-write-back',
    hops.writeBack,
    "every device and store: the device's write until the server's watch handed it over",
  );
  ctx.note(
    `config, ${devices} devices, the last device of each column (${critical.length} columns of trials) ${describeHops(COLOR_HOPS, critical)}`,
  );
}

export const configScenario: Scenario = {
  id: 'config',
  title: 'config round-trip: a color set on the page until every device applied it and the page shows it',
  async run(ctx: BenchContext) {
    const trials = ctx.quick ? 5 : 20;
    // The larger fleet first: it is the one the scenarios before this one left running.
    await roundTrips(ctx, ctx.quick ? 20 : 100, trials);
    await roundTrips(ctx, 10, trials);
  },
};
