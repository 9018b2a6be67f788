// The one shape every measured figure has, in the printed table and in the JSON file. Its keys are
// documented in docs/performance.md and do not change without changing `BENCH_SCHEMA`.
import type { StoreKind } from '../../../lib/registry/index.ts';
import { round, type Summary, summarize } from './stats.ts';

export const BENCH_SCHEMA = 'fleetkit-bench/1';

export type ScenarioId =
  | 'floor'
  | 'propagation'
  | 'failure'
  | 'config'
  | 'footprint'
  | 'scale'
  | 'coldstart'
  | 'classroom'
  | 'audience'
  | 'emulated';
export type Unit = 'ms' | 'MB' | '%';

export interface Figure {
  scenario: ScenarioId;
  /** What was measured, e.g. `load-update-to-dom`. Stable: tools may key on scenario/metric/store. */
  metric: string;
  store: StoreKind | 'all';
  /** Devices shown on the page while measuring (null where none are involved). */
  devices: number | null;
  unit: Unit;
  /** Samples (trials); 1 for a single reading. */
  n: number;
  p50: number;
  p99: number;
  max: number;
  /** The figure held against the target: p99 for latencies, the reading itself otherwise. */
  value: number;
  /** What it is held against, measured in the same run (null where nothing sensible exists). */
  floor: { what: string; value: number } | null;
  /** value / floor.value (null without a floor). */
  ratio: number | null;
  /** From the brief; null where the brief sets none. `met` is value <= target.max. */
  target: { max: number; text: string } | null;
  met: boolean | null;
  note: string | null;
}

export interface FigureInput {
  scenario: ScenarioId;
  metric: string;
  store: StoreKind | 'all';
  devices?: number | null;
  unit: Unit;
  floor?: { what: string; value: number } | null;
  target?: { max: number; text: string } | null;
  note?: string | null;
}

function complete(input: FigureInput, s: Pick<Summary, 'n' | 'p50' | 'p99' | 'max'>, value: number): Figure {
  const floor = input.floor ?? null;
  const target = input.target ?? null;
  return {
    scenario: input.scenario,
    metric: input.metric,
    store: input.store,
    devices: input.devices ?? null,
    unit: input.unit,
    n: s.n,
    p50: round(s.p50),
    p99: round(s.p99),
    max: round(s.max),
    value: round(value),
    floor: floor && { what: floor.what, value: round(floor.value) },
    ratio: floor && floor.value > 0 ? Math.round((value / floor.value) * 10) / 10 : null,
    target,
    met: target ? value <= target.max : null,
    note: input.note ?? null,
  };
}

/** A distribution (latencies): its p99 is the figure held against the target. */
export function distributionFigure(input: FigureInput, samples: readonly number[]): Figure {
  const s = summarize(samples);
  return complete(input, s, s.p99);
}

/** A single reading (an RSS, a CPU share, one cold start). */
export function readingFigure(input: FigureInput, value: number): Figure {
  return complete(input, { n: 1, p50: value, p99: value, max: value }, value);
}
