// Choosing one instance of a service (seed 003: "the client asks the phone book and picks one"). Pure:
// it sees a list of instances as a watch holds it and says which one and why, so that the registry's
// pick(), the `fleetkit pick` command and the live page's "next pick" mark choose the same way.

import { machineLoad } from '../load-kinds.ts';
import type { DiscoveredInstance, HealthStatus, PickResult, PickState, PickStrategy } from '../types.ts';

/** Each strategy in a few words (for --help); keyed by the type, so that none is left out. */
export const PICK_STRATEGY_TEXT: Readonly<Record<PickStrategy, string>> = {
  'least-loaded': 'the lowest CPU among the passing ones',
  random: 'any passing one',
  'round-robin': 'the passing ones in turn',
};
export const PICK_STRATEGIES = Object.keys(PICK_STRATEGY_TEXT) as readonly PickStrategy[];

/** A load that can be compared: reported and a finite number. */
const cpuOf = (instance: DiscoveredInstance): number | undefined => {
  const cpu = machineLoad(instance.record.load)?.cpuPercent;
  return typeof cpu === 'number' && Number.isFinite(cpu) ? cpu : undefined;
};

/** Plain code-unit order, not the locale's: the same order on every machine. */
const byId = (a: DiscoveredInstance, b: DiscoveredInstance) =>
  a.record.id < b.record.id ? -1 : a.record.id > b.record.id ? 1 : 0;

/** Lowest CPU first; an instance without a load after every one with a load; ties by id (stable). */
const byLoad = (a: DiscoveredInstance, b: DiscoveredInstance) => {
  const ca = cpuOf(a);
  const cb = cpuOf(b);
  if (ca === undefined || cb === undefined) {
    if (ca !== cb) return ca === undefined ? 1 : -1;
    return byId(a, b);
  }
  return ca - cb || byId(a, b);
};

/** "1 critical skipped", "2 critical, 1 warning skipped", or '' when every instance passes. */
export function skippedText(instances: readonly DiscoveredInstance[]): string {
  const counts = new Map<HealthStatus, number>();
  for (const i of instances)
    if (i.health !== 'passing') counts.set(i.health, (counts.get(i.health) ?? 0) + 1);
  if (counts.size === 0) return '';
  return `${[...counts].map(([health, n]) => `${n} ${health}`).join(', ')} skipped`;
}

/** Why nothing can be picked from this list, in words (for chooseInstance's undefined). */
export function noPickReason(instances: readonly DiscoveredInstance[]): string {
  if (instances.length === 0) return 'no device registered';
  return `no passing device (${skippedText(instances)})`;
}

/**
 * The instance `strategy` chooses among the passing ones, or undefined when none passes. A warning or
 * critical instance is never chosen (Consul keeps dead devices as critical until it reaps them).
 * least-loaded: the lowest `load.cpuPercent`, instances without a load last, ties by id, so that the
 * same loads always give the same choice. round-robin: the next id after `state.lastId` (kept in
 * `state`). random: any passing one, with `state.random` or Math.random.
 */
export function chooseInstance(
  instances: readonly DiscoveredInstance[],
  strategy: PickStrategy,
  state: PickState = {},
): PickResult | undefined {
  const passing = instances.filter((i) => i.health === 'passing');
  if (passing.length === 0) return undefined;
  const skipped = skippedText(instances);
  const among = passing.length === 1 ? 'the only one passing' : undefined;
  let candidates: DiscoveredInstance[];
  let picked: DiscoveredInstance;
  let why: string;
  switch (strategy) {
    case 'least-loaded': {
      candidates = [...passing].sort(byLoad);
      picked = candidates[0]!;
      const cpu = cpuOf(picked);
      if (cpu === undefined) why = among ?? `none of ${passing.length} passing reports a load: first by id`;
      else {
        why = among ?? `least loaded of ${passing.length} passing`;
        const tied = candidates.filter((c) => cpuOf(c) === cpu).length - 1;
        if (tied > 0) why += `; tied at ${cpu} % with ${tied} other${tied === 1 ? '' : 's'}, first by id`;
        const unloaded = candidates.filter((c) => cpuOf(c) === undefined).length;
        if (unloaded > 0) why += `; ${unloaded} without a load counted last`;
      }
      break;
    }
    case 'round-robin': {
      candidates = [...passing].sort(byId);
      const last = state.lastId;
      picked =
        (last === undefined ? undefined : candidates.find((c) => c.record.id > last)) ?? candidates[0]!;
      state.lastId = picked.record.id;
      why = among ?? `next in turn of ${passing.length} passing`;
      break;
    }
    case 'random': {
      candidates = [...passing].sort(byId);
      const draw = (state.random ?? Math.random)();
      const index = Number.isFinite(draw) ? Math.floor(draw * candidates.length) : 0;
      picked = candidates[Math.min(Math.max(index, 0), candidates.length - 1)]!;
      why = among ?? `at random among ${passing.length} passing`;
      break;
    }
    default:
      throw new TypeError(`unknown pick strategy ${JSON.stringify(strategy)}`);
  }
  return { picked, candidates, reason: skipped ? `${why}; ${skipped}` : why };
}
