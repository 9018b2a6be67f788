// A second reader of the server's batches, in the bench's own process (read-only, over a WebSocket as
// the page's): when a traced batch reaches a client that is not busy drawing. It cuts the page's
// "socket" hop in two: the server's send and the network, then the wait for the page's main thread.
import { io, type Socket } from 'socket.io-client';
import { machineLoad } from '../../../lib/registry/load-kinds.ts';
import type { FleetChanges } from '../../../server/contract.ts';
import { now } from './clock.ts';

interface Heard {
  arrivedAt: number;
  /** [store, id, color, cpuPercent] of each device in the batch. */
  views: [string, string, string | null, number | null][];
}

export class SocketListener {
  private heard: Heard[] = [];

  private constructor(private readonly socket: Socket) {
    socket.on('changes', (changes: FleetChanges) => {
      if (!changes.trace) return;
      this.heard.push({
        arrivedAt: now(),
        views: changes.devices.map((d) => [d.store, d.id, d.color, machineLoad(d.load)?.cpuPercent ?? null]),
      });
      if (this.heard.length > 5000) this.heard.splice(0, this.heard.length - 5000);
    });
  }

  static async connect(url: string, timeoutMs = 10_000): Promise<SocketListener> {
    const socket = io(url, { transports: ['websocket'], reconnection: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the bench's socket listener: no connection to ${url}`)),
        timeoutMs,
      );
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return new SocketListener(socket);
  }

  /**
   * When the first batch carrying device `id` of `store` with this value (`color` or `cpu`) arrived
   * here (bench clock), per id; undefined ids: not heard.
   */
  arrivals(store: string, ids: readonly string[], field: 'color' | 'cpu', value: string | number) {
    const k = field === 'color' ? 2 : 3;
    const wanted = new Set(ids);
    const out = new Map<string, number>();
    for (const h of this.heard)
      for (const v of h.views)
        if (v[0] === store && v[k] === value && wanted.has(v[1]) && !out.has(v[1]))
          out.set(v[1], h.arrivedAt);
    return out;
  }

  forget(): void {
    this.heard = [];
  }

  close(): void {
    this.socket.close();
  }
}
