// The one backoff of the project: exponential, capped, with full jitter so that thirty devices that
// lost the same store do not all knock on it in the same millisecond. Reset after a success.
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** Random source in [0, 1); tests pass a fixed one. */
  random?: () => number;
}

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  private readonly random: () => number;
  private attempts = 0;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 250;
    this.maxMs = options.maxMs ?? 5000;
    this.random = options.random ?? Math.random;
  }

  get attempt(): number {
    return this.attempts;
  }

  /** The delay before the next attempt: a random point in the upper half of the exponential step. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.attempts);
    this.attempts++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  reset(): void {
    this.attempts = 0;
  }
}

/** Resolves after `ms`, or at once when the signal aborts (it never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface RetryOptions extends BackoffOptions {
  signal?: AbortSignal;
  /** Told before every wait; returning false stops retrying and rethrows. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => boolean | undefined;
}

/**
 * Calls `fn` until it resolves or the signal aborts (then the last error is thrown). `fn` is handed
 * the backoff: a long-lived call (a watch loop) resets it whenever it made progress, so that a failure
 * after a good stretch waits the shortest delay again, not the one of the last outage.
 */
export async function withBackoff<T>(
  fn: (backoff: Backoff) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const backoff = new Backoff(options);
  for (;;) {
    try {
      return await fn(backoff);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const delayMs = backoff.next();
      if (options.onRetry?.(error, backoff.attempt, delayMs) === false) throw error;
      await sleep(delayMs, options.signal);
      if (options.signal?.aborted) throw error;
    }
  }
}
