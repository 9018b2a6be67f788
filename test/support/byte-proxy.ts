// A TCP proxy in front of a store that counts the bytes the store sends to its client (to check that
// a client reads only what it needs, whatever else lies in the store) and can cut the link (an
// outage, as a client sees it, while the store goes on).
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface ByteProxy {
  /** host:port to give the client instead of the store's. */
  address: string;
  /** Bytes from the store to the client since the start (or the last reset). */
  received(): number;
  reset(): void;
  /** Cuts every connection, and refuses new ones until restore(). */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function byteProxy(targetHost: string, targetPort: number): Promise<ByteProxy> {
  let bytes = 0;
  let refusing = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: targetHost, port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${port}`,
    received: () => bytes,
    reset: () => {
      bytes = 0;
    },
    cut: () => {
      refusing = true;
      for (const s of sockets) s.destroy();
    },
    restore: () => {
      refusing = false;
    },
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
