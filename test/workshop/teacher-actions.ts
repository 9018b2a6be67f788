// What the teacher does during a lab (<!-- lab: teacher ACTION ARGS -->), done through the stores the
// test runs, the way the guide tells the teacher to: a color set for everyone, a cluster member killed
// and restarted. The guide's own commands for these (systemctl, fuser) need a control host's root and
// systemd; the test checks what it can of them (the port a `fuser` names is the member's) and does
// the equivalent to the member's process.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createRegistry, STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import type { StoreCluster, StoreProcess } from '../../provision/stores/index.ts';
import { leaderIndex } from '../support/cluster-leader.ts';
import { eventually } from '../support/eventually.ts';
import type { LabAction } from './lab-runner.ts';
import type { PageWatch } from './page-watch.ts';

const execFileP = promisify(execFile);

/** Each store's client endpoints (a single store's, or every member's). */
export type StoreEndpoints = () => Record<StoreKind, string[]>;

export function teacherActions(endpoints: StoreEndpoints, page: () => PageWatch): Record<string, LabAction> {
  return {
    /** set-color COLOR: in every store (as the page's presenter controls do). */
    async 'set-color'([color = '']) {
      await Promise.all(
        STORE_KINDS.map(async (store) => {
          const registry = createRegistry({ store, endpoints: endpoints()[store] });
          try {
            await registry.setConfig('color', color);
          } finally {
            await registry.close();
          }
        }),
      );
      await eventually(
        `every column header says ${color}`,
        () => STORE_KINDS.every((store) => page().store(store).color === color),
        { timeoutMs: 10_000 },
      );
    },
  };
}

/** The pids `fuser PORT/tcp` names: what the guide's `fuser -k -KILL PORT/tcp` would kill. */
async function fuserPids(port: number): Promise<number[]> {
  // The pids go to stdout, the name ("2379/tcp:") to stderr; nothing found exits 1.
  const { stdout } = await execFileP('fuser', [`${port}/tcp`]).catch((error) => error);
  return String(stdout ?? '')
    .split(/\s+/)
    .filter((w) => /^\d+$/.test(w))
    .map(Number);
}

/** Lab 6's teacher on 3-member clusters: kill a leader, stop two members, start the dead ones again. */
export function clusterActions(
  clusters: () => Record<StoreKind, StoreCluster>,
  note: (line: string) => void,
): Record<string, LabAction> {
  const dead = new Set<StoreProcess>();
  const clientPort = (member: StoreProcess) => member.ports.client ?? member.ports.http ?? 0;
  return {
    /** kill-leader STORE: SIGKILL the member that leads, as `systemctl kill -s KILL` or `fuser -k -KILL`. */
    async 'kill-leader'([store = '']) {
      const cluster = clusters()[store as StoreKind];
      const leader = cluster.members[await leaderIndex(cluster)] as StoreProcess;
      const pids = await fuserPids(clientPort(leader));
      if (!pids.includes(leader.pid ?? -1))
        throw new Error(
          `fuser ${clientPort(leader)}/tcp names ${pids.join(', ') || 'nothing'}, not the leader's pid ${leader.pid}`,
        );
      await leader.kill('SIGKILL');
      dead.add(leader);
      note(`${store}: killed its leader (pid ${leader.pid}, the one fuser ${clientPort(leader)}/tcp names)`);
    },
    /** kill-two STORE: stop two members that do not lead (systemctl stop: SIGTERM). */
    async 'kill-two'([store = '']) {
      const cluster = clusters()[store as StoreKind];
      const leader = await leaderIndex(cluster);
      const others = cluster.members.filter((_, i) => i !== leader).slice(0, 2);
      await Promise.all(others.map((member) => member.stop()));
      for (const member of others) dead.add(member);
      note(`${store}: stopped two of its three members (the leader left alone)`);
    },
    /** restart-killed: every member killed or stopped starts again, on its ports and data. */
    async 'restart-killed'() {
      const started = Date.now();
      await Promise.all([...dead].map((member) => member.restart()));
      note(`${dead.size} member(s) started again in ${Date.now() - started} ms`);
      dead.clear();
    },
  };
}
