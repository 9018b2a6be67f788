// The service being discovered: the device's own page in its current color, /health for Consul's
// HTTP check, /status as JSON, and /events, a Server-Sent Events stream that keeps the page live.
import { once } from 'node:events';
import type { Server } from 'node:http';
import express from 'express';
import type { Agent, AgentStatus } from '../agent.ts';
import { renderPage } from './page.ts';

export function createDeviceApp(agent: Agent): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.set(
      'Content-Security-Policy',
      "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
    );
    res.set('X-Content-Type-Options', 'nosniff');
    next();
  });
  app.get('/', (_req, res) => {
    res.type('html').send(renderPage(agent.status()));
  });
  app.get('/status', (_req, res) => {
    res.json(agent.status());
  });
  app.get('/health', (_req, res) => {
    const healthy = agent.healthy;
    res
      .status(healthy ? 200 : 503)
      .type('text')
      .send(healthy ? 'ok' : 'unhealthy: stopping or not measuring');
  });
  app.get('/events', (req, res) => {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    const send = (status: AgentStatus) => res.write(`data: ${JSON.stringify(status)}\n\n`);
    send(agent.status());
    agent.on('status', send);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    req.on('close', () => {
      clearInterval(keepAlive);
      agent.off('status', send);
    });
  });
  app.use((_req, res) => {
    res.status(404).type('text').send('not found: try /, /status or /health');
  });
  return app;
}

/** Listens, or rejects with a message that says what to do (a taken port is the usual case). */
export async function listen(app: express.Express, port: number, host: string): Promise<Server> {
  const server = app.listen(port, host);
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
