// A ZooKeeper session that survives its own death. node-zookeeper-client's client is unusable after
// `expired`, and while partitioned it only says `disconnected`; so we keep our own timer and replace
// the client (a new session) when the old session must be gone. Operations are promises with a deadline
// that reject with RegistryErrors only.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { connect } from 'node:net';
import zookeeper, { type ACL, type Client, type Event, type Stat } from 'node-zookeeper-client';
import { Backoff, type BackoffOptions } from '../backoff.ts';
import {
  clip,
  errorMessage,
  isRegistryError,
  type RegistryError,
  StoreError,
  StoreUnavailableError,
  UnauthorizedError,
} from '../errors.ts';
import type { CloseHow } from './adapter.ts';

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

/** ZooKeeper's refusals: the node's ACL does not let this session's identities do that, or the
 * server rejected the identity itself. */
const REFUSED_CODES = new Set([zookeeper.Exception.NO_AUTH, zookeeper.Exception.AUTH_FAILED]);

export function zookeeperError(error: unknown): RegistryError {
  if (isRegistryError(error)) return error;
  const message = errorMessage(error);
  const code = zkCode(error);
  if (code !== undefined && REFUSED_CODES.has(code))
    return new UnauthorizedError(
      'zookeeper',
      code === zookeeper.Exception.NO_AUTH
        ? `not allowed by the node's ACL (${message})`
        : `the server refused the identity (${message})`,
      error,
    );
  if (code !== undefined && UNAVAILABLE_CODES.has(code))
    return new StoreUnavailableError('zookeeper', message, error);
  return new StoreError('zookeeper', message, error);
}

export interface SessionEvents {
  connected: [];
  disconnected: [error: RegistryError];
  /** The server answers, and refuses this session's identity on the namespace (NO_AUTH, AUTH_FAILED). */
  unauthorized: [error: UnauthorizedError];
  /** The old session is gone (expired, or presumed gone after a long disconnect); a new one is starting. */
  replaced: [reason: string];
}

type Watcher = (event: Event) => void;

export interface SessionAccess {
  /** `user:password`, sent with addAuthInfo('digest') by every new client before it connects. */
  auth?: string;
  /**
   * A node this session must be able to read (the namespace): read once the client connects, before
   * 'connected' is told; NO_AUTH there is 'unauthorized', asked again with backoff.
   */
  probePath: string;
  backoff: BackoffOptions;
}

export class ZooKeeperSession extends EventEmitter<SessionEvents> {
  private client!: Client;
  /** Bumped with every new client; claims and watches remember the generation they were made in. */
  generation = 0;
  /** The client is connected and the namespace reads (see SessionAccess.probePath). */
  connected = false;
  /** The client is connected (the socket and the session), whether or not the namespace reads. */
  private clientUp = false;
  private giveUpTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly probeBackoff: Backoff;
  private refused: UnauthorizedError | undefined;
  private closed = false;

  constructor(
    private readonly connectionString: string,
    private readonly sessionTimeoutMs: number,
    private readonly requestTimeoutMs: number,
    private readonly access: SessionAccess = { probePath: '/', backoff: {} },
  ) {
    super();
    this.probeBackoff = new Backoff(access.backoff);
    this.open();
  }

  /** Whether nodes are created with a copy of their parent's ACL (credentials given) or open (none). */
  get withAuth(): boolean {
    return !!this.access.auth;
  }

  /** The session id in hex, as zkCli shows it as ephemeralOwner. */
  get sessionId(): string {
    return this.client.getSessionId().toString('hex');
  }

  /** 'clean' ends the session (its ephemeral nodes go at once); 'unplugged' leaves it to expire. */
  close(how: CloseHow = 'clean'): void {
    this.closed = true;
    clearTimeout(this.giveUpTimer);
    clearTimeout(this.probeTimer);
    this.client.removeAllListeners();
    endClient(this.client, how);
  }

  /** Why the namespace does not read, while it does not (undefined once connected or disconnected). */
  get refusal(): UnauthorizedError | undefined {
    return this.refused;
  }

  /**
   * Creates the node: open to anyone (OPEN_ACL_UNSAFE, as without credentials), or, with credentials,
   * with a copy of its parent's ACL, so that what provisioning set on the namespace holds below it.
   */
  async create(path: string, data: Buffer, mode: number): Promise<string> {
    if (!this.withAuth) return this.call((c, cb) => c.create(path, data, mode, cb));
    const acl = inheritedAcl(path, await this.getACL(parentOf(path)), this.access.auth ?? '');
    return this.call((c, cb) => c.create(path, data, acl, mode, cb));
  }
  /** Every missing node of `path`, each created as create() does (persistent, no data). */
  async mkdirp(path: string): Promise<string> {
    if (!this.withAuth) return this.call((c, cb) => c.mkdirp(path, cb));
    let at = '';
    for (const part of path.split('/').filter(Boolean)) {
      at += `/${part}`;
      if (await this.exists(at)) continue;
      try {
        await this.create(at, Buffer.alloc(0), zookeeper.CreateMode.PERSISTENT);
      } catch (error) {
        if (zkCode(error) !== zookeeper.Exception.NODE_EXISTS) throw error;
      }
    }
    return path;
  }
  getACL(path: string): Promise<ACL[]> {
    return this.call((c, cb) => c.getACL(path, (e, acls) => cb(e, acls)));
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
  exists(path: string, watcher?: Watcher): Promise<Stat | null> {
    return this.call((c, cb) => (watcher ? c.exists(path, watcher, cb) : c.exists(path, cb)));
  }

  private open(): void {
    const client = zookeeper.createClient(this.connectionString, {
      sessionTimeout: this.sessionTimeoutMs,
      spinDelay: 200,
      retries: 0,
    });
    guardAgainstParserCrash(client);
    // Before connect(): the client keeps it and sends it again on every reconnect of this session
    // (ConnectionManager.onSocketConnected). A new client (a new session) gets it here again.
    if (this.access.auth) client.addAuthInfo('digest', Buffer.from(this.access.auth));
    this.client = client;
    this.generation++;
    client.on('connected', () => {
      clearTimeout(this.giveUpTimer);
      this.giveUpTimer = undefined;
      this.clientUp = true;
      this.probeBackoff.reset();
      void this.probe(client);
    });
    client.on('disconnected', () => {
      if (!this.clientUp) return;
      this.clientUp = false;
      this.connected = false;
      this.refused = undefined;
      clearTimeout(this.probeTimer);
      this.emit('disconnected', new StoreUnavailableError('zookeeper', 'disconnected'));
      this.armGiveUp();
    });
    // The server closed the connection on our identity; the client does not reconnect after it.
    client.on('authenticationFailed', () => {
      this.emit(
        'unauthorized',
        new UnauthorizedError('zookeeper', 'the server refused the identity (AUTH_FAILED)'),
      );
      this.armGiveUp(); // a new client, after the session timeout: the identity may be fixed by then
    });
    client.on('expired', () => this.replace('session expired'));
    this.armGiveUp();
    client.connect();
  }

  /**
   * Reads the namespace (probePath) before telling 'connected': NO_AUTH there is 'unauthorized' (a
   * client with no or wrong credentials on a namespace with digest ACLs), asked again with backoff
   * while the client stays connected. A missing node or any other answer: connected (the operations
   * say the rest).
   */
  private async probe(client: Client): Promise<void> {
    if (this.closed || client !== this.client || !this.clientUp) return;
    let refused: UnauthorizedError | undefined;
    try {
      await this.call((c, cb) => c.getData(this.access.probePath, (e) => cb(e, undefined)), { probe: true });
    } catch (error) {
      if (zkCode(error) === zookeeper.Exception.NO_AUTH || zkCode(error) === zookeeper.Exception.AUTH_FAILED)
        refused = new UnauthorizedError(
          'zookeeper',
          `this client may not read ${this.access.probePath} (NO_AUTH): ${this.access.auth ? 'the digest identity given is not in its ACL' : 'no digest identity given'}`,
          error,
        );
    }
    if (this.closed || client !== this.client || !this.clientUp) return;
    this.refused = refused;
    if (refused) {
      this.emit('unauthorized', refused);
      this.probeTimer = setTimeout(() => void this.probe(client), this.probeBackoff.next());
      return;
    }
    this.connected = true;
    this.emit('connected');
  }

  /** The server drops a session it has not heard from for its timeout: past that, start a new one. */
  private armGiveUp(): void {
    if (this.giveUpTimer || this.closed) return;
    this.giveUpTimer = setTimeout(() => {
      this.giveUpTimer = undefined;
      if (!this.clientUp)
        this.replace(`no connection for ${this.sessionTimeoutMs} ms: the session is presumed expired`);
    }, this.sessionTimeoutMs);
  }

  private replace(reason: string): void {
    if (this.closed) return;
    const old = this.client;
    old.removeAllListeners();
    endClient(old, 'clean');
    this.refused = undefined;
    const wasConnected = this.clientUp;
    this.connected = false;
    this.clientUp = false;
    clearTimeout(this.probeTimer);
    clearTimeout(this.giveUpTimer);
    this.giveUpTimer = undefined;
    if (wasConnected) this.emit('disconnected', new StoreUnavailableError('zookeeper', reason));
    this.open();
    this.emit('replaced', reason);
  }

  private call<T>(
    run: (client: Client, cb: (error: unknown, value: T) => void) => void,
    { probe = false } = {},
  ): Promise<T> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('zookeeper', 'closed'));
    if (!(probe ? this.clientUp : this.connected))
      return Promise.reject(new StoreUnavailableError('zookeeper', 'not connected'));
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

interface ConnectionManagerInternals {
  socket?: { destroy(): void };
  setState?: (state: number) => void;
}

/** STATES.CLOSING of node-zookeeper-client's ConnectionManager (not exported): a closed socket is not reconnected. */
const CONNECTION_MANAGER_CLOSING = -1;

/**
 * Ends a client, 'clean' or 'unplugged', once it has its socket: a client connect()ed in this very tick
 * makes it on the next one, and node-zookeeper-client's close() then threw a TypeError (a registry
 * closed as soon as it was made crashed its caller: found by the credentials fuzz).
 * - 'clean': close() sends the close-session request; the server deletes the ephemeral nodes at once.
 * - 'unplugged': leaves as a pulled cable does. The library has no such call: its connection manager
 *   is put in its own CLOSING state (a socket closed in that state is not reconnected) and its socket
 *   destroyed without the request, so the server keeps the session until its timeout. An unknown
 *   library version (no such internals) gets a clean close rather than a client left running.
 */
function endClient(client: Client, how: CloseHow, attempts = 0): void {
  const manager = (client as unknown as { connectionManager?: ConnectionManagerInternals }).connectionManager;
  if (manager && !manager.socket && attempts < 50) {
    setTimeout(() => endClient(client, how, attempts + 1), 10);
    return;
  }
  if (how === 'unplugged' && manager?.socket && typeof manager.setState === 'function') {
    manager.setState(CONNECTION_MANAGER_CLOSING);
    manager.socket.destroy();
    return;
  }
  try {
    client.close();
  } catch {
    // a client with no socket after 0.5 s has nothing to close
  }
}

/** ZooKeeper's digest id of `user:password`: `user:base64(sha1("user:password"))`. */
export function digestId(auth: string): string {
  const user = auth.slice(0, auth.indexOf(':'));
  return `${user}:${createHash('sha1').update(auth).digest('base64')}`;
}

/**
 * The ACL a new node takes: its parent's. ZooKeeper 3.8 hides the digest of every entry from a client
 * without ADMIN on the node (getACL answers `user:x`): this client's own entry is written back from its
 * own credentials; anyone else's cannot be, and a copy without it would shut that user (the server)
 * out of the node. That is refused, saying what provisioning must grant.
 */
export function inheritedAcl(path: string, parentAcl: ACL[], auth: string): ACL[] {
  const own = digestId(auth);
  const ownUser = own.slice(0, own.indexOf(':'));
  const hidden: string[] = [];
  const acl = parentAcl.map((entry) => {
    if (entry.id.scheme !== 'digest' || !/:x$/.test(entry.id.id)) return entry;
    const user = entry.id.id.slice(0, -2);
    // The library's ACL keeps its permissions as `permission` (its typings say `perms`).
    const perms = (entry as unknown as { permission?: number }).permission ?? entry.perms;
    if (user === ownUser) return new zookeeper.ACL(perms, new zookeeper.Id('digest', own));
    hidden.push(user);
    return entry;
  });
  if (hidden.length > 0)
    throw new UnauthorizedError(
      'zookeeper',
      `cannot give ${clip(path, 120)} its parent's ACL: ZooKeeper hides the digest of ${hidden
        .map((u) => `"${clip(u, 40)}"`)
        .join(
          ', ',
        )} from this identity (it shows them only with ADMIN on ${clip(parentOf(path), 120)}); the namespace's ACL must give this role ADMIN there`,
    );
  return acl;
}

/** The parent of a ZooKeeper path ('/' for a top-level node). */
function parentOf(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
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
