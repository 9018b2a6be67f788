// Each store durable (fsync on every write, `fleetkit stores`' default) and without fsync (tests, the
// demo, the bench): a raw write's acknowledgement and its write-to-watch, back to back in the same
// conditions, optionally under background writes (a fleet's load reports). Not part of `npm run bench`.
//   npx tsx test/bench/store-durability.ts [--writes 200] [--background 100] [--strace]
// --strace counts the store's fsync/fdatasync calls while it acknowledges the measured writes.
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { createRegistry, STORE_KINDS } from '../../lib/registry/index.ts';
import { type StoreProcess, startStore, stopAllStores } from '../../provision/stores/index.ts';
import { delay } from '../support/eventually.ts';
import { now } from './support/clock.ts';
import { RAW_PAIRS } from './support/raw-pairs.ts';
import { summarize } from './support/stats.ts';

/** Writes `perSecond` config values (50 keys in turn) through the kit's registry until stopped. */
function backgroundWrites(store: StoreProcess, perSecond: number): () => Promise<void> {
  if (perSecond <= 0) return async () => undefined;
  const registry = createRegistry({ store: store.kind, endpoints: store.endpoints });
  let on = true;
  const loop = (async () => {
    for (let i = 0; on; i++) {
      const t = now();
      void registry.setConfig(`bg${i % 50}`, `x${i}`).catch(() => undefined);
      await delay(Math.max(0, 1000 / perSecond - (now() - t)));
    }
  })();
  return async () => {
    on = false;
    await loop;
    await registry.close();
  };
}

/** Counts fsync and fdatasync calls of the process (every thread) until the returned function is called. */
async function countSyncCalls(pid: number): Promise<() => Promise<number>> {
  const strace = spawn('strace', ['-f', '-qq', '-c', '-e', 'trace=fsync,fdatasync', '-p', String(pid)]);
  let report = '';
  strace.stderr.on('data', (chunk) => (report += chunk));
  await delay(1_000);
  return async () => {
    strace.kill('SIGINT');
    await new Promise((resolve) => strace.once('close', resolve));
    let calls = 0;
    for (const line of report.split('\n')) {
      const cells = line.trim().split(/\s+/);
      if (cells.at(-1) === 'fsync' || cells.at(-1) === 'fdatasync') calls += Number(cells[3]);
    }
    return calls;
  };
}

const { values } = parseArgs({
  options: {
    writes: { type: 'string', default: '200' },
    background: { type: 'string', default: '0' },
    strace: { type: 'boolean', default: false },
  },
});
const writes = Number(values.writes);
const background = Number(values.background);
const fmt = (ms: number) => ms.toFixed(2);
const say = (line: string) => process.stdout.write(`${line}\n`);
say(
  `${writes} writes per store and mode${background > 0 ? `, ${background} background writes/s` : ''}; ack and write-to-watch in ms`,
);
try {
  for (const kind of STORE_KINDS) {
    for (const durable of [true, false]) {
      const store = await startStore(kind, { durable });
      const pair = await RAW_PAIRS[kind](store.endpoints[0]!, 'durability');
      for (let i = 0; i < 10; i++) await pair.sample(`warm-${i}`); // connections and JIT
      const stopBackground = backgroundWrites(store, background);
      const syncCalls = values.strace && store.pid ? await countSyncCalls(store.pid) : undefined;
      const acks: number[] = [];
      const watches: number[] = [];
      for (let i = 0; i < writes; i++) {
        const [ack, watch] = await pair.sample(`v-${i}-${Math.random()}`);
        acks.push(ack);
        watches.push(watch);
        await delay(5);
      }
      const calls = syncCalls ? ` · ${await syncCalls()} fsync/fdatasync calls` : '';
      await stopBackground();
      const a = summarize(acks);
      const w = summarize(watches);
      say(
        `${kind.padEnd(9)} ${durable ? 'durable ' : 'no fsync'}  ack p50 ${fmt(a.p50)} p99 ${fmt(a.p99)} · write-to-watch p50 ${fmt(w.p50)} p99 ${fmt(w.p99)}${calls} · ${store.durability.how}`,
      );
      await pair.close();
      await store.stop({ removeData: true });
    }
  }
} finally {
  await stopAllStores();
}
