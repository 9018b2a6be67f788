// Which member of a store cluster leads, asked of the store itself (not of the registry under test).
import type { StoreCluster } from '../../provision/stores/index.ts';
import { fourLetterWord } from '../../provision/stores/probes.ts';

async function json(url: string, init?: RequestInit): Promise<unknown> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(2_000) });
  return response.json();
}

/** The index (0-based) of the running member that leads; throws when none does (yet). */
export async function leaderIndex(cluster: StoreCluster): Promise<number> {
  const { kind } = cluster;
  const members = cluster.members.map((member) => (member.running ? member : undefined));
  if (kind === 'etcd') {
    for (const [i, member] of members.entries()) {
      if (!member) continue;
      const status = (await json(`${member.endpoints[0]}/v3/maintenance/status`, {
        method: 'POST',
        body: '{}',
      })) as { header?: { member_id?: string }; leader?: string };
      if (status.leader !== undefined && status.leader === status.header?.member_id) return i;
    }
  } else if (kind === 'zookeeper') {
    for (const [i, member] of members.entries()) {
      if (!member) continue;
      const answer = await fourLetterWord('127.0.0.1', member.ports.client ?? 0, 'srvr', {
        timeoutMs: 2_000,
      });
      if (answer.includes('Mode: leader')) return i;
    }
  } else {
    const asked = members.find((member) => member !== undefined);
    const leader = (await json(`${asked?.endpoints[0]}/v1/status/leader`)) as string;
    const i = members.findIndex((member) => member && leader.endsWith(`:${member.ports.server}`));
    if (i >= 0) return i;
  }
  throw new Error(`no ${kind} leader found`);
}

/** Consul's node name of a cluster member (see provision/stores/consul.ts): fleetkit-m<K>-<hash>. */
export const consulNodePrefix = (index0: number) => `fleetkit-m${index0 + 1}-`;
