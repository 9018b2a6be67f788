// The live connection to each page: a snapshot on connect (and so after every reconnect), then the
// fleet's change batches. Only a connection that presented the token may change anything. Every
// handshake and event is untrusted (see socket-guard.ts): guarded, rate-limited, shape-checked.
import type { Server as HttpServer } from 'node:http';
import { Server, type Socket } from 'socket.io';
import type { Logger } from '../../lib/cli/log.ts';
import type { ClientToServerEvents, ServerToClientEvents } from '../contract.ts';
import type { Fleet } from '../fleet/fleet.ts';
import type { SimulationLink } from '../simulation.ts';
import type { StoreControlLink } from '../store-control.ts';
import { parseStoreControl } from '../store-control-contract.ts';
import type { PresenterToken } from './presenter-token.ts';
import {
  answering,
  connectionCap,
  guardMiddleware,
  limitEvents,
  RefusedError,
  shortError,
} from './socket-guard.ts';
import { parsePinTimeline, parseSetColor, parseSimulate } from './socket-requests.ts';

interface SocketData {
  presenter: boolean;
}

type PageSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

export const READ_ONLY = 'read-only: open the presenter URL printed by `fleetkit server` to change anything';
export const ROTATED_WHERE =
  'the new presenter URL is in the terminal where the server runs (never on a page); this page is read-only now';
export const NO_SIMULATION =
  'no simulated fleet is attached: start one with `npm run demo` or `fleetkit sim start`';
export const NO_STORE_CONTROL =
  'these stores were not started by the kit: only stores started by `npm run demo` or `fleetkit stores` can be stopped from the page';

/** The presenter's token, and where a rotated one is told (the server's terminal). */
export interface PresenterAccess {
  token: PresenterToken;
  rotated: (fresh: string) => void;
}

export function attachSockets(
  http: HttpServer,
  fleet: Fleet,
  access: PresenterAccess,
  audienceUrl: string,
  log: Logger,
  simulation?: SimulationLink,
  storeControl?: StoreControlLink,
) {
  const cap = connectionCap();
  const io = new Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>(http, {
    serveClient: false,
    // A page only ever sends a color and a store name.
    maxHttpBufferSize: 4096,
    allowRequest: cap.allowRequest,
  });
  cap.track(io);
  io.use(
    guardMiddleware(log, 'handshake', (socket, next) => {
      const auth: unknown = socket.handshake.auth;
      const given = typeof auth === 'object' && auth !== null && Object.hasOwn(auth, 'token');
      socket.data.presenter = given && access.token.matches((auth as { token: unknown }).token);
      next();
    }),
  );
  io.on('connection', (socket) => {
    try {
      limitEvents(socket, log);
      listen(socket, fleet, log, simulation, storeControl);
      socket.on(
        'rotateToken',
        answering(log, 'rotateToken', () => {
          if (!socket.data.presenter) throw new RefusedError(READ_ONLY);
          access.rotated(access.token.rotate());
          // Every page that used the old token, this one too, is read-only from now on.
          for (const other of io.sockets.sockets.values()) {
            if (!other.data.presenter) continue;
            other.data.presenter = false;
            other.emit('snapshot', fleet.snapshot(false, audienceUrl));
          }
          return { where: ROTATED_WHERE };
        }),
      );
      socket.emit('snapshot', fleet.snapshot(socket.data.presenter, audienceUrl));
    } catch (error) {
      // Thrown here, it would reach the process from inside socket.io.
      log.error({ err: error }, `connection dropped: ${shortError(error)}`);
      socket.disconnect(true);
    }
  });
  fleet.on('changes', (changes) => io.emit('changes', changes));
  return io;
}

/** The page's two requests; other events have no listener, so they are ignored. */
function listen(
  socket: PageSocket,
  fleet: Fleet,
  log: Logger,
  simulation: SimulationLink | undefined,
  storeControl?: StoreControlLink,
) {
  const presenterOnly = () => {
    if (!socket.data.presenter) throw new RefusedError(READ_ONLY);
  };
  socket.on(
    'setColor',
    answering(log, 'setColor', async (payload) => {
      presenterOnly();
      const request = parseSetColor(payload);
      return { stores: await fleet.setColor(request.color, request.store) };
    }),
  );
  socket.on(
    'simulate',
    answering(log, 'simulate', (payload) => {
      presenterOnly();
      const request = parseSimulate(payload);
      if (!simulation) throw new RefusedError(NO_SIMULATION);
      return simulation.act(request);
    }),
  );
  socket.on(
    'storeControl',
    answering(log, 'storeControl', (payload) => {
      presenterOnly();
      const request = parseStoreControl(payload);
      if (!storeControl) throw new RefusedError(NO_STORE_CONTROL);
      return storeControl.act(request);
    }),
  );
  socket.on(
    'pinTimeline',
    answering(log, 'pinTimeline', (payload) => {
      presenterOnly();
      return { pinned: fleet.pin(parsePinTimeline(payload).seq)?.seq ?? null };
    }),
  );
}
