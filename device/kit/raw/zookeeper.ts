// ZooKeeper by hand (what zkCli.sh's get / set / ls and a watch do), with node-zookeeper-client.
import zookeeper from 'node-zookeeper-client';
import type { StoreCredentials } from '../../../lib/registry/index.ts';
import type { RawClient, RawEvent } from './raw-client.ts';

const CONNECT_TIMEOUT_MS = 8000;
const SESSION_TIMEOUT_MS = 10_000;
/** ZooKeeper's own limit for a node's data (jute.maxbuffer). */
const MAX_DATA_BYTES = 1024 * 1024 - 1;

/** The client asserts on a bad path (it would throw from inside a callback): checked here first. */
export function zookeeperPathProblem(path: string): string | undefined {
  const parts = path.split('/').slice(1);
  const bad =
    !path.startsWith('/') || (path !== '/' && parts.some((p) => p === '' || p === '.' || p === '..'));
  if (bad || path.includes(String.fromCharCode(0)))
    return `a ZooKeeper path such as /fleet/config/color: starting with /, no trailing /, no empty, . or .. part (not "${path.slice(0, 80)}")`;
  return undefined;
}

const code = (error: unknown) => (error as { getCode?: () => number } | null)?.getCode?.();
const noNode = (error: unknown) => code(error) === zookeeper.Exception.NO_NODE;

export function zookeeperClient(endpoints: readonly string[], credentials: StoreCredentials = {}): RawClient {
  const client = zookeeper.createClient(endpoints.join(','), {
    sessionTimeout: SESSION_TIMEOUT_MS,
    retries: 1,
  });
  // The class's digest identity (sent when the session starts, as zkCli's addauth does).
  if (credentials.zookeeper?.auth) client.addAuthInfo('digest', Buffer.from(credentials.zookeeper.auth));
  // A client that never connects would wait for ever: a time limit, then a sentence.
  const connected = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.close();
      reject(
        new Error(`cannot reach ZooKeeper at ${endpoints.join(', ')} within ${CONNECT_TIMEOUT_MS / 1000} s`),
      );
    }, CONNECT_TIMEOUT_MS);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  connected.catch(() => undefined);
  client.connect();
  const call = <T>(run: (done: (error: unknown, value: T) => void) => void): Promise<T> =>
    connected.then(
      () =>
        new Promise<T>((resolve, reject) => {
          run((error, value) => (error ? reject(new Error(String(error))) : resolve(value)));
        }),
    );
  const checked = (path: string) => {
    const problem = zookeeperPathProblem(path);
    if (problem) throw new Error(problem);
  };
  // The client's errors carry the code in their text ("Exception: NO_NODE[-101]"); keep the original.
  const raw = <T>(run: (done: (error: unknown, value: T) => void) => void): Promise<T> =>
    connected.then(() => new Promise<T>((resolve, reject) => run((e, v) => (e ? reject(e) : resolve(v)))));

  return {
    async get(path) {
      checked(path);
      try {
        const data = await raw<Buffer | undefined>((done) => client.getData(path, (e, d) => done(e, d)));
        return data?.toString('utf8') ?? '';
      } catch (error) {
        if (noNode(error)) return undefined;
        throw new Error(String(error));
      }
    },
    async put(path, value) {
      checked(path);
      const data = Buffer.from(value);
      if (data.length > MAX_DATA_BYTES) throw new Error(`at most ${MAX_DATA_BYTES} bytes of data`);
      const parent = path.slice(0, path.lastIndexOf('/'));
      if (parent) await call((done) => client.mkdirp(parent, (e) => done(e, undefined)));
      try {
        await raw((done) =>
          client.create(path, data, zookeeper.CreateMode.PERSISTENT, (e) => done(e, undefined)),
        );
      } catch (error) {
        if (code(error) !== zookeeper.Exception.NODE_EXISTS) throw new Error(String(error));
        await call((done) => client.setData(path, data, -1, (e) => done(e, undefined)));
      }
    },
    async list(path) {
      checked(path);
      try {
        return (await raw<string[]>((done) => client.getChildren(path, (e, c) => done(e, c)))).sort();
      } catch (error) {
        if (noNode(error)) throw new Error(`no node ${path}`);
        throw new Error(String(error));
      }
    },
    async watch(path, _options, onEvent, signal) {
      checked(path);
      await connected;
      await new Promise<void>((resolve, reject) => {
        const stop = () => {
          client.removeListener('state', onState);
          resolve();
        };
        const active = () => !signal.aborted;
        const tell = (event: RawEvent) => {
          if (active()) onEvent(event);
        };
        // ZooKeeper's watches fire once: each is set again as it fires, reading the new state with it.
        const armData = (report: boolean) => {
          if (!active()) return;
          client.getData(path, onDataEvent, (error, data) => {
            if (noNode(error)) {
              client.exists(path, onDataEvent, (e, stat) => {
                if (!e && stat) armData(true); // created between the two calls
              });
            } else if (!error && report)
              tell({ type: 'put', key: path, value: data?.toString('utf8') ?? '' });
          });
        };
        const armChildren = (report: boolean) => {
          if (!active()) return;
          client.getChildren(path, onChildrenEvent, (error, children) => {
            if (!error && report) tell({ type: 'children', key: path, children: [...children].sort() });
          });
        };
        function onDataEvent(event: zookeeper.Event) {
          if (event.getType() === zookeeper.Event.NODE_DELETED) {
            tell({ type: 'delete', key: path });
            armData(false);
          } else {
            if (event.getType() === zookeeper.Event.NODE_CREATED) armChildren(false);
            armData(true);
          }
        }
        function onChildrenEvent(event: zookeeper.Event) {
          if (event.getType() === zookeeper.Event.NODE_CHILDREN_CHANGED) armChildren(true);
        }
        // Watches live as long as the session: when it expires they are gone, so the command ends.
        const onState = (state: zookeeper.State) => {
          if (state === zookeeper.State.EXPIRED) {
            client.removeListener('state', onState);
            reject(
              new Error(
                'the ZooKeeper session expired (the store was out of reach too long): run the watch again',
              ),
            );
          }
        };
        client.on('state', onState);
        if (signal.aborted) return stop();
        signal.addEventListener('abort', stop, { once: true });
        armData(false);
        armChildren(false);
      });
    },
    async close() {
      client.close();
    },
  };
}
