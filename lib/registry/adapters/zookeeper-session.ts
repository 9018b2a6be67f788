// A ZooKeeper session that survives its own death. node-zookeeper-client's client is unusable after
// `expired`, and while partitioned it only says `disconnected`; so we keep our own timer and replace
// the client (a new session) when the old session must be gone. Operations are promises with a deadline
// that reject with RegistryErrors only.
import { EventEmitter } from 'node:events';
import { connect } from 'node:net';
import zookeeper, { type Client, type Event, type Stat } from 'node-zookeeper-client';
import {
  errorMessage,
  isRegistryError,
  type RegistryError,
  StoreError,
  StoreUnavailableError,
} from '../errors.ts';

const UNAVAILABLE_CODES = new Set([
  zookeeper.Exception.CONNECTION_LOSS,
  zookeeper.Exception.SESSION_EXPIRED,
  zookeeper.Exception.OPERATION_TIMEOUT,
]);

export const ZK = {
  NO_NODE: zookeeper.Exception.NO_NODE,
  NODE_EXISTS: zookeeper.Exception.NODE_EXISTS,
  BAD_VERSION: zookeeper.Exception.BAD_VERSION,
  NOT_EMPTY: zookeeper.Exception.NOT_EMPTY,
  EPHEMERAL: zookeeper.CreateMode.EPHEMERAL,
  PERSISTENT: zookeeper.CreateMode.PERSISTENT,
  NODE_DELETED: zookeeper.Event.NODE_DELETED,
} as const;

/** The ZooKeeper code (NO_NODE, NODE_EXISTS...) of a library error, also once converted (its cause). */
export function zkCode(error: unknown): number | undefined {
  const source = isRegistryError(error) ? error.cause : error;
  const code = (source as { getCode?: () => number } | null | undefined)?.getCode?.();
  return typeof code === 'number' ? code : undefined;
}

export function zookeeperError(error: unknown): RegistryError {
  if (isRegistryError(error)) return error;
  const message = errorMessage(error);
  const code = zkCode(error);
  if (code !== undefined && UNAVAILABLE_CODES.has(code))
    return new StoreUnavailableError('zookeeper', message, error);
  return new StoreError('zookeeper', message, error);
}

export interface SessionEvents {
  connected: [];
  disconnected: [error: RegistryError];
  /** The old session is gone (expired, or presumed gone after a long disconnect); a new one is starting. */
  replaced: [reason: string];
}

type Watcher = (event: Event) => void;

export class ZooKeeperSession extends EventEmitter<SessionEvents> {
  private client!: Client;
  /** Bumped with every new client; claims and watches remember the generation they were made in. */
  generation = 0;
  connected = false;
  private giveUpTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly connectionString: string,
    private readonly sessionTimeoutMs: number,
    private readonly requestTimeoutMs: number,
  ) {
    super();
    this.open();
  }

  /** The session id in hex, as zkCli shows it as ephemeralOwner. */
  get sessionId(): string {
    return this.client.getSessionId().toString('hex');
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.giveUpTimer);
    this.client.removeAllListeners();
    this.client.close();
  }

  create(path: string, data: Buffer, mode: number): Promise<string> {
    return this.call((c, cb) => c.create(path, data, mode, cb));
  }
  mkdirp(path: string): Promise<string> {
    return this.call((c, cb) => c.mkdirp(path, cb));
  }
  remove(path: string, version = -1): Promise<void> {
    return this.call((c, cb) => c.remove(path, version, (e) => cb(e, undefined)));
  }
  setData(path: string, data: Buffer, version = -1): Promise<Stat> {
    return this.call((c, cb) => c.setData(path, data, version, cb));
  }
  getData(path: string, watcher?: Watcher): Promise<{ data: Buffer | undefined; stat: Stat }> {
    return this.call((c, cb) => {
      const done = (e: unknown, data: Buffer, stat: Stat) => cb(e, { data, stat });
      if (watcher) c.getData(path, watcher, done);
      else c.getData(path, done);
    });
  }
  getChildren(path: string, watcher: Watcher): Promise<string[]> {
    return this.call((c, cb) => c.getChildren(path, watcher, cb));
  }
  /** A request that only makes the server answer this session now (no watch). */
  ping(): Promise<void> {
    return this.call((c, cb) => c.exists('/', (e) => cb(e, undefined)));
  }
  exists(path: string, watcher: Watcher): Promise<Stat | null> {
    return this.call((c, cb) => c.exists(path, watcher, cb));
  }

  private open(): void {
    const client = zookeeper.createClient(this.connectionString, {
      sessionTimeout: this.sessionTimeoutMs,
      spinDelay: 200,
      retries: 0,
    });
    guardAgainstParserCrash(client);
    this.client = client;
    this.generation++;
    client.on('connected', () => {
      clearTimeout(this.giveUpTimer);
      this.giveUpTimer = undefined;
      this.connected = true;
      this.emit('connected');
    });
    client.on('disconnected', () => {
      if (!this.connected) return;
      this.connected = false;
      this.emit('disconnected', new StoreUnavailableError('zookeeper', 'disconnected'));
      this.armGiveUp();
    });
    client.on('expired', () => this.replace('session expired'));
    this.armGiveUp();
    client.connect();
  }

  /** The server drops a session it has not heard from for its timeout: past that, start a new one. */
  private armGiveUp(): void {
    if (this.giveUpTimer || this.closed) return;
    this.giveUpTimer = setTimeout(() => {
      this.giveUpTimer = undefined;
      if (!this.connected)
        this.replace(`no connection for ${this.sessionTimeoutMs} ms: the session is presumed expired`);
    }, this.sessionTimeoutMs);
  }

  private replace(reason: string): void {
    if (this.closed) return;
    const old = this.client;
    old.removeAllListeners();
    old.close();
    const wasConnected = this.connected;
    this.connected = false;
    clearTimeout(this.giveUpTimer);
    this.giveUpTimer = undefined;
    if (wasConnected) this.emit('disconnected', new StoreUnavailableError('zookeeper', reason));
    this.open();
    this.emit('replaced', reason);
  }

  private call<T>(run: (client: Client, cb: (error: unknown, value: T) => void) => void): Promise<T> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('zookeeper', 'closed'));
    if (!this.connected) return Promise.reject(new StoreUnavailableError('zookeeper', 'not connected'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new StoreUnavailableError('zookeeper', `no answer within ${this.requestTimeoutMs} ms`)),
        this.requestTimeoutMs,
      );
      run(this.client, (error, value) => {
        clearTimeout(timer);
        // The one place the library's errors are converted; zkCode() still reads their code.
        if (error) reject(zookeeperError(error));
        else resolve(value);
      });
    });
  }
}

/**
 * node-zookeeper-client throws from its socket 'data' handler when it cannot parse what a starting or
 * stopping server sent ("Unknown code: ..."; its issues #23, #39, #70), which would crash the whole
 * process. Drop that connection instead: the client reconnects as after any socket loss.
 */
function guardAgainstParserCrash(client: Client): void {
  type Manager = {
    onSocketData(buffer: Buffer): void;
    pendingBuffer: Buffer | null;
    socket?: { destroy(): void };
  };
  const manager = (client as unknown as { connectionManager: Manager }).connectionManager;
  const parse = manager.onSocketData;
  manager.onSocketData = function guarded(this: Manager, buffer: Buffer) {
    try {
      parse.call(this, buffer);
    } catch {
      this.pendingBuffer = null;
      this.socket?.destroy();
    }
  };
}

/** The most of an answer kept: `cons` of a few thousand connections is well under it. */
export const FOUR_LETTER_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Sends a four-letter word (`srvr`, `ruok`, `cons`) and resolves with the whole answer; an answer
 * over `maxBytes` (default FOUR_LETTER_MAX_BYTES: a server, or whatever listens there, that never
 * stops talking) is cut off there and rejects.
 */
export function fourLetterWord(
  host: string,
  port: number,
  word: string,
  limit: { timeoutMs?: number; signal?: AbortSignal; maxBytes?: number } = {},
): Promise<string> {
  const maxBytes = limit.maxBytes ?? FOUR_LETTER_MAX_BYTES;
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    const onAbort = () => socket.destroy(new Error(`${word}: aborted`));
    limit.signal?.addEventListener('abort', onAbort, { once: true });
    if (limit.timeoutMs !== undefined) {
      const ms = limit.timeoutMs;
      socket.setTimeout(ms, () => socket.destroy(new Error(`no answer to ${word} within ${ms} ms`)));
    }
    socket.on('connect', () => socket.end(word));
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) socket.destroy(new Error(`${word}: answer over ${maxBytes} bytes`));
      else chunks.push(chunk);
    });
    socket.on('error', reject);
    socket.on('close', (hadError) => {
      limit.signal?.removeEventListener('abort', onAbort);
      if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}
