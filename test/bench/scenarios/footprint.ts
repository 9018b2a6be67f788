// Agent footprint: RSS and CPU of one agent (the bundle, with its systemd unit's node flags, as on a
// Pi) over an idle period, with all three stores and with each alone. Its floor is a bare node process
// with the same flags, measured in the same run: what the agent adds to Node itself.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { unitNodeFlags } from '../../../device/unit.ts';
import { STORE_KINDS, type StoreKind } from '../../../lib/registry/index.ts';
import { delay } from '../../support/eventually.ts';
import { measureAgentFootprint } from '../agent-footprint.ts';
import type { BenchContext, Scenario } from '../support/context.ts';
import { readingFigure } from '../support/figures.ts';
import { cpuPercent, sampleProc } from '../support/proc.ts';

async function bareNode(seconds: number) {
  const child = spawn(process.execPath, [...unitNodeFlags(), '-e', 'setInterval(() => {}, 60_000)'], {
    stdio: 'ignore',
  });
  try {
    await delay(2000);
    const first = sampleProc(child.pid!);
    await delay(seconds * 1000);
    const last = sampleProc(child.pid!);
    return { rssMb: last.rssMb, cpu: cpuPercent(first, last) };
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit').catch(() => undefined);
  }
}

export const footprintScenario: Scenario = {
  id: 'footprint',
  title: 'agent footprint: RSS and CPU of one idle agent, all stores and each alone',
  async run(ctx: BenchContext) {
    await ctx.releaseFleet(); // idle means idle: nothing else of the bench running
    const seconds = ctx.quick ? 15 : 60;
    const sets: (StoreKind[] | 'all')[] = ['all', ...STORE_KINDS.map((k) => [k])];
    ctx.log(
      `  ${sets.length} agents side by side (each with its own stores) and a bare node, ${seconds} s idle`,
    );
    const [bare, ...agents] = await Promise.all([
      bareNode(seconds),
      ...sets.map((set) =>
        measureAgentFootprint(set === 'all' ? [...STORE_KINDS] : set, seconds, (line) =>
          ctx.log(`  ${set === 'all' ? 'all stores' : set[0]}:${line}`),
        ),
      ),
    ]);
    ctx.log(`  bare node (${unitNodeFlags().join(' ') || 'no flags'}): RSS ${bare.rssMb.toFixed(1)} MB`);
    sets.forEach((set, i) => {
      const f = agents[i]!;
      const store: StoreKind | 'all' = set === 'all' ? 'all' : set[0]!;
      const common = { scenario: 'footprint' as const, store, devices: null };
      const all = set === 'all';
      ctx.record(
        readingFigure(
          {
            ...common,
            metric: 'agent-rss',
            unit: 'MB',
            floor: { what: 'bare node with the same flags', value: bare.rssMb },
            target: all ? { max: 60, text: '<= 60 MB (all stores)' } : null,
            note: `after ${f.idleSeconds} s idle; peak ${f.peakRssMb} MB`,
          },
          f.rssMb,
        ),
      );
      ctx.record(
        readingFigure(
          {
            ...common,
            metric: 'agent-idle-cpu',
            unit: '%',
            floor: null,
            target: all ? { max: 1, text: '<= 1 % of a core (all stores)' } : null,
            note: `% of one core over ${f.idleSeconds} s idle, from 5 s after it was registered in every store (start-up settled)`,
          },
          f.cpuPercentOfOneCore,
        ),
      );
    });
    ctx.note(
      'footprint: the 2016 demo ran one Python process per store, 44 MB for etcd and 36 MB for Consul (from the brief, not measured by this run)',
    );
  },
};
