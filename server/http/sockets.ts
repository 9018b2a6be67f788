// The live connection to each page: a snapshot on connect (and so after every reconnect), then the
// fleet's change batches. Only a connection that presented the token may change anything.
import { timingSafeEqual } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import { Server } from 'socket.io';
import { errorMessage } from '../../registry/errors.ts';
import type { Logger } from '../../registry/log.ts';
import type { ClientToServerEvents, ServerToClientEvents } from '../contract.ts';
import type { Fleet } from '../fleet.ts';
import type { SimulationLink } from '../simulation.ts';

interface SocketData {
  presenter: boolean;
}

function sameToken(given: unknown, expected: string): boolean {
  if (typeof given !== 'string' || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}

export const READ_ONLY = 'read-only: open the presenter URL printed by `fleetkit server` to change anything';
export const NO_SIMULATION =
  'no simulated fleet is attached: start one with `npm run demo` or `fleetkit sim start`';

export function attachSockets(
  http: HttpServer,
  fleet: Fleet,
  token: string,
  audienceUrl: string,
  log: Logger,
  simulation?: SimulationLink,
) {
  const io = new Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>(http, {
    serveClient: false,
    // A page only ever sends a color and a store name.
    maxHttpBufferSize: 4096,
  });
  io.use((socket, next) => {
    socket.data.presenter = sameToken(
      (socket.handshake.auth as { token?: unknown } | undefined)?.token,
      token,
    );
    next();
  });
  io.on('connection', (socket) => {
    socket.emit('snapshot', fleet.snapshot(socket.data.presenter, audienceUrl));
    socket.on('setColor', async (request, ack) => {
      if (typeof ack !== 'function') return;
      if (!socket.data.presenter) {
        ack({ ok: false, error: READ_ONLY });
        return;
      }
      try {
        const req = (request ?? {}) as { color?: unknown; store?: unknown };
        const stores = await fleet.setColor(req.color, (req.store ?? 'all') as never);
        ack({ ok: true, data: { stores } });
      } catch (error) {
        log.warn(`color not set: ${errorMessage(error)}`);
        ack({ ok: false, error: errorMessage(error) });
      }
    });
    socket.on('simulate', async (request, ack) => {
      if (typeof ack !== 'function') return;
      if (!socket.data.presenter) return ack({ ok: false, error: READ_ONLY });
      if (!simulation) return ack({ ok: false, error: NO_SIMULATION });
      try {
        ack({ ok: true, data: await simulation.act(request) });
      } catch (error) {
        ack({ ok: false, error: errorMessage(error) });
      }
    });
  });
  fleet.on('changes', (changes) => io.emit('changes', changes));
  return io;
}
