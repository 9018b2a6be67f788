// Consul 1.8.7 (Debian bullseye's .deb, unpacked by install-stores.ts) or any consul on PATH.
// Default: a single-node server with a persistent data dir, so restart() keeps KV and catalog.
// As a cluster member (context.cluster): one of N servers, -bootstrap-expect=N, retry-joining the others.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { cachedConsulBinary, findOnPath, firstExecutable } from './paths.ts';
import { portOf } from './ports.ts';
import { hostPort, httpGet } from './probes.ts';
import { consulAclConfig, consulSecureSetup } from './secure/consul.ts';
import type { StoreContext, StoreDriver } from './types.ts';

const execFileAsync = promisify(execFile);

export const consulDriver: StoreDriver = {
  kind: 'consul',
  portNames: ['http', 'server', 'serfLan', 'serfWan'],
  defaultPorts: { grpc: -1, dns: -1 },
  // Consul 1.8 fsyncs its raft log (BoltDB) on every commit and has no option against it.
  stateInMemory: true,

  async resolveBinary() {
    return (await findOnPath('consul')) ?? (await firstExecutable([cachedConsulBinary]));
  },

  async version() {
    const binary = await this.resolveBinary();
    if (!binary) return undefined;
    const { stdout } = await execFileAsync(binary, ['version'], { timeout: 10_000 });
    return stdout.split('\n')[0]?.trim();
  },

  async launchSpec(context: StoreContext) {
    const binary = await this.resolveBinary();
    const dev = context.options.consul?.mode === 'dev';
    const configFile = path.join(context.configDir ?? context.dataDir, 'fleetkit-consul.json');
    // Serf and Raft need one concrete address; a wildcard host only widens the HTTP side.
    const bindAddress = context.connectHost;
    const stateDir = context.stateDir ?? context.dataDir;
    const cluster = context.cluster;
    const mode = cluster
      ? [
          '-server',
          `-bootstrap-expect=${cluster.members.length}`,
          `-data-dir=${stateDir}`,
          ...cluster.members
            .filter((peer) => peer.index !== cluster.index)
            .map((peer) => `-retry-join=${hostPort(peer.connectHost, peer.ports.serfLan ?? 0)}`),
          // The default 30 s between join attempts would stall a cluster whose members start together.
          '-retry-interval=1s',
        ]
      : dev
        ? ['-dev']
        : ['-server', '-bootstrap-expect=1', `-data-dir=${stateDir}`];
    return {
      command: binary ?? 'consul',
      args: [
        'agent',
        ...mode,
        `-config-file=${configFile}`,
        `-node=${nodeName(context)}`,
        `-bind=${bindAddress}`,
        `-client=${context.host}`,
        `-http-port=${portOf(context, 'http')}`,
        `-server-port=${portOf(context, 'server')}`,
        `-serf-lan-port=${portOf(context, 'serfLan')}`,
        `-serf-wan-port=${portOf(context, 'serfWan')}`,
        `-grpc-port=${portOf(context, 'grpc')}`,
        `-dns-port=${portOf(context, 'dns')}`,
        '-log-level=warn',
      ],
      files: [
        {
          path: configFile,
          content: `${JSON.stringify(consulConfig(context), null, 2)}\n`,
          // Secure: it holds the master token.
          ...(context.options.secure ? { mode: 0o600 } : {}),
        },
      ],
    };
  },

  durability(context) {
    if (context.options.consul?.mode === 'dev' && !context.cluster)
      return { durable: false, how: '-dev (all in memory, lost on restart)' };
    if (context.options.durable) return { durable: true, how: 'fsync on every raft commit (Consul default)' };
    return context.stateDir
      ? { durable: false, how: `data dir in memory (tmpfs ${context.stateDir})` }
      : { durable: false, how: `data dir on disk (${context.dataDir}): no writable tmpfs here, fsync stays` };
  },

  endpoints(context) {
    return [`http://${hostPort(context.connectHost, portOf(context, 'http'))}`];
  },

  async probe(context, signal) {
    const base = this.endpoints(context)[0];
    // Secure: the master token (ACLs deny everything else; /v1/status answers anyone).
    const master = context.options.secure?.folder.secrets.consul.master;
    const headers = master ? { headers: { 'X-Consul-Token': master } } : {};
    const get = (route: string) => httpGet(`${base}${route}`, signal, headers);
    const leader = await get('/v1/status/leader');
    if (leader.status !== 200 || (JSON.parse(leader.body) as unknown) === '') return false;
    const cluster = context.cluster;
    if (cluster) {
      // Every server in the raft configuration, this one included.
      const peers = await get('/v1/status/peers');
      if (peers.status !== 200) return false;
      const list = JSON.parse(peers.body) as unknown;
      if (!Array.isArray(list) || list.length !== cluster.members.length) return false;
      // And this member's serf sees every server alive: it has (re)joined, not only kept its raft state.
      const serf = await get('/v1/agent/members');
      if (serf.status !== 200) return false;
      const alive = (JSON.parse(serf.body) as { Status?: number }[]).filter((m) => m.Status === 1);
      if (alive.length < cluster.members.length) return false;
      // And every server votes again. A server that failed may have been cleaned out of the raft
      // configuration by autopilot; back, it is a non-voter until it has been stable for a while, and
      // killing another member in that time would cost the cluster its quorum.
      const autopilot = await get('/v1/operator/autopilot/health');
      if (autopilot.status !== 200) return false;
      const servers = (JSON.parse(autopilot.body) as { Servers?: { Voter?: boolean; Healthy?: boolean }[] })
        .Servers;
      if (servers?.length !== cluster.members.length) return false;
      if (!servers.every((server) => server.Voter === true && server.Healthy === true)) return false;
    }
    const self = await get('/v1/agent/self');
    return self.status === 200;
  },

  async secureSetup(context, signal) {
    const secure = context.options.secure;
    const base = this.endpoints(context)[0];
    if (secure && base) await consulSecureSetup(base, secure, signal);
  },
};

/** Stable per data dir, so a restart (or a later run on the same dir) is the same node. */
function nodeName(context: StoreContext): string {
  const member = context.cluster ? `m${context.cluster.index}-` : '';
  return `fleetkit-${member}${createHash('sha256').update(context.dataDir).digest('hex').slice(0, 8)}`;
}

function consulConfig(context: StoreContext): Record<string, unknown> {
  const secure = context.options.secure;
  return {
    ...(secure ? consulAclConfig(secure) : {}),
    // No internet at a conference: do not phone home to checkpoint.hashicorp.com.
    disable_update_check: true,
    performance: { raft_multiplier: 1 },
    // A simulated fleet talks to the agent from one address; the default cap is 200 connections.
    limits: { http_max_conns_per_client: 10_000 },
    // A cluster member back from the dead votes again after this (default 10 s): the presenter can
    // kill the next member sooner.
    autopilot: { server_stabilization_time: '3s' },
  };
}
