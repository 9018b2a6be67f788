// What a scenario gets: the run's settings, a place for its figures and notes, progress output, the
// floor measured first, and the shared page-plus-fleet (started once per fleet size, not per scenario).

import type { LivenessSettings, StoreKind } from '../../../lib/registry/index.ts';
import type { SimMode } from '../../../provision/sim/device.ts';
import type { Figure, ScenarioId } from './figures.ts';
import type { FleetSession } from './fleet-session.ts';
import type { Summary } from './stats.ts';

export interface BenchContext {
  quick: boolean;
  simMode: SimMode;
  /** The liveness every device and the page run with (the demo's). */
  liveness: LivenessSettings;
  log(line: string): void;
  record(figure: Figure): void;
  note(text: string): void;
  /** Raw store write to raw watcher, per store; measured first (undefined with --only and no floor). */
  floor: Partial<Record<StoreKind, Summary>>;
  /** The stores, the page and `devices` simulated devices, all shown on the page; reused when it fits. */
  fleet(devices: number): Promise<FleetSession>;
  /** Stops the shared fleet and page (before scenarios that need a quiet machine). */
  releaseFleet(): Promise<void>;
}

export interface Scenario {
  id: ScenarioId;
  title: string;
  run(ctx: BenchContext): Promise<void>;
}

/** The floor a latency is held against: the store's raw write-to-watch p99, when measured. */
export function floorOf(ctx: BenchContext, store: StoreKind | 'all', times = 1) {
  if (store === 'all') {
    const p99s = Object.values(ctx.floor).map((s) => s.p99);
    if (p99s.length === 0) return null;
    return {
      what: `${times > 1 ? `${times} x ` : ''}slowest store's raw write-to-watch p99`,
      value: times * Math.max(...p99s),
    };
  }
  const s = ctx.floor[store];
  return s ? { what: `${times > 1 ? `${times} x ` : ''}raw write-to-watch p99`, value: times * s.p99 } : null;
}
