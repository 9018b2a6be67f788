// The server at rest with a fleet on its page: its highest RSS over a second-by-second sampling and
// its CPU over the whole span, recorded as `server-rss` and `server-cpu` (the classroom's and the
// audience's scenarios). `each` runs after every sample (a scenario's own check of the fleet).
import { delay } from '../../support/eventually.ts';
import type { BenchContext } from './context.ts';
import { type FigureInput, readingFigure } from './figures.ts';
import { cpuPercent, sampleProc } from './proc.ts';

export async function recordServerAtRest(
  ctx: BenchContext,
  common: Pick<FigureInput, 'scenario' | 'store' | 'devices'>,
  pid: number,
  seconds: number,
  notes: { rss: string; cpu: string },
  each: () => void = () => {},
): Promise<void> {
  const start = sampleProc(pid);
  const rss: number[] = [];
  for (let s = 0; s < seconds; s++) {
    await delay(1000);
    rss.push(sampleProc(pid).rssMb);
    each();
  }
  const end = sampleProc(pid);
  ctx.record(
    readingFigure({ ...common, metric: 'server-rss', unit: 'MB', note: notes.rss }, Math.max(...rss)),
  );
  ctx.record(
    readingFigure({ ...common, metric: 'server-cpu', unit: '%', note: notes.cpu }, cpuPercent(start, end)),
  );
}
