// Only when the server runs with the bench's setting (FLEET_BENCH_TRACE, so a batch carries `trace`):
// keeps, for `npm run bench`, when each batch arrived and the server's stamps it carried, in
// window.__fleetTrace. Nothing here is shown; without the setting nothing is kept.

import { machineLoad } from '../../lib/registry/load-kinds.ts';
import type { BatchTrace, FleetChanges } from '../contract.ts';
import { wallClock } from '../wall-clock.ts';

/** The page's stamps on the wall clock, as the server's and the bench's (server/wall-clock.ts). */
export const pageNow: () => number = wallClock();

/** One batch as the bench reads it: page-clock arrival, the server's stamps, the devices it carried. */
export interface TracedBatch {
  /** When the socket handed the batch to the page (pageNow). */
  receivedAt: number;
  trace: BatchTrace;
  /** [store, id, color, cpuPercent, updatedAt] of each device in the batch. */
  views: [string, string, string | null, number | null, string][];
}

/** The most batches kept (the bench clears them between samples; a color trial at 100 devices needs a few hundred). */
export const MAX_TRACED_BATCHES = 2000;

declare global {
  interface Window {
    __fleetTrace?: TracedBatch[];
  }
}

export function recordTrace(changes: FleetChanges, receivedAt: number): void {
  if (!changes.trace) return;
  window.__fleetTrace ??= [];
  const kept = window.__fleetTrace;
  kept.push({
    receivedAt,
    trace: changes.trace,
    views: changes.devices.map((d) => [
      d.store,
      d.id,
      d.color,
      machineLoad(d.load)?.cpuPercent ?? null,
      d.updatedAt,
    ]),
  });
  if (kept.length > MAX_TRACED_BATCHES) kept.splice(0, kept.length - MAX_TRACED_BATCHES);
}
