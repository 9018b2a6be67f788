// The running simulated fleet answers on loopback HTTP, so that `fleetkit sim unplug sim-3` in another
// terminal, and the server's presenter controls, can act on it: GET /devices, POST /devices/ID/ACTION,
// POST /stop. JSON in and out; loopback only.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { errorMessage } from '../../registry/errors.ts';
import { SIM_ACTIONS, type SimAction, type SimDeviceInfo } from './device.ts';
import type { SimFleet } from './fleet.ts';

export const DEFAULT_SIM_CONTROL_PORT = 7070;
export const DEFAULT_SIM_CONTROL = `http://127.0.0.1:${DEFAULT_SIM_CONTROL_PORT}`;

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
        return reply(200, await fleet.act(decodeURIComponent(id), action as SimAction));
      }
      reply(404, { error: 'try GET /devices, POST /devices/ID/unplug|replug|kill, POST /stop' });
    } catch (error) {
      reply(409, { error: errorMessage(error) });
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

/** Talks to a running simulated fleet. */
export class SimControlClient {
  constructor(readonly url: string = DEFAULT_SIM_CONTROL) {}

  list(): Promise<SimDeviceInfo[]> {
    return this.request('GET', '/devices') as Promise<SimDeviceInfo[]>;
  }

  act(id: string, action: SimAction): Promise<SimDeviceInfo> {
    return this.request('POST', `/devices/${encodeURIComponent(id)}/${action}`) as Promise<SimDeviceInfo>;
  }

  async stop(): Promise<void> {
    await this.request('POST', '/stop');
  }

  private async request(method: string, path: string): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, { method, signal: AbortSignal.timeout(10_000) });
    } catch {
      throw new Error(`no simulated fleet answers at ${this.url}: start one with \`fleetkit sim start 6\``);
    }
    const body = (await res.json().catch(() => ({}))) as { error?: string };
    if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
    return body;
  }
}
