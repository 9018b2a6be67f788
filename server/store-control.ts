// The presenter's hands on the stores the kit started: the server asks the kit's loopback control API
// (store-control-contract.ts, served by `npm run demo` and `fleetkit stores`) for the stores' processes,
// puts them in each column header (StoreView.control), and relays stop / kill / restart. The timeline
// says what the presenter did and, after it, which member was elected leader and how long that took.

import type { Logger } from '../lib/cli/log.ts';
import { errorMessage, type StoreKind } from '../lib/registry/index.ts';
import type { KitStore, StoreControlRequest } from './contract.ts';
import type { Fleet } from './fleet/fleet.ts';
import { leaderMember, memberRows } from './page/store-members.ts';
import { parseStoreControl, StoreControlClient, targetText } from './store-control-contract.ts';

const REFRESH_MS = 2000;
/** While an action runs, the kit's view is asked this often, so that every page sees "m2 restarting…". */
const BUSY_REFRESH_MS = 500;
/** After an action, the store's members are asked this often (instead of every 5 s) while an election may run. */
const ELECTION_POLL_MS = 500;
/** How long after an action a change of leader is still put down to it. */
const ELECTION_WATCH_MS = 60_000;

const DONE = { stop: 'stopped', kill: 'killed (SIGKILL)', restart: 'restarted' } as const;

interface Election {
  at: number;
  /** "m1 was killed" */
  cause: string;
  before: number | null;
  timer: NodeJS.Timeout;
}

export class StoreControlLink {
  private readonly client: StoreControlClient;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly elections = new Map<StoreKind, Election>();

  constructor(
    url: string,
    secret: string,
    private readonly fleet: Fleet,
    private readonly log: Logger,
  ) {
    this.client = new StoreControlClient(url, secret);
    fleet.on('changes', (changes) => {
      for (const view of changes.stores) this.checkElection(view.store);
    });
  }

  start(): void {
    void this.refresh();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const election of this.elections.values()) clearInterval(election.timer);
  }

  async act(payload: unknown): Promise<KitStore> {
    const request = parseStoreControl(payload);
    const before = this.fleet.storeView(request.store);
    const leader = leaderMember(before);
    const who = request.member === undefined ? '' : request.member === leader ? ' (the leader)' : '';
    const what = `${targetText(request)}${who}`;
    const started = Date.now();
    // Every page shows the member busy while the action runs (a restart takes seconds).
    const busy = setInterval(() => void this.refresh(), BUSY_REFRESH_MS);
    setTimeout(() => void this.refresh(), 100).unref();
    let store: KitStore;
    try {
      store = await this.client.act(request);
    } catch (error) {
      clearInterval(busy);
      this.fleet.note({
        store: request.store,
        kind: 'store-control',
        text: `${request.action} ${what} failed: ${errorMessage(error)}`,
      });
      void this.refresh();
      throw error;
    }
    clearInterval(busy);
    const tookMs = Date.now() - started;
    this.fleet.note({
      store: request.store,
      kind: 'store-control',
      text: `${what} ${DONE[request.action]} by the presenter (${(tookMs / 1000).toFixed(1)} s)`,
      latencyMs: tookMs,
    });
    this.fleet.setStoreControl(await this.client.list().catch(() => null));
    if (this.fleet.storeView(request.store)?.members.length) this.watchElection(request, leader, started);
    return store;
  }

  /** After an action: ask the store for its members often, and name the next leader when there is one. */
  private watchElection(request: StoreControlRequest, before: number | null, at: number): void {
    const previous = this.elections.get(request.store);
    if (previous) clearInterval(previous.timer);
    const timer = setInterval(() => {
      if (this.closed || Date.now() - at > ELECTION_WATCH_MS) {
        clearInterval(timer);
        if (this.elections.get(request.store)?.timer === timer) this.elections.delete(request.store);
        return;
      }
      this.fleet.refreshMembers(request.store);
    }, ELECTION_POLL_MS);
    const cause = `${targetText(request)} was ${DONE[request.action].replace(' (SIGKILL)', '')}`;
    this.elections.set(request.store, { at, cause, before, timer });
    this.fleet.refreshMembers(request.store);
    this.checkElection(request.store);
  }

  /** A store's header changed: did a leader other than the one before the action take over? */
  private checkElection(store: StoreKind): void {
    const election = this.elections.get(store);
    if (!election) return;
    const view = this.fleet.storeView(store);
    const leader = leaderMember(view);
    if (leader === null) return;
    const before = memberRows(view).find((row) => row.member === election.before);
    // The old leader still leads only if it still runs (a restart of a follower, a stop refused).
    if (leader === election.before && before?.state === 'running' && before.busy === null) {
      clearInterval(election.timer);
      this.elections.delete(store);
      return;
    }
    if (leader === election.before) return;
    clearInterval(election.timer);
    this.elections.delete(store);
    const ms = Date.now() - election.at;
    this.fleet.note({
      store,
      kind: 'leader',
      text: `${store}: m${leader} leads now, ${(ms / 1000).toFixed(1)} s after ${election.cause}`,
      latencyMs: ms,
    });
  }

  private async refresh(): Promise<void> {
    clearTimeout(this.timer);
    try {
      this.fleet.setStoreControl(await this.client.list());
    } catch (error) {
      this.log.debug(`no store control: ${errorMessage(error)}`);
      this.fleet.setStoreControl(null);
    }
    clearTimeout(this.timer); // a refresh asked for by an action may have run meanwhile
    if (!this.closed) this.timer = setTimeout(() => void this.refresh(), REFRESH_MS);
  }
}
