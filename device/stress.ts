// A load the device is told to carry: real CPU burnt in a worker thread of its own process, so that a
// device that reports its process's load (`--load-from process`) shows it, and so does the machine.
// The worker runs a duty cycle (busy for percent % of every 100 ms, asleep for the rest), which makes
// the load a share of one core: one thread can never take more than one core, whatever is asked.
//
// Two sources: the base load (`--stress`, kept all the time) and a load told over the IPC channel
// (device/stress-message.ts) for some seconds, which replaces the base while it lasts.
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';

/** What the device carries now: the percent it burns, its base, and when a told load ends (ms, epoch). */
export interface StressStatus {
  /** % of one core burnt now (the told load while it lasts, else the base). */
  percent: number;
  /** `--stress`: burnt whenever no told load is on. */
  base: number;
  /** When the told load ends (ms since the epoch), or null when the base is what it burns. */
  endsAt: number | null;
  /** The same as seconds from now (when this status was made): for readers whose clock differs. */
  secondsLeft: number | null;
}

/** The duty cycle's period: short enough that a 1 s measurement sees the share, long enough to be cheap. */
const PERIOD_MS = 100;

/**
 * The worker's code, as a string run with `eval: true`: a file beside the agent would not survive the
 * one-file bundle. It reads the percent from shared memory each period (no messages to wait for while
 * it spins), sleeps with Atomics.wait (no CPU), and ends when the percent is set below zero.
 */
const WORKER_CODE = `
const { workerData } = require('node:worker_threads');
const level = new Int32Array(workerData.buffer);
const period = workerData.periodMs;
for (;;) {
  const percent = Atomics.load(level, 0);
  if (percent < 0) break;
  if (percent === 0) { Atomics.wait(level, 0, 0); continue; }
  const start = performance.now();
  const busy = (period * percent) / 100;
  while (performance.now() - start < busy) {}
  const rest = period - (performance.now() - start);
  if (rest > 0) Atomics.wait(level, 0, percent, rest);
}
`;

const clampPercent = (percent: number) => Math.min(100, Math.max(0, Math.round(percent)));

/** Burns `percent` % of one core in a worker thread; the worker exists only while the percent is above 0. */
class Burner {
  private worker: Worker | undefined;
  private level: Int32Array | undefined;

  set(percent: number): void {
    if (percent <= 0) {
      this.end();
      return;
    }
    if (!this.worker || !this.level) {
      this.level = new Int32Array(new SharedArrayBuffer(4));
      Atomics.store(this.level, 0, percent);
      this.worker = new Worker(WORKER_CODE, {
        eval: true,
        workerData: { buffer: this.level.buffer, periodMs: PERIOD_MS },
        // A burner needs no heap to speak of; a small limit keeps a runaway from eating a Pi's memory.
        resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
      });
      // Never what keeps the agent alive, and a failure costs the load, not the agent.
      this.worker.unref();
      const worker = this.worker;
      worker.on('error', (error) => {
        console.error(`fleetkit agent: the stress worker failed: ${error.message}`);
        if (this.worker === worker) this.worker = undefined;
      });
      return;
    }
    Atomics.store(this.level, 0, percent);
    Atomics.notify(this.level, 0);
  }

  end(): void {
    const { worker, level } = this;
    this.worker = undefined;
    this.level = undefined;
    if (!worker || !level) return;
    Atomics.store(level, 0, -1);
    Atomics.notify(level, 0);
    void worker.terminate();
  }
}

export class Stress extends EventEmitter<{ change: [StressStatus] }> {
  private readonly burner = new Burner();
  /** `endsAtMs`: on the monotonic clock (performance.now()), so that a wall clock step moves no countdown. */
  private told: { percent: number; endsAtMs: number; timer: NodeJS.Timeout } | undefined;
  private running = false;

  /** `base`: % of one core kept all the time (0 to 100; more is capped at one core). */
  constructor(private readonly base = 0) {
    super();
    this.base = clampPercent(base);
  }

  /** Starts burning the base load (nothing when it is 0). */
  start(): void {
    this.running = true;
    this.apply();
  }

  /**
   * Carries `percent` % of one core for `seconds`, instead of the base; then back to the base.
   * `seconds` 0 ends a told load at once. Inputs are checked by the caller (stress-message.ts).
   */
  carry(percent: number, seconds: number): StressStatus {
    if (this.told) clearTimeout(this.told.timer);
    this.told = undefined;
    if (seconds > 0) {
      const timer = setTimeout(() => {
        this.told = undefined;
        this.apply();
      }, seconds * 1000);
      timer.unref();
      this.told = { percent: clampPercent(percent), endsAtMs: performance.now() + seconds * 1000, timer };
    }
    this.apply();
    return this.status();
  }

  status(): StressStatus {
    // What is left is measured on the monotonic clock; endsAt is that, as a wall time for display.
    const leftMs = this.told ? Math.max(0, this.told.endsAtMs - performance.now()) : null;
    return {
      percent: this.running ? (this.told?.percent ?? this.base) : 0,
      base: this.base,
      endsAt: leftMs === null ? null : Date.now() + Math.round(leftMs),
      secondsLeft: leftMs === null ? null : Math.round(leftMs / 1000),
    };
  }

  /** Stops burning for good (the agent is stopping). */
  stop(): void {
    this.running = false;
    if (this.told) clearTimeout(this.told.timer);
    this.told = undefined;
    this.burner.end();
  }

  private apply(): void {
    if (!this.running) return;
    const status = this.status();
    this.burner.set(status.percent);
    this.emit('change', status);
  }
}
