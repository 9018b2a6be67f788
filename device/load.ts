// Every systeminformation call of the agent, in one place. Values are rounded to what a person reads
// on the page, so that noise does not count as a change worth a store write.
//
// Two sources (`--load-from`): the machine (a Pi: its CPU, memory and temperature), or this agent's own
// process (a simulated or joined device, where many share one machine and would all report the same
// machine figures): its CPU share, its memory, and the machine's temperature.
import { loadavg, totalmem, uptime } from 'node:os';
import si from 'systeminformation';
import type { MachineLoad } from '../lib/registry/index.ts';
import type { LoadSource } from './config.ts';
import { procStatMeter, sysfsTemperatureMeter } from './linux-load.ts';

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;
const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value));

// On Linux (a Pi, a simulated device) from /proc and /sys directly (linux-load.ts): systeminformation
// spawns shells for both. Elsewhere (a laptop joining a workshop) from systeminformation.
const linux = process.platform === 'linux';
const sysfsTemperature = linux ? sysfsTemperatureMeter() : undefined;
const procStat = linux ? procStatMeter() : undefined;

/** The CPU sensor's reading, or null where there is none (a VM, most laptops without root). */
async function temperatureC(): Promise<number | null> {
  const main = sysfsTemperature
    ? await sysfsTemperature().catch(() => null)
    : (await si.cpuTemperature().catch(() => ({ main: null }))).main;
  return typeof main === 'number' && main > -60 && main < 200 ? round(main, 1) : null;
}

/** The machine's CPU busy %, since the reading before (the first: since boot). */
async function machineCpuPercent(): Promise<number> {
  if (procStat) return procStat().catch(() => 0);
  return (await si.currentLoad()).currentLoad;
}

/** The whole machine: what a Pi reports. */
export async function measureLoad(): Promise<MachineLoad> {
  const [cpu, mem, temperature] = await Promise.all([machineCpuPercent(), si.mem(), temperatureC()]);
  return {
    cpuPercent: round(clamp(cpu || 0, 0, 100), 1),
    load1: round(loadavg()[0] ?? 0, 2),
    // "active" is what programs use; "used" counts the page cache, which makes every Pi look full.
    memUsedPercent: round(clamp((mem.active / mem.total) * 100 || 0, 0, 100), 1),
    temperatureC: temperature,
    uptimeSeconds: Math.floor(uptime()),
  };
}

/** One reading of the process's clocks: CPU time of all its threads, and wall time, in microseconds. */
export interface ProcessSample {
  cpuMicros: number;
  wallMicros: number;
}

/**
 * The process's CPU share between two samples, % of one core: CPU time over wall time. All threads
 * count (process.cpuUsage is the whole process's), so a stress worker's burn is in it; a process busy
 * on two threads would read above 100 and is shown as 100, as the store's schema caps it.
 */
export function cpuShare(previous: ProcessSample, next: ProcessSample): number {
  const wall = next.wallMicros - previous.wallMicros;
  if (!(wall > 0)) return 0;
  return round(clamp(((next.cpuMicros - previous.cpuMicros) / wall) * 100, 0, 100), 1);
}

/** The process's resident memory as % of the machine's. */
export function memoryShare(rssBytes: number, totalBytes: number): number {
  if (!(totalBytes > 0) || !(rssBytes >= 0)) return 0;
  return round(clamp((rssBytes / totalBytes) * 100, 0, 100), 1);
}

function processSample(): ProcessSample {
  const { user, system } = process.cpuUsage();
  return { cpuMicros: user + system, wallMicros: Number(process.hrtime.bigint() / 1000n) };
}

/** Shorter windows are mostly noise (a timer tick, a store write): the first reading waits this long. */
export const MIN_PROCESS_WINDOW_MS = 250;

/** This process only: each reading is its share since the one before (the first one over a short window). */
export function processLoadMeter(): () => Promise<MachineLoad> {
  let previous = processSample();
  return async () => {
    const waited = (processSample().wallMicros - previous.wallMicros) / 1000;
    if (waited < MIN_PROCESS_WINDOW_MS) {
      await new Promise((r) => setTimeout(r, MIN_PROCESS_WINDOW_MS - waited));
    }
    const next = processSample();
    const cpuPercent = cpuShare(previous, next);
    previous = next;
    return {
      cpuPercent,
      load1: round(loadavg()[0] ?? 0, 2),
      memUsedPercent: memoryShare(process.memoryUsage.rss(), totalmem()),
      temperatureC: await temperatureC(),
      uptimeSeconds: Math.floor(uptime()),
    };
  };
}

/** How the agent measures its load, from `--load-from`. */
export function loadMeter(source: LoadSource): () => Promise<MachineLoad> {
  return source === 'process' ? processLoadMeter() : measureLoad;
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
export function loadChanged(
  previous: MachineLoad | null,
  next: MachineLoad,
  thresholds = DEFAULT_THRESHOLDS,
): boolean {
  if (!previous) return true;
  if ((previous.temperatureC === null) !== (next.temperatureC === null)) return true;
  return (Object.keys(thresholds) as (keyof ChangeThresholds)[]).some(
    (key) => Math.abs((next[key] ?? 0) - (previous[key] ?? 0)) >= thresholds[key],
  );
}
