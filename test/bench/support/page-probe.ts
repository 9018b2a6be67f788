// Times changes in the live page's DOM as they happen: a MutationObserver in the page checks the
// predicates the bench is waiting for and stamps the moment each first holds, on a clock calibrated
// against the bench's own. No polling decides a latency: the bench polls only to collect the stamps.
import type { Page } from 'playwright-core';
import type { StoreKind } from '../../../lib/registry/index.ts';
import { delay } from '../../support/eventually.ts';
import { now } from './clock.ts';

export type Predicate =
  | { kind: 'present' | 'absent'; store: StoreKind; id: string }
  | { kind: 'health'; store: StoreKind; id: string; value: 'passing' | 'warning' | 'critical' }
  | { kind: 'text'; store: StoreKind; id: string; selector: string; value: string }
  /** Every tile of the column shows this color, and there are at least `count` of them. */
  | { kind: 'colorAll'; store: StoreKind; value: string; count: number }
  | { kind: 'count'; store: StoreKind; count: number }
  /** Any element matching `selector` has text containing `value` (e.g. the status line's answer). */
  | { kind: 'textIncludes'; selector: string; value: string };

// Plain JavaScript: it runs in the page (the bench's transpiler would add helpers to compiled functions).
const PROBE_IN_PAGE = `(() => {
  if (window.__benchProbe) return;
  // The wall clock at sub-ms resolution, as server/wall-clock.ts (the bench's and the server's clock).
  const stamp = (() => {
    let offset = Date.now() - performance.now();
    return () => {
      const m = performance.now();
      const sample = Date.now() - m;
      if (sample > offset || sample < offset - 1.5) offset = sample;
      return m + offset;
    };
  })();
  const pending = new Map();
  const done = new Map();
  const q = (s) => '"' + CSS.escape(s) + '"';
  const tileOf = (store, id) => document.querySelector('.tile[data-store=' + q(store) + '][data-device=' + q(id) + ']');
  const tilesOf = (store) => document.querySelectorAll('.tile[data-store=' + q(store) + ']');
  const checks = {
    present: (p) => tileOf(p.store, p.id) !== null,
    absent: (p) => tileOf(p.store, p.id) === null,
    health: (p) => { const t = tileOf(p.store, p.id); return t !== null && t.dataset.health === p.value; },
    text: (p) => { const t = tileOf(p.store, p.id); const e = t && t.querySelector(p.selector); return !!e && e.textContent === p.value; },
    colorAll: (p) => {
      const tiles = tilesOf(p.store);
      if (tiles.length < p.count) return false;
      for (const t of tiles) if (t.dataset.color !== p.value) return false;
      return true;
    },
    count: (p) => tilesOf(p.store).length >= p.count,
    textIncludes: (p) => { for (const e of document.querySelectorAll(p.selector)) if ((e.textContent || '').includes(p.value)) return true; return false; },
  };
  const sweep = () => {
    if (pending.size === 0) return;
    const at = stamp();
    for (const [name, p] of pending) if (checks[p.kind](p)) { pending.delete(name); done.set(name, at); }
  };
  const longTasks = [];
  try {
    new PerformanceObserver((list) => { for (const e of list.getEntries()) longTasks.push(e.duration); }).observe({ type: 'longtask' });
  } catch {}
  new MutationObserver(sweep).observe(document.documentElement, { subtree: true, childList: true, attributes: true, characterData: true });
  window.__benchProbe = {
    now: stamp,
    watch(entries) {
      const already = [];
      for (const [name, p] of entries) {
        done.delete(name);
        if (checks[p.kind](p)) { done.set(name, stamp()); already.push(name); } else pending.set(name, p);
      }
      return already;
    },
    take(names) {
      const out = {};
      for (const n of names) if (done.has(n)) { out[n] = done.get(n); done.delete(n); }
      return out;
    },
    cancel(names) { for (const n of names) { pending.delete(n); done.delete(n); } },
    longTasks() { return longTasks.splice(0); },
    // The server's hop stamps the page kept (server/page/bench-trace.ts; FLEET_BENCH_TRACE): each
    // device's first arrival carrying a value (field 2: its color, 3: its CPU %); forget: drop them all.
    arrivals(store, ids, field, value, forget) {
      const batches = window.__fleetTrace || [];
      if (forget) window.__fleetTrace = [];
      const wanted = ids === null ? null : new Set(ids);
      const out = {};
      const colors = [];
      for (const b of batches) {
        for (const c of b.trace.colors || []) colors.push(c);
        for (const v of b.views) {
          if (v[0] !== store || v[field] !== value || out[v[1]] || (wanted && !wanted.has(v[1]))) continue;
          const w = b.trace.watched.find((x) => x.store === store && x.id === v[1]);
          out[v[1]] = { receivedAt: b.receivedAt, sentAt: b.trace.sentAt, watchedAt: w ? w.at : null, updatedAt: Date.parse(v[4]) };
        }
      }
      return { devices: out, colors };
    },
    forgetArrivals() { window.__fleetTrace = []; },
  };
})()`;

/** One device's first arrival on the page carrying a value, with the server's stamps (bench clock, ms). */
export interface Arrival {
  /** When the record was written: its updatedAt (the writer's clock, ms resolution). */
  updatedAt: number;
  /** When the server's watch handed the change over (null: no stamp, the server runs without trace). */
  watchedAt: number | null;
  /** When the server's batch left. */
  sentAt: number;
  /** When the page's socket handed the batch over. */
  receivedAt: number;
}

export interface ColorWriteStamps {
  color: string;
  requestedAt: number;
  acked: { store: StoreKind; at: number }[];
}

export class PageProbe {
  private constructor(
    readonly page: Page,
    /** page clock minus bench clock, ms */
    private readonly offset: number,
  ) {}

  /** Installs the observer and calibrates the page's clock against ours (smallest round trip wins). */
  static async attach(page: Page): Promise<PageProbe> {
    await page.evaluate(PROBE_IN_PAGE);
    let best = { rtt: Number.POSITIVE_INFINITY, offset: 0 };
    for (let i = 0; i < 15; i++) {
      const before = now();
      const pageNow = (await page.evaluate('window.__benchProbe.now()')) as number;
      const after = now();
      if (after - before < best.rtt) best = { rtt: after - before, offset: pageNow - (before + after) / 2 };
    }
    return new PageProbe(page, best.offset);
  }

  /** Starts watching; returns the names whose predicate already held (their stamp is now). */
  async watch(entries: [string, Predicate][]): Promise<string[]> {
    return (await this.page.evaluate(`window.__benchProbe.watch(${JSON.stringify(entries)})`)) as string[];
  }

  async cancel(names: string[]): Promise<void> {
    await this.page.evaluate(`window.__benchProbe.cancel(${JSON.stringify(names)})`);
  }

  /** The bench-clock time at which each predicate first held; throws naming the ones that never did. */
  async waitFor(names: string[], timeoutMs: number, everyMs = 25): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    const deadline = now() + timeoutMs;
    while (found.size < names.length) {
      const missing = names.filter((n) => !found.has(n));
      const taken = (await this.page.evaluate(
        `window.__benchProbe.take(${JSON.stringify(missing)})`,
      )) as Record<string, number>;
      for (const [name, at] of Object.entries(taken)) found.set(name, at - this.offset);
      if (found.size === names.length) break;
      if (now() > deadline) {
        await this.cancel(missing);
        throw new Error(`the page never showed: ${names.filter((n) => !found.has(n)).join(', ')}`);
      }
      await delay(everyMs);
    }
    return found;
  }

  /** The durations (ms) of the page's long tasks (over 50 ms: its main thread busy) since the last call. */
  async longTasks(): Promise<number[]> {
    return (await this.page.evaluate('window.__benchProbe.longTasks()')) as number[];
  }

  /**
   * The first arrival of each device of `store` whose record carries `value` (`color` or `cpu`: its
   * CPU %) since the stamps were last forgotten, and the color writes the server reported meanwhile;
   * `forget`: then drops every stamp kept. `ids` null: every device. Only with the server's
   * FLEET_BENCH_TRACE (else nothing arrives here).
   */
  async arrivals(
    store: StoreKind,
    ids: string[] | null,
    field: 'color' | 'cpu',
    value: string | number,
    forget: boolean,
  ): Promise<{ devices: Map<string, Arrival>; colors: ColorWriteStamps[] }> {
    const raw = (await this.page.evaluate(
      `window.__benchProbe.arrivals(${JSON.stringify(store)}, ${JSON.stringify(ids)}, ${field === 'color' ? 2 : 3}, ${JSON.stringify(value)}, ${forget})`,
    )) as { devices: Record<string, Arrival>; colors: ColorWriteStamps[] };
    const devices = new Map<string, Arrival>();
    // Only the page's own stamp needs its clock's offset: the server's and the writers' are on ours.
    for (const [id, a] of Object.entries(raw.devices))
      devices.set(id, { ...a, receivedAt: a.receivedAt - this.offset });
    return { devices, colors: raw.colors };
  }

  /** Drops the stamps kept so far (before a trial). */
  async forgetArrivals(): Promise<void> {
    await this.page.evaluate('window.__benchProbe.forgetArrivals()');
  }

  /** Runs `script` in the page and returns the bench-clock time stamped in the page just before it. */
  async runStamped(script: string): Promise<number> {
    const at = (await this.page.evaluate(
      `(() => { const at = window.__benchProbe.now(); ${script}; return at; })()`,
    )) as number;
    return at - this.offset;
  }
}
