// Failure detection: a device unplugged (its namespace's link down as root, else SIGSTOP), SIGKILLed
// or SIGTERMed, until the page shows it gone (Consul: critical). Unplug and SIGKILL are reported as
// the time beyond the store's configured liveness window (negative: before the window ended).
import { STORE_KINDS, type StoreKind } from '../../../lib/registry/index.ts';
import { delay, eventually } from '../../support/eventually.ts';
import { now } from '../support/clock.ts';
import { type BenchContext, floorOf, type Scenario } from '../support/context.ts';
import { distributionFigure } from '../support/figures.ts';
import type { FleetSession } from '../support/fleet-session.ts';
import type { Predicate } from '../support/page-probe.ts';

type Way = 'unplug' | 'sigkill' | 'sigterm';

/** What "gone" looks like on the page after each way of losing a device. */
function goneOnPage(way: Way, store: StoreKind, id: string): Predicate {
  if (store === 'consul' && way !== 'sigterm') return { kind: 'health', store, id, value: 'critical' };
  return { kind: 'absent', store, id };
}

async function lose(session: FleetSession, way: Way, id: string): Promise<void> {
  if (way === 'unplug') await session.fleet.act(id, 'unplug');
  else if (way === 'sigkill') await session.fleet.act(id, 'kill');
  else {
    const pid = session.fleet.list().find((d) => d.id === id)?.pid;
    if (!pid) throw new Error(`${id} has no process to stop`);
    process.kill(pid, 'SIGTERM');
  }
}

/**
 * Loses `ids` one after the other (`spacingMs` apart, so trials overlap but do not coincide), times
 * each store's "gone" on the page, then brings them all back and waits until every column shows them
 * healthy again. Returns the latencies per store.
 */
async function round(
  ctx: BenchContext,
  session: FleetSession,
  way: Way,
  ids: string[],
  spacingMs: number,
): Promise<Record<StoreKind, number[]>> {
  const { probe } = session.stack;
  const latencies: Record<StoreKind, number[]> = { etcd: [], zookeeper: [], consul: [] };
  const started = new Map<string, number>();
  const names: string[] = [];
  for (const id of ids) {
    const entries = STORE_KINDS.map(
      (store) => [`${way}-${store}-${id}`, goneOnPage(way, store, id)] as [string, Predicate],
    );
    const already = await probe.watch(entries);
    if (already.length > 0)
      throw new Error(`${id} already looked gone before it was lost: ${already.join(', ')}`);
    names.push(...entries.map(([name]) => name));
    started.set(id, now());
    await lose(session, way, id);
    await delay(spacingMs);
  }
  const slowest = Math.max(...Object.values(session.stack.windowsMs));
  const seen = await probe.waitFor(names, slowest + 15_000);
  for (const id of ids) {
    for (const store of STORE_KINDS)
      latencies[store].push(seen.get(`${way}-${store}-${id}`)! - started.get(id)!);
  }
  // Back: replug (or restart the process), then every column shows it, Consul's check passing.
  const back = ids.flatMap((id) =>
    STORE_KINDS.map(
      (store) =>
        [
          `back-${store}-${id}`,
          store === 'consul'
            ? { kind: 'health', store, id, value: 'passing' }
            : { kind: 'present', store, id },
        ] as [string, Predicate],
    ),
  );
  if (way === 'sigterm')
    await eventually(
      'the stopped agents to exit',
      () => session.fleet.list().every((d) => !ids.includes(d.id) || d.state === 'exited'),
      { timeoutMs: 10_000, intervalMs: 50 },
    );
  await Promise.all(ids.map((id) => session.fleet.act(id, 'replug')));
  await probe.watch(back);
  await probe.waitFor(
    back.map(([name]) => name),
    60_000,
  );
  ctx.log(`  ${way}: ${ids.length} devices lost and back`);
  return latencies;
}

export const failureScenario: Scenario = {
  id: 'failure',
  title: 'failure detection: unplug, SIGKILL or SIGTERM of a device to "gone" on the page',
  async run(ctx: BenchContext) {
    const devices = ctx.quick ? 20 : 100;
    const session = await ctx.fleet(devices);
    const { windowsMs } = session.stack;
    const trials: Record<Way, number> = ctx.quick
      ? { unplug: 6, sigkill: 3, sigterm: 3 }
      : { unplug: 24, sigkill: 10, sigterm: 10 };
    const results = {} as Record<Way, Record<StoreKind, number[]>>;
    let next = 0;
    for (const way of ['unplug', 'sigkill', 'sigterm'] as Way[]) {
      const ids = session.ids.slice(next, next + trials[way]);
      next = (next + trials[way]) % session.ids.length;
      results[way] = await round(ctx, session, way, ids, way === 'sigterm' ? 200 : 400);
    }
    const how = ctx.simMode === 'namespaces' ? 'link down in its network namespace' : 'SIGSTOP';
    for (const store of STORE_KINDS) {
      const window = windowsMs[store];
      const beyond = (way: Way) => results[way][store].map((ms) => ms - window);
      const common = { scenario: 'failure' as const, store, devices, unit: 'ms' as const };
      const windowFloor = { what: `liveness window (configured: ${window} ms)`, value: window };
      for (const way of ['unplug', 'sigkill'] as Way[]) {
        const samples = beyond(way);
        const figure = distributionFigure(
          {
            ...common,
            metric: `${way}-beyond-window`,
            floor: windowFloor,
            target: { max: 500, text: 'p99 <= window + 500 ms' },
            note: `${way === 'unplug' ? how : 'SIGKILL'} to ${store === 'consul' ? 'critical' : 'gone'} on the page, minus the window; ratio = (value + window) / window`,
          },
          samples,
        );
        figure.ratio = Math.round(((figure.value + window) / window) * 100) / 100;
        ctx.record(figure);
      }
      ctx.record(
        distributionFigure(
          {
            ...common,
            metric: 'sigterm-to-gone',
            floor: floorOf(ctx, store),
            note: 'the agent deregisters on SIGTERM',
          },
          results.sigterm[store],
        ),
      );
    }
  },
};
