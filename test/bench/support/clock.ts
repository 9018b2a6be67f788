// One clock for the bench and the page: milliseconds since the epoch with sub-millisecond resolution
// (performance.timeOrigin + performance.now() in both; the page's offset is calibrated by the probe).
// Waiting and polling: test/support/eventually.ts.
export const now = (): number => performance.timeOrigin + performance.now();
