// The one logger: JSON lines with a module tag; info to stdout, warnings and errors to stderr.
// Adapters never log (they emit events); entry points and the agent/server glue do.
import pino, { type Logger } from 'pino';

export type { Logger };
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(name: string, level: LogLevel = 'info'): Logger {
  const streams = pino.multistream(
    [
      { level: 'debug', stream: process.stdout },
      { level: 'warn', stream: process.stderr },
    ],
    { dedupe: true },
  );
  return pino({ name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, streams);
}
