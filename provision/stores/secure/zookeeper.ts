// ZooKeeper's side of secure mode: a super user (superDigest, set in zoo.cfg: ZooKeeper turns an
// unknown zoo.cfg key into the system property `zookeeper.<key>`, so no digest shows in `ps`), then,
// once it answers, the namespace's nodes with digest ACLs. node-zookeeper-client has no SASL and no
// TLS: ZooKeeper traffic, the digest credentials included, stays cleartext (docs/security.md).
import { createHash, randomBytes } from 'node:crypto';
import zookeeper, { type ACL, type Client } from 'node-zookeeper-client';
import { type SecureLaunch, ZOOKEEPER_USERS } from './types.ts';

const { Permission } = zookeeper;

/** The digest ZooKeeper keeps for `user:password`: base64(sha1("user:password")), as `user:<digest>`. */
export function zookeeperDigest(user: string, password: string): string {
  return `${user}:${createHash('sha1').update(`${user}:${password}`).digest('base64')}`;
}

/** zoo.cfg lines of secure mode. */
export function zookeeperSecureCfg(secure: SecureLaunch): string[] {
  return [
    `DigestAuthenticationProvider.superDigest=${zookeeperDigest(ZOOKEEPER_USERS.admin, secure.folder.secrets.zookeeper.super)}`,
  ];
}

function digestAcl(perms: number, user: string, password: string): ACL {
  return new zookeeper.ACL(perms, new zookeeper.Id('digest', zookeeperDigest(user, password)));
}

/** Each namespace node's ACL (docs/security.md): children created by the kit copy their parent's. */
export function namespaceAcls(secure: SecureLaunch): Record<string, ACL[]> {
  const pw = secure.folder.secrets.zookeeper;
  const server = (perms: number) => digestAcl(perms, ZOOKEEPER_USERS.server, pw.server);
  const device = (perms: number) => digestAcl(perms, ZOOKEEPER_USERS.device, pw.device);
  const ns = `/${secure.namespace}`;
  return {
    // Root: anyone may read (ZooKeeper's own /zookeeper lives there), only the server creates.
    '/': [new zookeeper.ACL(Permission.READ, new zookeeper.Id('world', 'anyone')), server(Permission.ALL)],
    [ns]: [device(Permission.READ | Permission.CREATE), server(Permission.ALL)],
    // The device needs ADMIN here: ZooKeeper 3.8 hands getACL's digests to ADMIN holders only (others
    // see `device:x`), and the kit's clients create each node with a copy of its parent's ACL.
    [`${ns}/services`]: [device(Permission.ALL), server(Permission.ALL)],
    [`${ns}/config`]: [device(Permission.READ), server(Permission.ALL)],
  };
}

function promised<T>(run: (done: (error: unknown, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) =>
    run((error, value) => (error ? reject(error) : resolve(value as T))),
  );
}

/** Connect as super, create or re-ACL /, /<ns>, /<ns>/services, /<ns>/config. Safe to run again. */
export async function zookeeperSecureSetup(
  connect: string,
  secure: SecureLaunch,
  signal: AbortSignal,
): Promise<void> {
  const client: Client = zookeeper.createClient(connect, { sessionTimeout: 5_000, retries: 0 });
  const abort = () => client.close();
  signal.addEventListener('abort', abort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connected', () => resolve());
      signal.addEventListener(
        'abort',
        () => reject(new Error('ZooKeeper did not accept a session in time')),
        {
          once: true,
        },
      );
      client.connect();
    });
    client.addAuthInfo(
      'digest',
      Buffer.from(`${ZOOKEEPER_USERS.admin}:${secure.folder.secrets.zookeeper.super}`),
    );
    await checkSuper(client, connect);
    for (const [path, acls] of Object.entries(namespaceAcls(secure))) {
      const setAcl = () =>
        promised<unknown>((done) => client.setACL(path, acls, -1, (e, stat) => done(e, stat)));
      await promised<string>((done) =>
        client.create(path, Buffer.alloc(0), acls, zookeeper.CreateMode.PERSISTENT, (e, p) => done(e, p)),
      ).catch(async (error: { code?: number }) => {
        // '/' and a kept data dir's nodes exist: set their ACL (the kit's roles may have new passwords).
        if (error.code !== zookeeper.Exception.NODE_EXISTS) throw error;
        await setAcl();
      });
    }
    // Nodes left by a run without credentials (a kept data dir) are open to anyone: give every node
    // below services/ and config/ its top node's ACL, as the kit's clients would have.
    const acls = namespaceAcls(secure);
    for (const top of [`/${secure.namespace}/services`, `/${secure.namespace}/config`]) {
      await reAclBelow(client, top, acls[top] ?? [], signal);
    }
  } finally {
    signal.removeEventListener('abort', abort);
    client.close();
  }
}

/**
 * This ZooKeeper knows the kit's super user (its zoo.cfg has the superDigest), else stop before touching
 * any ACL: another ZooKeeper on that port (a unit that did not start, the port taken) must not have its
 * root locked by the kit. An ephemeral node only a stranger's digest may read: super reads it anyway.
 */
async function checkSuper(client: Client, connect: string): Promise<void> {
  const node = `/fleetkit-super-check-${randomBytes(6).toString('hex')}`;
  const nobody = digestAcl(Permission.READ, 'nobody', randomBytes(12).toString('base64url'));
  const created = await promised<string>((done) =>
    client.create(node, Buffer.alloc(0), [nobody], zookeeper.CreateMode.EPHEMERAL, (e, p) => done(e, p)),
  ).then(
    () => true,
    () => false,
  );
  const read =
    created &&
    (await promised<unknown>((done) => client.getData(node, (e, data) => done(e, data))).then(
      () => true,
      () => false,
    ));
  if (created) await promised<unknown>((done) => client.remove(node, -1, (e) => done(e))).catch(() => {});
  if (!read)
    throw new Error(
      `the ZooKeeper on ${connect} does not know the kit's super user (no superDigest in its zoo.cfg): not the kit's, or started without --secure; nothing changed in it`,
    );
}

/** The most nodes re-ACLed below one top node: the kit keeps a few thousand at most. */
const MAX_NODES_BELOW = 100_000;

async function reAclBelow(client: Client, top: string, acls: ACL[], signal: AbortSignal): Promise<void> {
  const pending = [top];
  for (let seen = 0; pending.length > 0 && seen < MAX_NODES_BELOW; seen++) {
    if (signal.aborted) throw new Error('ZooKeeper setup ran out of time re-ACLing old nodes');
    const parent = pending.pop() as string;
    const children = await promised<string[]>((done) =>
      client.getChildren(parent, (e, list) => done(e, list)),
    ).catch((error: { code?: number }) => {
      if (error.code === zookeeper.Exception.NO_NODE) return [];
      throw error;
    });
    for (const child of children) {
      const path = `${parent}/${child}`;
      await promised<unknown>((done) => client.setACL(path, acls, -1, (e, stat) => done(e, stat))).catch(
        (error: { code?: number }) => {
          // An ephemeral node of a session that just ended.
          if (error.code !== zookeeper.Exception.NO_NODE) throw error;
        },
      );
      pending.push(path);
    }
  }
}
