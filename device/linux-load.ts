// The machine's CPU load and temperature on Linux, read from /proc and /sys with one file read each.
// systeminformation gets the same figures by spawning shells (`cat /proc/stat | grep cpu`, a loop over
// /sys/class/hwmon, then `sensors`): five or more processes every report, which was most of an idle
// agent's CPU (measured: 1.2 % of a core idle, 2.9 % in the bench's quick run). Elsewhere (a laptop
// joining a workshop on macOS or Windows) load.ts still asks systeminformation.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/** Busy and total CPU time of the whole machine, in the kernel's ticks. */
export interface CpuTimes {
  busy: number;
  total: number;
}

/**
 * The aggregate `cpu` line of /proc/stat: busy is user + nice + system + irq + softirq + steal (guest
 * time is already in user), total adds idle and iowait. null when the line is missing or not numbers.
 */
export function parseProcStat(text: string): CpuTimes | null {
  const line = /^cpu +([^\n]*)$/m.exec(text)?.[1];
  if (line === undefined) return null;
  const fields = line.trim().split(/ +/).map(Number);
  if (fields.length < 4 || fields.slice(0, 8).some((n) => !Number.isSafeInteger(n) || n < 0)) return null;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** % of the machine's CPU busy between two readings (the first: since boot); 0 when no time passed. */
export function busyPercent(previous: CpuTimes, next: CpuTimes): number {
  const total = next.total - previous.total;
  const busy = next.busy - previous.busy;
  if (!(total > 0) || !(busy >= 0)) return 0;
  return Math.min(100, (busy / total) * 100);
}

/** Each call: the machine's CPU busy % since the call before, from /proc/stat. */
export function procStatMeter(statFile = '/proc/stat'): () => Promise<number> {
  let previous: CpuTimes = { busy: 0, total: 0 };
  return async () => {
    const next = parseProcStat(await readFile(statFile, 'utf8'));
    if (!next) throw new Error(`${statFile}: no cpu line`);
    const percent = busyPercent(previous, next);
    previous = next;
    return percent;
  };
}

/** Where the temperature is read: the average of these files (millidegrees Celsius, as sysfs gives). */
export interface TemperatureSensor {
  files: string[];
  /** What it is, for a log line: `hwmon k10temp Tctl`, `thermal cpu-thermal`. */
  source: string;
}

const readText = (file: string) =>
  readFile(file, 'utf8').then(
    (t) => t.trim(),
    () => undefined,
  );
const list = (dir: string) => readdir(dir).catch(() => [] as string[]);
const byNumber = (a: string, b: string) => Number(/\d+/.exec(a)?.[0]) - Number(/\d+/.exec(b)?.[0]);

/**
 * Finds the CPU's sensor once, in systeminformation's order: a hwmon input labelled as the whole
 * package (Tdie, Tctl, Package, Physical, Tccd1), else the average of its `Core N` inputs; else a
 * thermal zone whose type names the CPU (a Raspberry Pi's `cpu-thermal`); else thermal_zone0.
 * null: no sensor (a VM, a container).
 */
export async function findTemperatureSensor(sysClass = '/sys/class'): Promise<TemperatureSensor | null> {
  const hwmonDir = path.join(sysClass, 'hwmon');
  const cores: string[] = [];
  for (const mon of (await list(hwmonDir)).sort(byNumber)) {
    const dir = path.join(hwmonDir, mon);
    const labels = (await list(dir)).filter((f) => /^temp\d+_label$/.test(f)).sort(byNumber);
    for (const labelFile of labels) {
      const label = (await readText(path.join(dir, labelFile)))?.toLowerCase();
      const input = path.join(dir, labelFile.replace(/_label$/, '_input'));
      if (label === undefined) continue;
      if (/^(tdie|tctl|package|physical|tccd1)/.test(label)) {
        return { files: [input], source: `hwmon ${mon} ${label}` };
      }
      if (label.startsWith('core')) cores.push(input);
    }
  }
  if (cores.length > 0) return { files: cores, source: `hwmon, ${cores.length} cores` };
  const thermalDir = path.join(sysClass, 'thermal');
  const zones = (await list(thermalDir)).filter((z) => /^thermal_zone\d+$/.test(z)).sort(byNumber);
  for (const zone of zones) {
    const type = await readText(path.join(thermalDir, zone, 'type'));
    if (type?.toLowerCase().includes('cpu')) {
      return { files: [path.join(thermalDir, zone, 'temp')], source: `thermal ${type}` };
    }
  }
  const zone0 = path.join(thermalDir, 'thermal_zone0', 'temp');
  if ((await readText(zone0)) !== undefined) return { files: [zone0], source: 'thermal_zone0' };
  return null;
}

/** The sensor's reading in °C (the average of its files), or null when none of them reads as a number. */
export async function readTemperature(sensor: TemperatureSensor): Promise<number | null> {
  const values: number[] = [];
  for (const file of sensor.files) {
    const text = await readText(file);
    const milli = text !== undefined && /^-?\d{1,7}$/.test(text) ? Number(text) : Number.NaN;
    if (Number.isFinite(milli)) values.push(milli / 1000);
  }
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Each call: the CPU's temperature, the sensor found at the first call; null for ever if there is none. */
export function sysfsTemperatureMeter(sysClass = '/sys/class'): () => Promise<number | null> {
  let sensor: Promise<TemperatureSensor | null> | undefined;
  return async () => {
    sensor ??= findTemperatureSensor(sysClass);
    const found = await sensor;
    return found ? readTemperature(found) : null;
  };
}
