// What `fleetkit server` and `fleetkit agent` do with an error nothing caught (`uncaughtException`,
// `unhandledRejection`). Node's default is to exit, and at a venue the audience can reach our ports:
// one stray throw on something that arrived would end the talk. The policy:
// - while starting (until `started()`): log it and exit 1. Nothing serves yet, and a half-started
//   process would hide the cause; the message says so.
// - once started: log it (error level, stderr, with the stack) and keep serving. The socket and HTTP
//   layers already catch what arrives, so what gets here is one request's bug, not a broken process.
// - more than MAX_UNCAUGHT_PER_MINUTE within a minute: something fails in a loop and the process may
//   no longer be sound: log it and exit 1, saying to restart it (the agent's systemd unit does) and to
//   report the errors logged above.
import type { Logger } from './log.ts';

export const MAX_UNCAUGHT_PER_MINUTE = 10;
const MINUTE_MS = 60_000;

export interface CrashPolicy {
  /** Start-up is over: from now on an uncaught error is logged and the process keeps serving. */
  started(): void;
  /** Removes the listeners (for tests). */
  dispose(): void;
}

export interface CrashPolicyOptions {
  /** The command, for messages: 'server', 'agent'. */
  command: string;
  log: Pick<Logger, 'error'>;
  /** Tests pass their own; default the process and its exit. */
  target?: NodeJS.EventEmitter;
  exit?: (code: number) => void;
  now?: () => number;
}

export function installCrashPolicy(options: CrashPolicyOptions): CrashPolicy {
  const { command, log, target = process, exit = (code) => process.exit(code), now = Date.now } = options;
  let running = false;
  let recent: number[] = [];

  const onError = (kind: string) => (error: unknown) => {
    const at = now();
    recent = [...recent.filter((t) => at - t < MINUTE_MS), at];
    if (!running) {
      log.error({ err: error }, `fleetkit ${command} cannot start: ${kind} while starting; see the error`);
      exit(1);
    } else if (recent.length > MAX_UNCAUGHT_PER_MINUTE) {
      log.error(
        { err: error },
        `fleetkit ${command}: ${recent.length} uncaught errors within a minute: stopping (exit 1). ` +
          'Restart it (the agent’s systemd unit does so by itself) and report the errors logged above',
      );
      exit(1);
    } else {
      log.error({ err: error }, `${kind} (kept running; ${recent.length} in the last minute)`);
    }
  };
  const onException = onError('uncaught exception');
  const onRejection = onError('unhandled rejection');
  target.on('uncaughtException', onException);
  target.on('unhandledRejection', onRejection);
  return {
    started: () => {
      running = true;
    },
    dispose: () => {
      target.off('uncaughtException', onException);
      target.off('unhandledRejection', onRejection);
    },
  };
}
