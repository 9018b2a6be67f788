// The "expired after" stamp in words, one place for the page's tile and the server's timeline. Pure.
import type { ExpiredStamp } from '../contract.ts';

/** "5 s", "4.5 s", "1 min 30 s": a window as its settings say it. */
export function windowText(ms: number): string {
  const s = Math.round(ms / 100) / 10;
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  const rest = Math.round(s - min * 60);
  return rest === 0 ? `${min} min` : `${min} min ${rest} s`;
}

/** "expired after 5.2 s (window 5 s)"; Consul's: "reaped 61.0 s after critical (reap delay 60 s)". */
export function expiredText(stamp: ExpiredStamp): string {
  const after = `${(Math.max(0, stamp.afterMs) / 1000).toFixed(1)} s`;
  return stamp.kind === 'reaped'
    ? `reaped ${after} after critical (reap delay ${windowText(stamp.windowMs)})`
    : `expired after ${after} (window ${windowText(stamp.windowMs)})`;
}
