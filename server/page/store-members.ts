// The kit's processes of a store (StoreView.control) matched with the members the store itself lists
// (StoreView.members, with their roles): "m1 ★ leader", "m3 killed". Pure, so that the page's column
// header, the server's timeline (who was elected) and the tests read the leader the same way.
import type { KitStoreMember, MemberRole, StoreView } from '../contract.ts';

export interface MemberRow extends KitStoreMember {
  /** m1, m2, ... */
  name: string;
  /** As the store says, for a running member it lists; null otherwise (a dead member's last role is stale). */
  role: MemberRole | null;
}

/** The port at the end of an endpoint: 'http://127.0.0.1:2379' -> 2379, '127.0.0.1:2181' -> 2181. */
export function endpointPort(endpoint: string): number | null {
  const match = /:(\d{1,5})\/?$/.exec(endpoint);
  return match ? Number(match[1]) : null;
}

/**
 * Each process the kit runs, with its role from the store's member list. The two are matched by port:
 * every member of a kit cluster runs on this host, each on ports of its own (etcd lists client URLs,
 * ZooKeeper the client address, Consul the Serf address: all among the process's ports).
 */
export function memberRows(view: StoreView | undefined): MemberRow[] {
  const control = view?.control;
  if (!control) return [];
  return control.members.map((member) => {
    const listed = view.members.find((m) => {
      const port = endpointPort(m.endpoint);
      return port !== null && member.ports.includes(port);
    });
    const role = member.state === 'running' && listed?.healthy !== false ? (listed?.role ?? null) : null;
    return { ...member, name: `m${member.member}`, role };
  });
}

/** The member number of the running member that leads, else null (none known, an election under way). */
export function leaderMember(view: StoreView | undefined): number | null {
  return memberRows(view).find((row) => row.role === 'leader')?.member ?? null;
}
