// Every systeminformation call of the agent, in one place. Values are rounded to what a person reads
// on the page, so that noise does not count as a change worth a store write.
import { loadavg, uptime } from 'node:os';
import si from 'systeminformation';
import type { Load } from '../lib/registry/index.ts';

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;
const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value));

export async function measureLoad(): Promise<Load> {
  const [cpu, mem, temperature] = await Promise.all([
    si.currentLoad(),
    si.mem(),
    si.cpuTemperature().catch(() => ({ main: null })),
  ]);
  const main = temperature.main;
  return {
    cpuPercent: round(clamp(cpu.currentLoad || 0, 0, 100), 1),
    load1: round(loadavg()[0] ?? 0, 2),
    // "active" is what programs use; "used" counts the page cache, which makes every Pi look full.
    memUsedPercent: round(clamp((mem.active / mem.total) * 100 || 0, 0, 100), 1),
    temperatureC: typeof main === 'number' && main > -60 && main < 200 ? round(main, 1) : null,
    uptimeSeconds: Math.floor(uptime()),
  };
}

export interface ChangeThresholds {
  cpuPercent: number;
  load1: number;
  memUsedPercent: number;
  temperatureC: number;
}

export const DEFAULT_THRESHOLDS: ChangeThresholds = {
  cpuPercent: 2,
  load1: 0.1,
  memUsedPercent: 1,
  temperatureC: 0.5,
};

/** A change worth writing: any value moved by its threshold, or a sensor appeared or went. Uptime alone never is. */
export function loadChanged(previous: Load | null, next: Load, thresholds = DEFAULT_THRESHOLDS): boolean {
  if (!previous) return true;
  if ((previous.temperatureC === null) !== (next.temperatureC === null)) return true;
  return (Object.keys(thresholds) as (keyof ChangeThresholds)[]).some(
    (key) => Math.abs((next[key] ?? 0) - (previous[key] ?? 0)) >= thresholds[key],
  );
}
