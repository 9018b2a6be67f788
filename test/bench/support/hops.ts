// Where the time goes: a latency cut into consecutive hops, each stamped in the same run (the bench,
// the server with FLEET_BENCH_TRACE, the page). Every sample's hops add up to its total, so the hop
// that holds the tail is the one the slowest samples spend most in.
import type { Figure, FigureInput } from './figures.ts';
import { distributionFigure } from './figures.ts';
import { percentile, round } from './stats.ts';

export interface HopSpec {
  /** In the metric's name: `<prefix>-hop-<name>`. */
  name: string;
  /** What it spans, from which stamp to which. */
  what: string;
}

/** One timed change: its hops (ms, in the order of the specs) and its total (their sum). */
export interface HopSample {
  hops: Record<string, number>;
  total: number;
}

/** Builds a sample from consecutive stamps: hop i runs from stamps[i] to stamps[i + 1]. */
export function fromStamps(specs: readonly HopSpec[], stamps: readonly number[]): HopSample {
  if (stamps.length !== specs.length + 1)
    throw new Error(`${specs.length} hops need ${specs.length + 1} stamps, got ${stamps.length}`);
  const hops: Record<string, number> = {};
  for (const [i, spec] of specs.entries()) hops[spec.name] = stamps[i + 1]! - stamps[i]!;
  return { hops, total: stamps[stamps.length - 1]! - stamps[0]! };
}

export interface TailHolder {
  hop: string;
  /** The hop's mean share of the total in the slowest samples (0..1). */
  share: number;
  /** Its mean in those samples, ms. */
  meanMs: number;
  /** How many samples count as the tail: the slowest tenth by total, at least one. */
  tailN: number;
  /** The smallest total among them, ms. */
  thresholdMs: number;
}

/**
 * The hop the slowest samples spend most in: of the slowest tenth by total (at least one sample), the
 * hop with the largest mean. Its share is that mean over their mean total.
 */
export function tailHolder(specs: readonly HopSpec[], samples: readonly HopSample[]): TailHolder {
  if (samples.length === 0) throw new Error('no samples to find the tail in');
  if (specs.length === 0) throw new Error('no hops');
  const tail = [...samples]
    .sort((a, b) => b.total - a.total)
    .slice(0, Math.max(1, Math.ceil(samples.length / 10)));
  const threshold = tail[tail.length - 1]!.total;
  const mean = (pick: (s: HopSample) => number) => tail.reduce((sum, s) => sum + pick(s), 0) / tail.length;
  const meanTotal = mean((s) => s.total);
  let best = { hop: specs[0]!.name, meanMs: Number.NEGATIVE_INFINITY };
  for (const spec of specs) {
    const m = mean((s) => s.hops[spec.name] ?? 0);
    if (m > best.meanMs) best = { hop: spec.name, meanMs: m };
  }
  return {
    hop: best.hop,
    share: meanTotal > 0 ? best.meanMs / meanTotal : 0,
    meanMs: best.meanMs,
    tailN: tail.length,
    thresholdMs: threshold,
  };
}

/** One figure per hop (`<prefix>-hop-<name>`), from the same samples. */
export function hopFigures(
  input: Omit<FigureInput, 'metric' | 'note' | 'target'>,
  prefix: string,
  specs: readonly HopSpec[],
  samples: readonly HopSample[],
): Figure[] {
  return specs.map((spec) =>
    distributionFigure(
      { ...input, metric: `${prefix}-hop-${spec.name}`, note: spec.what },
      samples.map((s) => s.hops[spec.name]!),
    ),
  );
}

/** The hops every change takes from the server's watch to the page: the kit's own code. */
export function pageHops(dom: string): HopSpec[] {
  return [
    { name: 'batching', what: "the server's watch until its batch left for the pages" },
    {
      name: 'socket',
      what: "the batch leaving until it reached the bench's own socket.io client (the server's send and the network)",
    },
    {
      name: 'page-wait',
      what: "the bench's client until the page's socket handed the batch over (mostly the page's main thread busy)",
    },
    { name: 'dom', what: dom },
  ];
}
/** The names of pageHops: the server after its watch, the socket, the page. */
export const PAGE_HOP_NAMES = ['batching', 'socket', 'page-wait', 'dom'] as const;

/** The brief's target for the kit's own hops: at most this many times the store's raw p99. */
export const KIT_HOPS_TIMES_FLOOR = 3;

/**
 * The kit's own hops of each sample (their sum), held against KIT_HOPS_TIMES_FLOOR x the raw floor's
 * p99 (null floor: no target, the floor was not measured).
 */
export function kitHopsFigure(
  input: Omit<FigureInput, 'target' | 'note'> & { floor: { what: string; value: number } | null },
  kitHops: readonly string[],
  samples: readonly HopSample[],
): Figure {
  const floor = input.floor;
  return distributionFigure(
    {
      ...input,
      target: floor
        ? {
            max: round(KIT_HOPS_TIMES_FLOOR * floor.value),
            text: `p99 <= ${KIT_HOPS_TIMES_FLOOR} x the raw floor p99 (brief)`,
          }
        : null,
      note: `the kit's own hops, summed per sample: ${kitHops.join(' + ')}`,
    },
    samples.map((s) => kitHops.reduce((sum, h) => sum + s.hops[h]!, 0)),
  );
}

/** Every hop's p50 / p99 and the hop holding the tail, in words (a note of the run). */
export function describeHops(specs: readonly HopSpec[], samples: readonly HopSample[]): string {
  const sorted = (name: string) => samples.map((s) => s.hops[name]!).sort((a, b) => a - b);
  const parts = specs.map((spec) => {
    const x = sorted(spec.name);
    return `${spec.name} ${round(percentile(x, 50))} / ${round(percentile(x, 99))}`;
  });
  const t = tailHolder(specs, samples);
  return (
    `per hop, p50 / p99 ms: ${parts.join(', ')}; the tail (the slowest ${t.tailN} of ${samples.length}, ` +
    `totals from ${round(t.thresholdMs)} ms) is held by ${t.hop}: ${Math.round(t.share * 100)} % of their time (mean ${round(t.meanMs)} ms)`
  );
}
