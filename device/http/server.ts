// The service being discovered: the device's own page in its current color, /health for Consul's
// HTTP check, /status as JSON, and /events, a Server-Sent Events stream that keeps the page live.
// Plain node:http: four routes do not need a framework, and the agent must stay small on a Pi.
// The venue's Wi-Fi is shared with the audience, who reach this port: nothing that arrives may crash
// the agent or make it buffer without bound (test/device/http-fuzz.test.ts throws garbage at it).
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Agent, AgentStatus } from '../agent.ts';
import { EVENTS_RETRY_SECONDS, renderPage } from './page.ts';

/**
 * Concurrent /events streams per device. A page holds one, and even a room of phones on one device
 * stays well below this; each stream costs a socket and a write buffer on a Pi, so a script opening
 * thousands is answered 503 instead of eating the agent's memory and file descriptors.
 */
export const MAX_EVENT_STREAMS = 32;

/**
 * Against slowloris-style half requests, which would otherwise hold a socket each for ever. Node
 * stops these clocks once a request has been read, so an event stream stays open as long as it likes.
 */
export const HTTP_TIMEOUTS = {
  /** A phone on poor Wi-Fi sends its headers in well under a second. */
  headersTimeout: 10_000,
  /** The whole request (our routes take no body, so this only cuts off bodies trickled to us). */
  requestTimeout: 15_000,
  /** An idle kept-alive connection (Consul's check, a browser) is closed after this. */
  keepAliveTimeout: 5_000,
  /** How often Node enforces the two above: its default, 30 s, lets half requests pile up. */
  connectionsCheckingInterval: 2_000,
} as const;

/** A comment line on every stream this often, so that proxies and NATs keep it open. */
const KEEP_ALIVE_MS = 15_000;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...headers,
    'content-type': `${type}; charset=utf-8`,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body); // Node sends no body for HEAD
}

const statusEvent = (status: AgentStatus) => `data: ${JSON.stringify(status)}\n\n`;

/**
 * The open /events streams of one server. One agent listener and one timer serve them all (one per
 * stream would trip EventEmitter's leak warning and serialize the status once per stream).
 */
function eventStreams(agent: Agent) {
  const open = new Set<ServerResponse>();
  const missed = new Set<ServerResponse>(); // skipped a push while the client was not reading
  const stalled = new Set<ServerResponse>(); // still not reading at the last keep-alive tick
  let keepAlive: NodeJS.Timeout | undefined;

  // A client that does not read (slow or hostile) gets nothing more until it has read what it has:
  // the next push carries the whole status anyway, so it costs one buffer, never a growing queue.
  const write = (res: ServerResponse, chunk: string) => {
    if (res.destroyed || res.writableEnded) return; // a dead socket: nothing to write, nothing to throw
    if (res.writableNeedDrain) missed.add(res);
    else res.write(chunk);
  };
  const push = (status: AgentStatus) => {
    const chunk = statusEvent(status);
    for (const res of open) write(res, chunk);
  };
  const tick = () => {
    for (const res of open) {
      if (!res.writableNeedDrain) write(res, ': keep-alive\n\n');
      // Read nothing for a whole interval: gone or hostile, free its slot.
      else if (stalled.has(res)) res.destroy();
      else stalled.add(res);
    }
  };
  const remove = (res: ServerResponse) => {
    if (!open.delete(res)) return;
    missed.delete(res);
    stalled.delete(res);
    if (open.size > 0) return;
    agent.off('status', push);
    clearInterval(keepAlive);
  };

  return (req: IncomingMessage, res: ServerResponse) => {
    if (open.size >= MAX_EVENT_STREAMS)
      return send(
        res,
        503,
        'text/plain',
        `too many live pages of this device are open (${MAX_EVENT_STREAMS}): close other tabs of this device's page, then reload\n`,
        { 'retry-after': String(EVENTS_RETRY_SECONDS) },
      );
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream',
      connection: 'keep-alive',
    });
    if (req.method === 'HEAD') return void res.end(); // headers only, and no slot taken
    if (open.size === 0) {
      agent.on('status', push);
      keepAlive = setInterval(tick, KEEP_ALIVE_MS);
    }
    open.add(res);
    // Whichever of these comes first frees the slot; the 'error' listener also keeps a reset
    // connection from becoming an uncaught exception.
    const close = () => remove(res);
    req.once('close', close);
    res.once('close', close);
    res.on('error', close);
    res.on('drain', () => {
      stalled.delete(res);
      if (missed.delete(res)) write(res, statusEvent(agent.status()));
    });
    write(res, statusEvent(agent.status()));
  };
}

/**
 * The path of a request target, or undefined when it is no URL ("*", "http://[::1"): new URL throws.
 * Origin-form is appended to a fixed origin, not resolved against it: resolved, "//%%" would be read
 * as a host and throw, and "//x/status" would mean "/status". Absolute-form ("http://h/status") is
 * valid HTTP/1.1 and is served by its path.
 */
function pathOf(target: string): string | undefined {
  try {
    return new URL(target.startsWith('/') ? `http://device${target}` : target).pathname;
  } catch {
    return undefined;
  }
}

function route(
  agent: Agent,
  streamEvents: ReturnType<typeof eventStreams>,
  req: IncomingMessage,
  res: ServerResponse,
) {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return send(res, 405, 'text/plain', 'only GET', { allow: 'GET, HEAD' });
  switch (pathOf(req.url ?? '/')) {
    case undefined:
      return send(res, 400, 'text/plain', 'bad request: the path is not a URL');
    case '/':
      return send(res, 200, 'text/html', renderPage(agent.status()));
    case '/status':
      return send(res, 200, 'application/json', JSON.stringify(agent.status()));
    case '/health': {
      const healthy = agent.healthy;
      return send(
        res,
        healthy ? 200 : 503,
        'text/plain',
        healthy ? 'ok' : 'unhealthy: stopping or not measuring',
      );
    }
    case '/events':
      return streamEvents(req, res);
    default:
      return send(res, 404, 'text/plain', 'not found: try /, /status or /health');
  }
}

export function createDeviceServer(agent: Agent): Server {
  const streamEvents = eventStreams(agent);
  return createServer(HTTP_TIMEOUTS, (req, res) => {
    try {
      route(agent, streamEvents, req, res);
    } catch (error) {
      // A bug must cost one answer, never the agent.
      console.error(`fleetkit agent: ${req.method} ${JSON.stringify(req.url?.slice(0, 200))} failed:`, error);
      if (res.headersSent) res.destroy();
      else send(res, 500, 'text/plain', 'internal error');
    }
  });
}

/** Listens, or rejects with a message that says what to do (a taken port is the usual case). */
export async function listen(server: Server, port: number, host: string): Promise<Server> {
  server.listen(port, host);
  try {
    await once(server, 'listening');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new Error(`port ${port} on ${host} is taken: stop what uses it or set FLEET_PORT`);
    if (code === 'EADDRNOTAVAIL')
      throw new Error(`${host} is not an address of this machine: fix FLEET_LISTEN`);
    throw error;
  }
  // Once listening, an error (a failed accept when out of file descriptors) is passing: say so and
  // keep serving, instead of dying of an unhandled 'error' event.
  server.on('error', (error) => console.error(`fleetkit agent: http server: ${error.message}`));
  return server;
}
