import net from 'node:net';
import type { StoreContext } from './types.ts';

/**
 * Free ports for `names` on `host`: all listeners are held open together so one call never hands out
 * the same port twice, and ports in `taken` are skipped. The usual race applies: another process may
 * grab a port between this and the store's bind.
 */
export async function allocatePorts(
  host: string,
  names: readonly string[],
  taken: ReadonlySet<number> = new Set(),
): Promise<Record<string, number>> {
  const servers: net.Server[] = [];
  const ports: Record<string, number> = {};
  try {
    for (const name of names) {
      for (;;) {
        const server = await listenOnFreePort(host);
        servers.push(server);
        const port = (server.address() as net.AddressInfo).port;
        if (!taken.has(port)) {
          ports[name] = port;
          break;
        }
      }
    }
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
  return ports;
}

function listenOnFreePort(host: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => resolve(server));
  });
}

/** A named port of a running store's context; the drivers' port names are fixed, so a miss is a bug. */
export function portOf(context: StoreContext, name: string): number {
  const port = context.ports[name];
  if (port === undefined) throw new Error(`no port named ${name}`);
  return port;
}
