// A process's memory and CPU time as Linux tells it in /proc: what the footprint and scale figures read.
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS = 100; // USER_HZ on Linux

export interface ProcSample {
  rssMb: number;
  /** VmHWM: the highest RSS the process has had. */
  peakMb: number;
  /** User plus system CPU time so far. */
  cpuSeconds: number;
  /** Date.now() when read. */
  at: number;
}

/** Reads /proc/PID/status and /proc/PID/stat; throws when the process is gone. */
export function sampleProc(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  // utime and stime are fields 14 and 15 of /proc/PID/stat (after the command name in parentheses).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return {
    rssMb: kb('VmRSS') / 1024,
    peakMb: kb('VmHWM') / 1024,
    cpuSeconds: ticks / CLOCK_TICKS,
    at: Date.now(),
  };
}

/** CPU used between two samples of one process, in % of one core. */
export function cpuPercent(first: ProcSample, last: ProcSample): number {
  const elapsed = (last.at - first.at) / 1000;
  return elapsed > 0 ? ((last.cpuSeconds - first.cpuSeconds) / elapsed) * 100 : 0;
}

/** Every live descendant of `root` whose command name (/proc/PID/comm) matches `name`. */
export function descendants(root: number, name: RegExp): number[] {
  const parentOf = new Map<number, number>();
  const commOf = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const open = stat.indexOf('(');
      const close = stat.lastIndexOf(')');
      commOf.set(Number(entry), stat.slice(open + 1, close));
      parentOf.set(Number(entry), Number(stat.slice(close + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const isBelow = (pid: number): boolean => {
    for (let p = parentOf.get(pid); p !== undefined && p > 0; p = parentOf.get(p))
      if (p === root) return true;
    return false;
  };
  return [...commOf].filter(([pid, comm]) => name.test(comm) && isBelow(pid)).map(([pid]) => pid);
}

/** Samples processes by pid, skipping those that are gone. */
export function sampleAll(pids: readonly number[]): Map<number, ProcSample> {
  const out = new Map<number, ProcSample>();
  for (const pid of pids) {
    try {
      out.set(pid, sampleProc(pid));
    } catch {
      // gone
    }
  }
  return out;
}

/** CPU seconds used so far by each named group of processes (a process gone meanwhile counts as 0). */
export function cpuSecondsOf(groups: Record<string, readonly number[]>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(groups).map(([group, pids]) => [
      group,
      [...sampleAll(pids).values()].reduce((sum, sample) => sum + sample.cpuSeconds, 0),
    ]),
  );
}
