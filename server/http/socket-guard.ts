// What stands between the venue's Wi-Fi and the fleet. The audience can reach the page's port, so every
// handshake and event is untrusted: nothing that arrives may throw out of socket.io's own code (a
// middleware's throw, or an async handler's rejection, reaches the process), one connection or one
// address may not take the server for itself, and the answers stay short.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Server, Socket } from 'socket.io';
import type { Logger } from '../../lib/cli/log.ts';
import { errorMessage, isValidationError } from '../../lib/registry/index.ts';
import type { Ack } from '../contract.ts';

// Digests of both sides have the same length whatever was sent: timingSafeEqual throws on buffers of
// different byte lengths ('é' repeated n times is n characters but 2n bytes: that once ended the server).
const TOKEN_KEY = randomBytes(32);
const digest = (text: string) => createHmac('sha256', TOKEN_KEY).update(text, 'utf8').digest();

/** Whether a handshake presented the presenter's token; anything but that very string is "no". */
export function sameToken(given: unknown, expected: string): boolean {
  return typeof given === 'string' && timingSafeEqual(digest(given), digest(expected));
}

/** Answers stay short: an error may quote what the client sent. */
export const MAX_ERROR_CHARS = 200;

export function shortError(error: unknown): string {
  let text: string;
  try {
    text = errorMessage(error);
  } catch {
    text = 'internal error'; // String() of an object without a prototype throws
  }
  return text.length <= MAX_ERROR_CHARS ? text : `${text.slice(0, MAX_ERROR_CHARS - 1)}…`;
}

/** Refused by policy (read-only, no simulation): answered, not logged. */
export class RefusedError extends Error {}

type Next = (error?: Error) => void;

/** A middleware whose throw refuses that handshake or that event (once) instead of reaching the process. */
export function guardMiddleware<T>(log: Logger, what: string, middleware: (arg: T, next: Next) => void) {
  return (arg: T, next: Next): void => {
    let called = false;
    const once: Next = (error) => {
      if (called) return;
      called = true;
      next(error);
    };
    try {
      middleware(arg, once);
    } catch (error) {
      log.error({ err: error }, `${what}: ${shortError(error)}`);
      once(new Error('internal error'));
    }
  };
}

/**
 * The one wrapper of every event handler. socket.io passes whatever the client sent, the ack function
 * last when it asked for one: the handler gets the first argument as `unknown`, and what it returns or
 * throws becomes the answer. An event without an ack is ignored: nobody would hear the result, and the
 * page always asks for one.
 */
export function answering(log: Logger, event: string, handler: (payload: unknown) => unknown) {
  return (...args: unknown[]): void => {
    const ack = args.at(-1);
    if (typeof ack !== 'function') return;
    const answer = (result: Ack<unknown>) => {
      try {
        ack(result);
      } catch (error) {
        log.error({ err: error }, `${event}: answer not sent: ${shortError(error)}`);
      }
    };
    new Promise((resolve) => resolve(handler(args.length > 1 ? args[0] : undefined))).then(
      (data) => answer({ ok: true, data: data ?? null }),
      (error: unknown) => {
        if (!(error instanceof RefusedError) && !isValidationError(error)) {
          log.warn(`${event} failed: ${shortError(error)}`);
        }
        answer({ ok: false, error: shortError(error) });
      },
    );
  };
}

// A page sends one event per click and waits for the answer: a burst of 20 lets the presenter tap through
// the palette, and 10 a second sustained is more than hands do. Beyond that it is a script: its events
// are answered "too many requests" unprocessed (no store write). A page that waits for its answers never
// collects 200 refusals; a connection that does is cut off.
export const EVENT_BURST = 20;
export const EVENT_REFILL_PER_SECOND = 10;
export const REFUSALS_BEFORE_DISCONNECT = 200;
export const TOO_MANY = `too many requests: at most ${EVENT_REFILL_PER_SECOND} a second, in bursts of ${EVENT_BURST}`;

export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.refilledAt = now();
  }

  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Puts a token bucket in front of every event of this connection. */
export function limitEvents(socket: Socket, log: Logger): void {
  const bucket = new TokenBucket(EVENT_BURST, EVENT_REFILL_PER_SECOND);
  let refusals = 0;
  socket.use(
    guardMiddleware(log, 'event limit', (packet: unknown[], next) => {
      if (bucket.take()) return next();
      const ack = packet.at(-1);
      if (typeof ack === 'function') ack({ ok: false, error: TOO_MANY });
      if (++refusals === REFUSALS_BEFORE_DISCONNECT) {
        log.warn(`cut off ${socket.handshake.address}: still sending after ${refusals} refused events`);
        // After the answers already on their way (promises of events let through): they go first.
        setImmediate(() => socket.disconnect(true));
      }
    }),
  );
}

// Every phone in the room has its own address; hundreds of connections from one address is a script
// holding memory. Generous all the same, for a venue that puts its guests behind one NAT address.
export const MAX_CONNECTIONS_PER_ADDRESS = 256;

interface EngineConnection {
  remoteAddress: string;
  once(event: 'close', listener: () => void): unknown;
}

/**
 * Counts engine.io connections (so raw ones that never speak socket.io too) per remote address;
 * `allowRequest` goes into the server's options, `track` is called with the server once it exists.
 */
export function connectionCap() {
  const open = new Map<string, number>();
  return {
    allowRequest(req: IncomingMessage, callback: (error: string | null, success: boolean) => void) {
      const address = req.socket.remoteAddress ?? '';
      if ((open.get(address) ?? 0) < MAX_CONNECTIONS_PER_ADDRESS) callback(null, true);
      else callback(`too many connections from ${address}`, false);
    },
    track(io: Server) {
      io.engine.on('connection', (connection: EngineConnection) => {
        const address = connection.remoteAddress;
        open.set(address, (open.get(address) ?? 0) + 1);
        connection.once('close', () => {
          const left = (open.get(address) ?? 1) - 1;
          if (left > 0) open.set(address, left);
          else open.delete(address);
        });
      });
    },
  };
}
