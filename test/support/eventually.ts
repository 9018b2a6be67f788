// Waiting in tests: poll a condition until it holds, and say how long it took (or what never happened).
export interface EventuallyOptions {
  timeoutMs: number;
  intervalMs?: number;
}

/** Resolves with the milliseconds it took for `check` to return truthy; rejects after the timeout. */
export async function eventually(
  what: string,
  check: () => unknown | Promise<unknown>,
  { timeoutMs, intervalMs = 20 }: EventuallyOptions,
): Promise<number> {
  const started = Date.now();
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return Date.now() - started;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() - started > timeoutMs) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
