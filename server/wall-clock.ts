// The clock of the bench's cross-process stamps (server/page/bench-trace.ts, FleetChanges.trace):
// the wall clock now (CLOCK_REALTIME, which every process on the machine reads alike) at sub-ms
// resolution. performance.timeOrigin + performance.now() is not that: it is the wall clock at the
// process's start plus the monotonic time since, and two processes started before and after the wall
// clock moved disagree for good (121 ms between the bench and the server in one loaded run here).
// Date.now() is whole ms, floored: the offset to performance.now() keeps the largest sample (the
// closest to the truth), and follows the wall clock when it moves by more than its resolution.

/** A wall clock in ms since the epoch with performance.now()'s resolution. */
export function wallClock(
  wall: () => number = Date.now,
  mono: () => number = () => performance.now(),
): () => number {
  let offset = wall() - mono();
  return () => {
    const m = mono();
    const sample = wall() - m;
    // Larger: a finer estimate (or the wall clock stepped forward); much smaller: it stepped back.
    if (sample > offset || sample < offset - 1.5) offset = sample;
    return m + offset;
  };
}
