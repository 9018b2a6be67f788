// A network cable between a device and one store, as a TCP proxy that can be pulled out and plugged back
// in the way a real cable is: while it is out nothing arrives and nothing is refused (no reset: the
// sockets on both ends stay open and silent), and once it is back each end's TCP sends what it held
// only at its next retransmission. Linux retransmits at RTO, 2 RTO, 4 RTO... after the first unanswered
// send (RTO from 200 ms for data, 1 s for a connection's SYN), so after an outage of T seconds a held
// stream waits up to about T more: the part of a replug that the kit's timeouts have to cover.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** Linux's first retransmission timeout for data and for a SYN. */
const DATA_RTO_MS = 200;
const SYN_RTO_MS = 1000;

/** When a send first left unanswered at `since` is retransmitted, the first time at or after `at`. */
export function nextRetransmit(since: number, at: number, rtoMs: number): number {
  let next = since + rtoMs;
  for (let rto = rtoMs * 2; next < at; rto *= 2) next += rto;
  return next;
}

/** One direction of one connection: what it holds while the cable is out or its retransmission waits. */
class Stream {
  private held: Buffer[] = [];
  /** When the first byte held was sent (the retransmission clock starts there). */
  private heldSince: number | null = null;
  private waiting = false;
  private ending = false;

  constructor(
    private readonly to: Socket,
    private readonly plugged: () => boolean,
  ) {}

  write(chunk: Buffer): void {
    if (this.plugged() && !this.waiting) {
      this.to.write(chunk);
      return;
    }
    this.held.push(chunk);
    this.heldSince ??= performance.now();
  }

  /** The sending end closed: the other end hears it once what was held arrived; then `done`. */
  end(done: () => void): void {
    this.done = done;
    this.ending = true;
    if (this.plugged() && !this.waiting && this.held.length === 0) this.finish();
  }

  private done = () => {};

  private finish(): void {
    this.to.destroy();
    this.done();
  }

  /** The cable is back: deliver at the next retransmission. */
  replugged(timers: Set<NodeJS.Timeout>): void {
    if (this.heldSince === null) {
      if (this.ending) this.finish();
      return;
    }
    const now = performance.now();
    this.waiting = true;
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        this.waiting = false;
        for (const chunk of this.held.splice(0)) this.to.write(chunk);
        this.heldSince = null;
        if (this.ending) this.finish();
      },
      nextRetransmit(this.heldSince, now, DATA_RTO_MS) - now,
    );
    timers.add(timer);
  }
}

export interface Cable {
  /** host:port for the device, instead of the store's. */
  address: string;
  unplug(): void;
  replug(): void;
  close(): Promise<void>;
}

/** `listen`: where the cable's own end is (by default a free port on 127.0.0.1). */
export async function cableTo(
  host: string,
  port: number,
  listen: { host: string; port: number } = { host: '127.0.0.1', port: 0 },
): Promise<Cable> {
  let plugged = true;
  const sockets = new Set<Socket>();
  const streams = new Set<Stream>();
  /** Connections made while the cable was out: their SYN is retransmitted once it is back. */
  const unanswered = new Set<{ since: number; connect: () => void }>();
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    const connect = () => {
      const upstream = createConnection({ host, port });
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      const up = new Stream(upstream, () => plugged);
      const down = new Stream(client, () => plugged);
      streams.add(up).add(down);
      for (const chunk of pending.splice(0)) up.write(chunk);
      client.removeAllListeners('data').on('data', (chunk: Buffer) => up.write(chunk));
      upstream.on('data', (chunk: Buffer) => down.write(chunk));
      // A stream whose sender closed stays until the other end heard it (at the replug, if the cable is out).
      client.on('close', () => up.end(() => streams.delete(up)));
      upstream.on('close', () => down.end(() => streams.delete(down)));
      if (clientGone) up.end(() => streams.delete(up));
    };
    const pending: Buffer[] = [];
    let clientGone = false;
    client.on('data', (chunk: Buffer) => pending.push(chunk));
    client.on('close', () => {
      clientGone = true;
    });
    if (plugged) connect();
    else unanswered.add({ since: performance.now(), connect });
  });
  server.listen(listen.port, listen.host);
  await new Promise((resolve) => server.once('listening', resolve));
  const { port: own } = server.address() as { port: number };
  return {
    address: `${listen.host}:${own}`,
    unplug: () => {
      plugged = false;
    },
    replug: () => {
      plugged = true;
      for (const stream of streams) stream.replugged(timers);
      const now = performance.now();
      for (const syn of unanswered) {
        const timer = setTimeout(
          () => {
            timers.delete(timer);
            syn.connect();
          },
          nextRetransmit(syn.since, now, SYN_RTO_MS) - now,
        );
        timers.add(timer);
      }
      unanswered.clear();
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
