// etcd 3.4 from Debian's etcd-server: one member, its own data dir, client and peer on given ports.
// As a cluster member (context.cluster): named mK, with every member in --initial-cluster.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { findOnPath, firstExecutable } from './paths.ts';
import { portOf } from './ports.ts';
import { hostPort, httpGet } from './probes.ts';
import { etcdAdminTls, etcdSecureArgs, etcdSecureSetup } from './secure/etcd.ts';
import type { StoreContext, StoreDriver } from './types.ts';

const execFileAsync = promisify(execFile);
const memberName = 'fleetkit';
export const etcdNoFsyncFlag = '--unsafe-no-fsync';

/** etcd 3.4 refuses to run on architectures other than amd64/ppc64le unless told so. */
const goArch: Partial<Record<string, string>> = { arm64: 'arm64', arm: 'arm', x64: 'amd64' };

export const etcdDriver: StoreDriver = {
  kind: 'etcd',
  portNames: ['client', 'peer'],

  async resolveBinary() {
    return (await findOnPath('etcd')) ?? (await firstExecutable(['/usr/bin/etcd', '/usr/local/bin/etcd']));
  },

  async version() {
    const binary = await this.resolveBinary();
    if (!binary) return undefined;
    const { stdout } = await execFileAsync(binary, ['--version'], {
      env: { ...process.env, ...etcdEnv() },
      timeout: 10_000,
    });
    return stdout.split('\n')[0]?.trim();
  },

  async launchSpec(context: StoreContext) {
    const binary = await this.resolveBinary();
    const secure = context.options.secure;
    const scheme = secure ? 'https' : 'http';
    const clientUrl = `${scheme}://${hostPort(context.host, portOf(context, 'client'))}`;
    const advertisedClientUrl = `${scheme}://${hostPort(context.connectHost, portOf(context, 'client'))}`;
    const peerUrl = `http://${hostPort(context.connectHost, portOf(context, 'peer'))}`;
    const cluster = context.cluster;
    // In a cluster: 'new' is only read on the first start; a restart with its data dir rejoins as it was.
    const membership = cluster
      ? [
          `--name=m${cluster.index}`,
          `--initial-cluster=${cluster.members
            .map((peer) => `m${peer.index}=http://${hostPort(peer.connectHost, peer.ports.peer ?? 0)}`)
            .join(',')}`,
          '--initial-cluster-state=new',
          `--initial-cluster-token=${cluster.token}`,
        ]
      : [`--name=${memberName}`, `--initial-cluster=${memberName}=${peerUrl}`];
    return {
      command: binary ?? 'etcd',
      args: [
        ...membership,
        `--data-dir=${context.dataDir}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${advertisedClientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        '--logger=zap',
        '--log-outputs=stderr',
        // Accepted by 3.4 though not in its --help: the WAL and the backend are written, never fsynced.
        ...(context.options.durable ? [] : [etcdNoFsyncFlag]),
        ...(secure ? etcdSecureArgs(secure) : []),
      ],
      env: etcdEnv(),
      files: [],
    };
  },

  durability(context) {
    return context.options.durable
      ? { durable: true, how: 'fsync on every write (etcd default)' }
      : { durable: false, how: etcdNoFsyncFlag };
  },

  endpoints(context) {
    const scheme = context.options.secure ? 'https' : 'http';
    return [`${scheme}://${hostPort(context.connectHost, portOf(context, 'client'))}`];
  },

  async probe(context, signal) {
    const secure = context.options.secure;
    const tls = secure ? await etcdAdminTls(secure) : undefined;
    const answer = await httpGet(`${this.endpoints(context)[0]}/health`, signal, tls ? { tls } : {});
    if (answer.status !== 200) return false;
    return (JSON.parse(answer.body) as { health?: unknown }).health === 'true';
  },

  async secureSetup(context, signal) {
    const secure = context.options.secure;
    const endpoint = this.endpoints(context)[0];
    if (secure && endpoint) await etcdSecureSetup(endpoint, secure, signal);
  },
};

function etcdEnv(): Record<string, string> {
  const arch = goArch[process.arch];
  return arch && arch !== 'amd64' ? { ETCD_UNSUPPORTED_ARCH: arch } : {};
}
