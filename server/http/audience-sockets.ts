// The phones' side of the live page's socket (namespace /audience): join, beat, applied, leave. Every
// event is untrusted and goes through the same guards as the page's (socket-guard.ts): one wrapper,
// the event rate limit per connection, short answers. Joins are also limited per address (a script
// reloading /join registers nothing beyond its bucket), and a phone has no presenter power: none of the
// page's events exist here. The presenter's two audience events (pause joining, remove every phone)
// are on the main page's socket, for a connection that presented the token.
import type { Server, Socket } from 'socket.io';
import type { Logger } from '../../lib/cli/log.ts';
import { parseOrThrow } from '../../lib/registry/index.ts';
import type { Audience } from '../audience/audience.ts';
import {
  appliedRequestSchema,
  beatRequestSchema,
  joiningRequestSchema,
  joinRequestSchema,
} from '../audience/requests.ts';
import {
  AUDIENCE_NAMESPACE,
  AUDIENCE_OFF,
  REMOVED_BY_PRESENTER,
  TOO_MANY_JOINS,
} from '../audience-contract.ts';
import { answering, limitEvents, RefusedError, TokenBucket } from './socket-guard.ts';
import { READ_ONLY } from './sockets.ts';

// A room behind one NAT address: 200 phones join within about a minute and a half; a script is held
// to 2 joins a second.
export const JOINS_BURST = 30;
export const JOINS_PER_SECOND = 2;
/** Addresses whose join buckets are kept; beyond it the bucket of the oldest is forgotten (it was full). */
const MAX_TRACKED_ADDRESSES = 10_000;

interface PhoneData {
  key?: string;
}

export function attachAudienceSockets(io: Server, audience: Audience | undefined, log: Logger): void {
  attachPresenterEvents(io, audience, log);
  const phones = io.of(AUDIENCE_NAMESPACE);
  const buckets = new Map<string, TokenBucket>();
  const joinAllowed = (address: string) => {
    let bucket = buckets.get(address);
    if (!bucket) {
      if (buckets.size >= MAX_TRACKED_ADDRESSES) buckets.delete(buckets.keys().next().value!);
      bucket = new TokenBucket(JOINS_BURST, JOINS_PER_SECOND);
      buckets.set(address, bucket);
    }
    return bucket.take();
  };
  phones.on('connection', (socket: Socket) => {
    const data = socket.data as PhoneData;
    const on = audience;
    limitEvents(socket, log);
    // The fleet as every phone's page shows it, joined or not (a full room still sees the color).
    if (on) socket.emit('fleet', on.glance());
    /** The audience and this connection's phone key, or the refusal saying why not. */
    const joined = (): [Audience, string] => {
      if (!on) throw new RefusedError(AUDIENCE_OFF);
      if (data.key === undefined) throw new RefusedError('join first');
      return [on, data.key];
    };
    socket.on(
      'join',
      answering(log, 'join', (payload) => {
        if (!on) throw new RefusedError(AUDIENCE_OFF);
        const request = parseOrThrow(joinRequestSchema, payload, 'join');
        if (!joinAllowed(socket.handshake.address)) throw new RefusedError(TOO_MANY_JOINS);
        const answer = on.join(request.key, socket.handshake.address);
        if (data.key !== undefined && data.key !== answer.key) void socket.leave(data.key);
        data.key = answer.key;
        void socket.join(answer.key); // the room the phone's own view is sent to
        queueMicrotask(() => {
          const view = on.view(answer.key);
          if (view) socket.emit('phone', view);
        });
        return answer;
      }),
    );
    socket.on(
      'beat',
      answering(log, 'beat', (payload) => {
        const [audience, key] = joined();
        const request = parseOrThrow(beatRequestSchema, payload ?? {}, 'beat');
        return { registered: audience.beat(key, request.load) };
      }),
    );
    socket.on(
      'applied',
      answering(log, 'applied', (payload) => {
        const [audience, key] = joined();
        audience.applied(key, parseOrThrow(appliedRequestSchema, payload, 'applied').color);
        return null;
      }),
    );
    socket.on(
      'leave',
      answering(log, 'leave', async () => {
        const [audience, key] = joined();
        data.key = undefined;
        void socket.leave(key);
        return { left: await audience.leave(key) };
      }),
    );
  });
  audience?.on('phone', (key, view) => phones.to(key).emit('phone', view));
  audience?.on('glance', (glance) => phones.emit('fleet', glance));
  audience?.on('removed', (key) => {
    phones.to(key).emit('removed', { reason: REMOVED_BY_PRESENTER });
    phones.in(key).socketsLeave(key);
  });
}

/** The presenter's audience controls, on the main page's socket (the connection's token decides). */
function attachPresenterEvents(io: Server, audience: Audience | undefined, log: Logger): void {
  io.on('connection', (socket: Socket) => {
    /** The audience, for a presenter's connection; else the refusal saying why not. */
    const presenting = (): Audience => {
      if (!(socket.data as { presenter?: boolean }).presenter) throw new RefusedError(READ_ONLY);
      if (!audience) throw new RefusedError(AUDIENCE_OFF);
      return audience;
    };
    socket.on(
      'audienceJoining',
      answering(log, 'audienceJoining', (payload) => {
        const on = presenting();
        const { joining } = parseOrThrow(joiningRequestSchema, payload, 'audienceJoining');
        on.setJoining(joining);
        return { joining };
      }),
    );
    socket.on(
      'removeAudience',
      answering(log, 'removeAudience', async () => ({ removed: await presenting().removeAll() })),
    );
  });
}
