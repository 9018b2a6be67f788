// One clock for the bench, the server's stamps and the page: the wall clock in milliseconds with
// sub-millisecond resolution (server/wall-clock.ts: every process reads the same CLOCK_REALTIME now,
// whenever it started; the page's offset is still calibrated by the probe).
// Waiting and polling: test/support/eventually.ts.
import { wallClock } from '../../../server/wall-clock.ts';

export const now: () => number = wallClock();
