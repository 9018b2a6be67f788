import type { StoreKind } from './types.ts';

/** A store did not start: not installed, exited early, or did not answer in time. */
export class StoreStartError extends Error {
  override readonly name = 'StoreStartError';
  readonly kind: StoreKind;
  /** The process's exit code; null when killed by a signal, undefined when it never ran or is still running. */
  readonly exitCode: number | null | undefined;
  /** The last lines the store wrote (stdout and stderr interleaved). */
  readonly logTail: readonly string[];

  constructor(
    kind: StoreKind,
    message: string,
    details: { exitCode?: number | null; logTail?: readonly string[]; cause?: unknown } = {},
  ) {
    const tail = details.logTail ?? [];
    const shown = tail.slice(-20);
    super(
      shown.length > 0
        ? `${message}\n--- last ${shown.length} lines of ${kind} ---\n${shown.join('\n')}`
        : message,
      {
        cause: details.cause,
      },
    );
    this.kind = kind;
    this.exitCode = details.exitCode;
    this.logTail = tail;
  }
}

export function isStoreStartError(error: unknown): error is StoreStartError {
  return error instanceof StoreStartError;
}
