// The service being discovered: the device's own page in its current color, /health for Consul's
// HTTP check, /status as JSON, and /events, a Server-Sent Events stream that keeps the page live.
// Plain node:http: four routes do not need a framework, and the agent must stay small on a Pi.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Agent, AgentStatus } from '../agent.ts';
import { renderPage } from './page.ts';

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': `${type}; charset=utf-8` });
  res.end(body);
}

function streamEvents(agent: Agent, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', connection: 'keep-alive' });
  const push = (status: AgentStatus) => res.write(`data: ${JSON.stringify(status)}\n\n`);
  push(agent.status());
  agent.on('status', push);
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  req.on('close', () => {
    clearInterval(keepAlive);
    agent.off('status', push);
  });
}

export function createDeviceServer(agent: Agent): Server {
  return createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://device').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET');
    switch (path) {
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
        return streamEvents(agent, req, res);
      default:
        return send(res, 404, 'text/plain', 'not found: try /, /status or /health');
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
  return server;
}
