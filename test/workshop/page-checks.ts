// The "look at the page" steps of the workshop's labs, by the name a lab gives them
// (<!-- lab: page NAME ARGS -->): each checks, on the page as an attendee's browser holds it, what the
// lab tells the attendee they will see, and measures what the lab asks them to time.

import assert from 'node:assert/strict';
import { STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import { machineLoad } from '../../lib/registry/load-kinds.ts';
import { eventually } from '../support/eventually.ts';
import type { LabAction } from './lab-runner.ts';
import type { PageWatch } from './page-watch.ts';

/** The page checks every lab may use, on the page as `page` holds it. */
export function pageChecks(page: () => PageWatch): Record<string, LabAction> {
  const within = (what: string, check: () => boolean, timeoutMs = 15_000) =>
    eventually(`the page: ${what}`, check, { timeoutMs, intervalMs: 20 });
  const passingEverywhere = (id: string) =>
    STORE_KINDS.every((store) => page().device(store, id)?.health === 'passing');
  /** Per store, ms from the attendee's last action until `holds` (polled every 20 ms). */
  const timeEach = (
    what: string,
    from: number,
    holds: (store: StoreKind) => boolean,
    timeoutMs: (store: StoreKind) => number,
  ) =>
    Promise.all(
      STORE_KINDS.map(async (store) => {
        await within(`${what} in the ${store} column`, () => holds(store), timeoutMs(store));
        return [store, Date.now() - from] as const;
      }),
    );
  /** Each store's leader when `members` last looked. */
  const leaders = new Map<StoreKind, string>();
  const figures = (times: readonly (readonly [StoreKind, number])[]) =>
    times.map(([store, ms]) => `${store} ${ms} ms`).join(', ');
  const everywhere = (holds: (store: StoreKind) => boolean) => STORE_KINDS.every((store) => holds(store));
  return {
    /** devices NAME N: NAME-1..N in every column, passing, labelled with the attendee's name. */
    async devices([name, count]) {
      const ids = Array.from({ length: Number(count) }, (_, i) => `${name}-${i + 1}`);
      await within(`${ids.join(', ')} passing in every column`, () =>
        ids.every((id) =>
          everywhere((store) => {
            const device = page().device(store, id);
            return device?.health === 'passing' && device.labels.attendee === name;
          }),
        ),
      );
    },
    /** device ID: in every column, passing. */
    async device([id = '']) {
      await within(`${id} passing in every column`, () => passingEverywhere(id));
    },
    /**
     * left-at-once ID: after a clean stop, gone from every column (never critical in Consul) within a
     * moment: told, not noticed. 2.5 s is far below the class's windows' noticing (at least 2 s each,
     * after the same delivery).
     */
    async 'left-at-once'([id = ''], lab) {
      let critical = false;
      const times = await timeEach(
        `${id} gone`,
        lab.lastActionAt,
        (store) => {
          critical ||= page().device(store, id)?.health === 'critical';
          return page().device(store, id) === undefined;
        },
        () => 10_000,
      );
      lab.note(`${id} after Ctrl-C: ${figures(times)}`);
      assert.equal(critical, false, `${id} turned critical: it should have been deregistered`);
      for (const [store, ms] of times) assert.ok(ms < 2500, `${id} left ${store} ${ms} ms after Ctrl-C`);
    },
    /**
     * died ID [SECONDS]: gone from etcd and ZooKeeper, critical in Consul, each at the end of its window
     * (the page's header, or SECONDS the device was started with): noticed, not told, so not before a
     * quarter of the window (a keepalive sent just before the death starts a whole new window).
     */
    async died([id = '', seconds], lab) {
      const windowMs = (store: StoreKind) =>
        seconds === undefined ? page().store(store).windowMs : Number(seconds) * 1000;
      const times = await timeEach(
        `${id} gone (critical in Consul)`,
        lab.lastActionAt,
        (store) =>
          store === 'consul'
            ? page().device(store, id)?.health === 'critical'
            : page().device(store, id) === undefined,
        (store) => windowMs(store) * 3 + 5000,
      );
      lab.note(
        `${id} after its death: ${figures(times)} (windows ${STORE_KINDS.map((k) => windowMs(k)).join(' / ')} ms)`,
      );
      for (const [store, ms] of times) {
        assert.ok(ms >= windowMs(store) / 4, `${store} noticed ${id}'s death after ${ms} ms: it was told?`);
      }
      assert.equal(page().device('consul', id)?.health, 'critical', 'Consul keeps it, critical');
    },
    /** back ID: registered again in every store after being gone (or critical): passing everywhere. */
    async back([id = '']) {
      await within(`${id} passing in every column again`, () => passingEverywhere(id), 20_000);
    },
    /** no-config: no store holds a color any more (the column headers show none). */
    async 'no-config'() {
      await within('no color in any column header', () =>
        STORE_KINDS.every((store) => page().store(store).color === null),
      );
    },
    /** pick-marked: every column marks a passing device as next pick, one of the least loaded it lists. */
    async 'pick-marked'() {
      await within('every column marks its least-loaded device', () =>
        STORE_KINDS.every((store) => {
          const pick = page().store(store).pick;
          const passing = page()
            .devices(store)
            .filter((d) => d.health === 'passing');
          const cpu = (id: string | null) =>
            machineLoad(passing.find((d) => d.id === id)?.load)?.cpuPercent ?? Number.POSITIVE_INFINITY;
          return pick !== null && passing.every((d) => cpu(pick) <= cpu(d.id));
        }),
      );
    },
    /**
     * pick-moved ID: in every column ID reports a burn (at least 10 % and twice any other passing
     * device's CPU), and is not the next pick. Relative: on a loaded machine a device told to burn 90 %
     * got 15 %.
     */
    async 'pick-moved'([id = ''], lab) {
      const times = await timeEach(
        `${id} the most loaded, and not the next pick`,
        lab.lastActionAt,
        (store) => {
          const cpu = machineLoad(page().device(store, id)?.load)?.cpuPercent ?? 0;
          const others = page()
            .devices(store)
            .filter((d) => d.id !== id && d.health === 'passing');
          const pick = page().store(store).pick;
          // Its burn reported (10 % and twice any other: not an idle device's jitter), and avoided.
          return (
            cpu >= 10 &&
            others.length > 0 &&
            others.every((d) => (machineLoad(d.load)?.cpuPercent ?? 0) * 2 < cpu) &&
            pick !== null &&
            pick !== id
          );
        },
        () => 30_000,
      );
      const cpus = STORE_KINDS.map((store) => machineLoad(page().device(store, id)?.load)?.cpuPercent).join(
        ' / ',
      );
      lab.note(`the pick moved off ${id} (CPU ${cpus} %): ${figures(times)} after the stress command`);
    },
    /** applied NAME N COLOR: NAME-1..N show COLOR (the color each applied) in every column. */
    async applied([name = '', count = '0', color = ''], lab) {
      const ids = Array.from({ length: Number(count) }, (_, i) => `${name}-${i + 1}`);
      const times = await timeEach(
        `${ids.join(', ')} applied ${color}`,
        lab.lastActionAt,
        (store) => ids.every((id) => page().device(store, id)?.color === color),
        () => 15_000,
      );
      lab.note(`${color} applied and reported: ${figures(times)} after the write`);
    },
    /** headers STORE=COLOR...: each column's header shows the color its store holds. */
    async headers(pairs) {
      const wanted = pairs.map((pair) => pair.split('=') as [StoreKind, string]);
      await within(`the headers say ${pairs.join(', ')}`, () =>
        wanted.every(([store, color]) => page().store(store).color === color),
      );
    },
    /** refused STORE: the timeline names a value refused in that store since the attendee's last action. */
    async refused([store = ''], lab) {
      await within(`the timeline names a value refused in ${store}`, () =>
        page()
          .timeline()
          .some((e) => e.kind === 'invalid' && e.store === store && e.at >= lab.lastActionAt - 1000),
      );
    },
    /**
     * members N: every column's header lists N members, every one healthy, one of them the leader
     * (remembered, for new-leaders).
     */
    async members([count = '0']) {
      await within(
        `every header lists ${count} healthy members and a leader`,
        () =>
          STORE_KINDS.every((store) => {
            const members = page().store(store).members;
            return (
              members.length === Number(count) &&
              members.every((m) => m.healthy) &&
              members.filter((m) => m.role === 'leader').length === 1
            );
          }),
        30_000,
      );
      for (const store of STORE_KINDS)
        leaders.set(
          store,
          page()
            .store(store)
            .members.find((m) => m.role === 'leader')?.name ?? '',
        );
    },
    /** new-leaders: every column's header names a leader, another than when `members` last looked. */
    async 'new-leaders'(_args, lab) {
      const header = () =>
        STORE_KINDS.map((store) => {
          const members = page().store(store).members;
          return `${store}: ${members.map((m) => `${m.name} ${m.role}${m.healthy ? '' : ' (unhealthy)'}`).join(', ')}`;
        }).join('; ');
      try {
        const times = await timeEach(
          'a new leader',
          lab.lastActionAt,
          (store) => {
            const leader = page()
              .store(store)
              .members.find((m) => m.role === 'leader');
            return leader !== undefined && leader.name !== leaders.get(store);
          },
          () => 30_000,
        );
        lab.note(`new leaders on the page: ${figures(times)} after the last kill (members polled every 5 s)`);
      } catch (error) {
        throw new Error(`${(error as Error).message}; the headers: ${header()}`);
      }
    },
    /** store-live STORE: that column is live again. */
    async 'store-live'([store = '']) {
      await within(`${store} live again`, () => page().store(store as StoreKind).watch === 'live', 30_000);
    },
    /** timeline KIND STORE ID: the page's timeline tells that event (critical, recovered, ...) since the last action. */
    async timeline([kind = '', store = '', id = ''], lab) {
      await within(`the timeline tells "${kind}" of ${id} in ${store}`, () =>
        page()
          .timeline()
          .some(
            (e) =>
              e.kind === kind && e.store === store && e.deviceId === id && e.at >= lab.lastActionAt - 1000,
          ),
      );
    },
    /** gone ID...: in no column any more. */
    async gone(ids) {
      await within(`${ids.join(', ')} in no column`, () =>
        ids.every((id) => everywhere((store) => page().device(store, id) === undefined)),
      );
    },
    /** lease-of ID LEASE: the etcd tile names that lease (decimal, as etcdctl -w fields prints it). */
    async 'lease-of'([id = '', lease = '']) {
      await within(`${id}'s etcd tile names lease ${lease}`, () => {
        const liveness = page().device('etcd', id)?.liveness;
        return liveness?.model === 'lease' && BigInt(liveness.leaseId) === BigInt(lease);
      });
    },
    /** session-of ID SESSION: the ZooKeeper tile names that session (hex, as zkCli's ephemeralOwner). */
    async 'session-of'([id = '', session = '']) {
      await within(`${id}'s ZooKeeper tile names session 0x${session}`, () => {
        const liveness = page().device('zookeeper', id)?.liveness;
        return liveness?.model === 'session' && BigInt(`0x${liveness.sessionId}`) === BigInt(`0x${session}`);
      });
    },
    /** check-of ID STATUS TYPE: the Consul tile shows its check with that status, and which kind it is (ttl, http). */
    async 'check-of'([id = '', status, type]) {
      await within(`${id}'s Consul tile: its ${type} check ${status}`, () => {
        const device = page().device('consul', id);
        return (
          device?.liveness.model === 'check' && device.health === status && device.liveness.checkType === type
        );
      });
    },
  };
}
