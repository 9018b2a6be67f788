// The floor: a raw write reaching a raw watcher, with each store's own client and nothing of the kit in
// between (etcd watch, ZooKeeper data watch re-armed after each event, Consul blocking query). Every
// other latency is held against it.
import { STORE_KINDS } from '../../../lib/registry/index.ts';
import { startStore } from '../../../provision/stores/index.ts';
import { delay } from '../../support/eventually.ts';
import type { BenchContext, Scenario } from '../support/context.ts';
import { distributionFigure } from '../support/figures.ts';
import { RAW_PAIRS } from '../support/raw-pairs.ts';
import { recordStoreDurability } from '../support/stack.ts';
import { summarize } from '../support/stats.ts';

export const floorScenario: Scenario = {
  id: 'floor',
  title: 'floor: a raw store write reaching a raw watcher',
  async run(ctx: BenchContext) {
    const samples = ctx.quick ? 60 : 300;
    for (const store of STORE_KINDS) {
      const process = await startStore(store); // without fsync, as every store of the bench
      recordStoreDurability(process);
      ctx.log(`  ${store}: ${process.durability.how}`);
      const pair = await RAW_PAIRS[store](process.endpoints[0]!, 'floor');
      try {
        for (let i = 0; i < 10; i++) await pair.sample(`warm-${i}`); // connections and JIT, not measured
        const latencies: number[] = [];
        for (let i = 0; i < samples; i++) {
          latencies.push((await pair.sample(`v-${i}-${Math.random()}`))[1]);
          await delay(5);
        }
        ctx.floor[store] = summarize(latencies);
        ctx.record(
          distributionFigure(
            { scenario: 'floor', metric: 'raw-write-to-watch', store, unit: 'ms', floor: null },
            latencies,
          ),
        );
        ctx.log(
          `  ${store}: p50 ${ctx.floor[store]!.p50.toFixed(2)} ms, p99 ${ctx.floor[store]!.p99.toFixed(2)} ms over ${samples} writes`,
        );
      } finally {
        await pair.close();
        await process.stop({ removeData: true });
      }
    }
  },
};
