// etcd by hand (what `etcdctl get/put/watch` do), with the etcd3 client.
import { Etcd3 } from 'etcd3';
import { errorMessage, type StoreCredentials } from '../../../lib/registry/index.ts';
import type { RawClient, RawEvent } from './raw-client.ts';

/** A request that waits longer than this is reported, not waited for (the venue's network may drop it). */
const REQUEST_TIMEOUT_MS = 8000;

export function etcdClient(endpoints: readonly string[], credentials: StoreCredentials = {}): RawClient {
  const etcd = credentials.etcd;
  const client = new Etcd3({
    hosts: [...endpoints],
    dialTimeout: REQUEST_TIMEOUT_MS,
    // The class's credentials (./credentials/ of a join's folder): a user, and TLS with the kit's CA.
    ...(etcd?.username && etcd.password
      ? { auth: { username: etcd.username, password: etcd.password } }
      : {}),
    ...(etcd?.ca
      ? {
          credentials: {
            rootCertificate: Buffer.from(etcd.ca),
            ...(etcd.cert && etcd.key
              ? { certChain: Buffer.from(etcd.cert), privateKey: Buffer.from(etcd.key) }
              : {}),
          },
        }
      : {}),
  });
  const limited = <T>(what: string, call: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`etcd did not answer ${what} within ${REQUEST_TIMEOUT_MS / 1000} s`)),
        REQUEST_TIMEOUT_MS,
      );
    });
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  };
  return {
    async get(key) {
      return (await limited('get', client.get(key).string())) ?? undefined;
    },
    async put(key, value) {
      await limited('put', client.put(key).value(value).exec());
    },
    list: (prefix) => limited('get --prefix', client.getAll().prefix(prefix).keys()),
    async watch(key, { prefix }, onEvent, signal) {
      const builder = client.watch();
      const watcher = await limited('watch', (prefix ? builder.prefix(key) : builder.key(key)).create());
      const tell = (type: RawEvent['type']) => (kv: { key: Buffer; value: Buffer }) =>
        onEvent(
          type === 'put'
            ? { type, key: kv.key.toString(), value: kv.value.toString() }
            : { type, key: kv.key.toString() },
        );
      watcher.on('put', tell('put'));
      watcher.on('delete', tell('delete'));
      await new Promise<void>((resolve, reject) => {
        const stop = () => void watcher.cancel().then(resolve, resolve);
        if (signal.aborted) return stop();
        signal.addEventListener('abort', stop, { once: true });
        // The client reconnects by itself and says so; a watch it could not resume ends the command.
        watcher.on('error', (error) => reject(new Error(`etcd watch failed: ${errorMessage(error)}`)));
      });
    },
    async close() {
      client.close();
    },
  };
}
