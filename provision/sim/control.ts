// The running simulated fleet answers on loopback HTTP, so that `fleetkit sim unplug sim-3` in another
// terminal, and the server's presenter controls, can act on it: GET /devices, POST /devices/ID/ACTION
// (stress with a body {"percent": 80, "seconds": 60}), POST /stop. JSON in and out; loopback only.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { errorMessage } from '../../lib/registry/index.ts';
import { checkStressParams, SIM_ACTIONS, type SimAction } from '../../server/simulation-contract.ts';
import type { SimFleet } from './fleet.ts';

/** A stress body is a few dozen bytes: more is refused before it is read. */
const MAX_BODY_BYTES = 1024;

class BadRequest extends Error {}

/** The JSON body of a request, at most MAX_BODY_BYTES. */
async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > MAX_BODY_BYTES) throw new BadRequest(`body: at most ${MAX_BODY_BYTES} bytes of JSON`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
  } catch {
    throw new BadRequest('body: JSON such as {"percent": 80, "seconds": 60}');
  }
}

// The API served here is the server's contract (server/simulation-contract.ts), its client too.
export {
  DEFAULT_SIM_CONTROL,
  DEFAULT_SIM_CONTROL_PORT,
  SimControlClient,
} from '../../server/simulation-contract.ts';

export async function serveControl(fleet: SimFleet, port: number, onStop: () => void): Promise<Server> {
  const server = createServer(async (req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const parts = new URL(req.url ?? '/', 'http://sim').pathname.split('/').filter(Boolean);
    try {
      if (req.method === 'GET' && parts.length === 1 && parts[0] === 'devices')
        return reply(200, fleet.list());
      if (req.method === 'POST' && parts.length === 1 && parts[0] === 'stop') {
        reply(202, { stopping: true });
        return onStop();
      }
      if (req.method === 'POST' && parts.length === 3 && parts[0] === 'devices') {
        const [, id, action] = parts as [string, string, string];
        if (!SIM_ACTIONS.includes(action as SimAction))
          return reply(400, { error: `action: one of ${SIM_ACTIONS.join(', ')}` });
        if (action !== 'stress')
          return reply(200, await fleet.act(decodeURIComponent(id), action as SimAction));
        const checked = checkStressParams(await jsonBody(req));
        if (checked.issues)
          return reply(400, { error: checked.issues.map((i) => `${i.field}: ${i.expected}`).join('; ') });
        return reply(200, await fleet.act(decodeURIComponent(id), 'stress', checked.params));
      }
      reply(404, {
        error: `try GET /devices, POST /devices/ID/${SIM_ACTIONS.join('|')}, POST /stop`,
      });
    } catch (error) {
      reply(error instanceof BadRequest ? 400 : 409, { error: errorMessage(error) });
    }
  });
  server.listen(port, '127.0.0.1');
  try {
    await once(server, 'listening');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`port ${port} is taken: is a simulated fleet already running? (\`fleetkit sim list\`)`);
    }
    throw error;
  }
  return server;
}
