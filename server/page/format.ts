// Formatting of durations, clock times, load figures and device links. Pure functions, no DOM.
import { browserLoad, machineLoad } from '../../lib/registry/load-kinds.ts';
import type { BrowserLoad, Load } from '../contract.ts';

/** "4 s", "2 min 5 s", "3 h 12 min". */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 === 0 ? `${minutes} min` : `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** HH:MM:SS on the viewer's clock. */
export function formatClock(localMs: number): string {
  const date = new Date(localMs);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export function formatPercent(value: number): string {
  return Number.isFinite(value) ? `${Math.round(value)}%` : '–';
}

export function formatTemperature(value: number | null): string | null {
  return value === null || !Number.isFinite(value) ? null : `${value.toFixed(1)}°C`;
}

/** An IPv6 address in brackets, as in a URL, so the port reads apart from it. */
const bracketed = (host: string): string =>
  host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;

/** "10.0.0.21:8080", "[fe80::1]:8080". */
export function formatAddress(host: string, port: number): string {
  return `${bracketed(host)}:${port}`;
}

/** Characters that would make "http://<host>:<port>/" mean something else (userinfo, path, query). */
const HOST_FORBIDDEN = /[\s/\\@?#%<>"'`^{|}]/;

/**
 * The device's own page, http://host:port/, built with the URL API; null when host or port would not
 * make a plain http: link to that host (so the page shows the address as text instead).
 */
export function deviceUrl(host: string, port: number): string | null {
  if (!host || HOST_FORBIDDEN.test(host)) return null;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  try {
    const url = new URL(`http://${formatAddress(host, port)}/`);
    if (url.protocol !== 'http:' || url.username || url.password) return null;
    if (url.pathname !== '/' || url.search || url.hash) return null;
    return url.href;
  } catch {
    return null;
  }
}

/** Natural order for ids: pi-2 before pi-10. */
export const compareIds = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' }).compare;

/** A phone's load (a browser's) in words: its event loop's delay and its battery, each where told. */
export function browserLoadText(load: BrowserLoad): string {
  const loop = load.eventLoopDelayMs === null ? 'loop –' : `loop ${Math.round(load.eventLoopDelayMs)} ms`;
  return load.batteryPercent === null ? loop : `${loop} · battery ${formatPercent(load.batteryPercent)}`;
}

/** The headline figure of any load: a machine's CPU, a phone's event-loop delay and battery. */
export function loadHeadline(load: Load | null): string | null {
  const machine = machineLoad(load);
  if (machine) return `CPU ${formatPercent(machine.cpuPercent)}`;
  const browser = browserLoad(load);
  return browser ? browserLoadText(browser) : null;
}

/** "1,234": counts on the page, grouped the same on every machine. */
export const formatCount = (n: number): string => n.toLocaleString('en');
