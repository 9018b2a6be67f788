// Config round-trip: a color applied on the page (as the presenter does) until every device has applied
// it and reported it back through its registration, and every column of the page shows it.
import os from 'node:os';
import { STORE_KINDS, type StoreKind } from '../../../lib/registry/index.ts';
import { delay } from '../../support/eventually.ts';
import { type BenchContext, floorOf, type Scenario } from '../support/context.ts';
import { distributionFigure } from '../support/figures.ts';
import { processGroups } from '../support/fleet-session.ts';
import type { Predicate } from '../support/page-probe.ts';
import { cpuSecondsOf } from '../support/proc.ts';

const TARGET = { max: 250, text: 'p99 <= 250 ms (100 devices)' };

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
  // Where the CPU goes during a round trip: on this machine every device shares its two cores.
  const groups = processGroups(session);
  const cpuMs: Record<string, number> = { devices: 0, server: 0, stores: 0 };
  const perStore: Record<StoreKind, number[]> = { etcd: [], zookeeper: [], consul: [] };
  const all: number[] = [];
  const writes: number[] = [];
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
    await delay(200 + Math.random() * 200);
  }
  ctx.log(`  ${devices} devices: ${trials} colors round the fleet`);
  const perChange = (group: string) => Math.round(cpuMs[group]! / trials);
  ctx.note(
    `config, ${devices} devices: CPU used per color change (click to every tile): devices ${perChange('devices')} ms in all, ` +
      `server ${perChange('server')} ms, stores ${perChange('stores')} ms; ${os.cpus().length} cores to share ` +
      `(${((perChange('devices') + perChange('server') + perChange('stores')) / os.cpus().length).toFixed(0)} ms of wall time if perfectly spread)`,
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
