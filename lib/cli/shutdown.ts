// Entry points stop on SIGTERM and SIGINT by cleaning up first (deregistering, stopping children).
// Ctrl-C reaches a process more than once (the whole terminal group, and again from a parent that
// forwards it): the cleanup runs once, later signals do not cut it short, then the process exits
// 143 (SIGTERM) or 130 (SIGINT).
const EXIT_CODES = { SIGTERM: 143, SIGINT: 130 } as const;

export function onShutdown(cleanup: (signal: keyof typeof EXIT_CODES) => Promise<void>): void {
  let stopping = false;
  for (const signal of Object.keys(EXIT_CODES) as (keyof typeof EXIT_CODES)[]) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      cleanup(signal)
        .catch((error: Error) => console.error(`while stopping: ${error.message}`))
        .finally(() => process.exit(EXIT_CODES[signal]));
    });
  }
}
