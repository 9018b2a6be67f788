// The audience's phones as devices (the server with --audience-devices): 200 phones (50 with --quick)
// join at once through the real server's socket namespace /audience, each a socket.io client in the
// bench's process doing what the phone's page (server/phone/main.ts) does: join when connected (again,
// with its key, when a beat says it was let go), a beat every heartbeatMs with its load every fifth
// beat, the fleet's color reported back as applied. Each phone comes from a loopback address of its
// own (the server limits joins per address). The page is read through its socket with the page's own
// state code (PageWatch): a phone is on the page when the page holds it in all three stores' columns.
// Measured: the first join asked to every phone on the page (target 30 s), each phone's own join to
// the page (and to each column), and the server's RSS and CPU while they join and at rest with every
// phone beating.
import { Agent } from 'node:http';
import { io, type Socket } from 'socket.io-client';
import { STORE_KINDS, type StoreKind } from '../../../lib/registry/index.ts';
import { AUDIENCE_NAMESPACE, type FleetGlance, type JoinAnswer } from '../../../server/audience-contract.ts';
import type { Ack, BrowserLoad } from '../../../server/contract.ts';
import { deviceKey } from '../../../server/page/state.ts';
import { delay } from '../../support/eventually.ts';
import { PageWatch } from '../../workshop/page-watch.ts';
import { now } from '../support/clock.ts';
import type { BenchContext, Scenario } from '../support/context.ts';
import { distributionFigure, readingFigure } from '../support/figures.ts';
import { cpuPercent, type ProcSample, sampleProc } from '../support/proc.ts';
import { recordServerAtRest } from '../support/server-at-rest.ts';
import { type Stack, startStack } from '../support/stack.ts';

const WAIT_MS = 120_000;
/** After every phone is on the page, before the rest is measured (their first loads are written). */
const SETTLE_MS = 5000;
/** The phone's page sends its load with every this-many beats (server/phone/main.ts). */
const LOAD_EVERY_BEATS = 5;
const ACK_TIMEOUT_MS = 10_000;

/** One simulated phone: the phone page's socket conversation, with the bench's stamps. */
class Phone {
  readonly socket: Socket;
  id: string | undefined;
  private key: string | undefined;
  private beatTimer: NodeJS.Timeout | undefined;
  private beats = 0;
  private reportedColor: string | null = null;
  /** Bench clock: the first join asked, its answer, the phone in each column and in all of them. */
  askedAt: number | undefined;
  answeredAt: number | undefined;
  readonly inColumn = new Map<StoreKind, number>();
  onPageAt: number | undefined;
  refused: string | undefined;
  /** Beats answered "let go" (the phone joins again), and beats that got no answer. */
  letGo = 0;
  unanswered = 0;

  constructor(
    url: string,
    private readonly agent: Agent,
    private readonly load: () => BrowserLoad,
  ) {
    this.socket = io(url, { transports: ['websocket'], forceNew: true, agent: agent as never });
    this.socket.on('connect', () => void this.join());
    this.socket.on('fleet', (glance: FleetGlance) => this.report(glance.color));
    this.socket.on('phone', (view: { color: string | null }) => this.report(view.color));
  }

  private request<T>(event: string, payload: unknown): Promise<Ack<T>> {
    return this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload) as Promise<Ack<T>>;
  }

  private async join(): Promise<void> {
    this.askedAt ??= now();
    let answer: Ack<JoinAnswer>;
    try {
      answer = await this.request<JoinAnswer>('join', this.key === undefined ? {} : { key: this.key });
    } catch {
      this.refused = 'no answer to join';
      return;
    }
    if (!answer.ok) {
      this.refused = answer.error;
      return;
    }
    this.answeredAt ??= now();
    this.id = answer.data.id;
    this.key = answer.data.key;
    clearInterval(this.beatTimer);
    this.beatTimer = setInterval(() => void this.beat(), answer.data.heartbeatMs);
  }

  private async beat(): Promise<void> {
    if (!this.socket.connected) return;
    this.beats++;
    const load = this.beats % LOAD_EVERY_BEATS === 1 ? this.load() : undefined;
    try {
      const answer = await this.request<{ registered: boolean }>('beat', load ? { load } : {});
      if (answer.ok && !answer.data.registered) {
        this.letGo++;
        await this.join();
      }
    } catch {
      this.unanswered++;
    }
  }

  /** The color the page shows, written back once (as the page's report()). */
  private report(color: string | null): void {
    if (!this.key || color === null || color === this.reportedColor) return;
    this.reportedColor = color;
    this.request('applied', { color }).catch(() => {
      this.reportedColor = null;
    });
  }

  close(): void {
    clearInterval(this.beatTimer);
    this.socket.close();
    this.agent.destroy();
  }
}

/** Phone i's own loopback address: 127.77.X.Y, one join each (all of 127.0.0.0/8 is lo on Linux). */
const addressOf = (i: number) => `127.77.${Math.floor(i / 200)}.${10 + (i % 200)}`;

/** A phone's load as its page measures it: a few ms of event-loop delay, a battery that holds. */
function loadOf(i: number): () => BrowserLoad {
  const battery = 35 + (i % 60);
  return () => ({
    kind: 'browser',
    eventLoopDelayMs: 2 + (i % 5) + Math.round(Math.random() * 4),
    batteryPercent: battery,
  });
}

/** Marks phones as they reach each column and all of them, by the page's state. */
function markShown(page: PageWatch, phones: readonly Phone[], at: number): number {
  let shown = 0;
  for (const phone of phones) {
    if (phone.onPageAt !== undefined) {
      shown++;
      continue;
    }
    if (phone.id === undefined) continue;
    for (const store of STORE_KINDS)
      if (!phone.inColumn.has(store) && page.state.phones.has(deviceKey(store, phone.id)))
        phone.inColumn.set(store, at);
    if (phone.inColumn.size === STORE_KINDS.length) {
      phone.onPageAt = Math.max(...phone.inColumn.values());
      shown++;
    }
  }
  return shown;
}

/** Phones in each column of the page (the audience band's cells). */
function columns(page: PageWatch): string {
  const count = (store: StoreKind) => [...page.state.phones.values()].filter((c) => c.store === store).length;
  return STORE_KINDS.map(count).join(' / ');
}

async function joinAll(
  ctx: BenchContext,
  stack: Stack,
  page: PageWatch,
  phones: Phone[],
  count: number,
  url: string,
): Promise<{ t0: number; at: number; peakRss: number; before: ProcSample; arrived: ProcSample }> {
  const pid = stack.server.child.pid!;
  const before = sampleProc(pid);
  const started = now();
  for (let i = 0; i < count; i++)
    phones.push(new Phone(url, new Agent({ localAddress: addressOf(i) }), loadOf(i)));
  let peakRss = before.rssMb;
  let nextSample = 0;
  let nextLog = started + 5000;
  for (;;) {
    const t = now();
    const shown = markShown(page, phones, t);
    if (t >= nextSample) {
      peakRss = Math.max(peakRss, sampleProc(pid).rssMb);
      nextSample = t + 100;
    }
    if (shown === count) break;
    const refused = phones.filter((p) => p.refused);
    if (refused.length > 0)
      throw new Error(`${refused.length} phone(s) refused, e.g. "${refused[0]!.refused}"`);
    if (t - started > WAIT_MS)
      throw new Error(
        `after ${WAIT_MS / 1000} s the page shows ${shown} of ${count} phones in every column (${columns(page)}: etcd / ZooKeeper / Consul)`,
      );
    if (t > nextLog) {
      nextLog += 5000;
      ctx.log(
        `  ${((t - started) / 1000).toFixed(0)} s: ${phones.filter((p) => p.answeredAt).length}/${count} joins answered; on the page ${columns(page)} (etcd / ZooKeeper / Consul); server RSS ${peakRss.toFixed(0)} MB`,
      );
    }
    await delay(10);
  }
  const arrived = sampleProc(pid);
  const t0 = Math.min(...phones.map((p) => p.askedAt!));
  const at = Math.max(...phones.map((p) => p.onPageAt!));
  return { t0, at, peakRss: Math.max(peakRss, arrived.rssMb), before, arrived };
}

export const audienceScenario: Scenario = {
  id: 'audience',
  title:
    "audience: 200 phones (50 with --quick) join at once through /audience: join to the page, the server's RSS and CPU joining and at rest",
  async run(ctx: BenchContext) {
    const count = ctx.quick ? 50 : 200;
    const restSeconds = ctx.quick ? 10 : 20;
    await ctx.releaseFleet();
    const stack = await startStack({
      liveness: ctx.liveness,
      host: '127.0.0.1',
      log: ctx.log,
      serverEnv: { FLEET_AUDIENCE_DEVICES: 'on', FLEET_AUDIENCE_CAP: String(count) },
    });
    const phones: Phone[] = [];
    let opened: PageWatch | undefined;
    try {
      const page = await PageWatch.open(stack.server.url);
      opened = page;
      ctx.log(
        `  ${count} phones connect to ${AUDIENCE_NAMESPACE} (each from its own loopback address) and join`,
      );
      const url = new URL(AUDIENCE_NAMESPACE, stack.server.url).href;
      const { t0, at, peakRss, before, arrived } = await joinAll(ctx, stack, page, phones, count, url);
      const passing = [...page.state.phones.values()].filter((c) => c.health === 'passing').length;
      ctx.log(
        `  all ${count} phones in every column ${((at - t0) / 1000).toFixed(1)} s after the first join was asked (${passing} of ${count * STORE_KINDS.length} cells passing)`,
      );
      const common = { scenario: 'audience' as const, store: 'all' as const, devices: count };
      const how = `${count} socket.io clients in the bench's process (the phone page's join, beats, load every 5th beat), each from its own loopback address, connected at once; the page's socket state (PageWatch)`;
      ctx.record(
        readingFigure(
          {
            ...common,
            metric: 'phones-to-page',
            unit: 'ms',
            target: ctx.quick
              ? null
              : { max: 30_000, text: `every phone on the page within 30 s (${count} phones)` },
            note: `the first join asked to the last phone in all three columns; ${how}`,
          },
          at - t0,
        ),
      );
      ctx.record(
        distributionFigure(
          {
            ...common,
            metric: 'join-to-page',
            unit: 'ms',
            note: "each phone's join asked to the phone in all three columns",
          },
          phones.map((p) => p.onPageAt! - p.askedAt!),
        ),
      );
      for (const store of STORE_KINDS)
        ctx.record(
          distributionFigure(
            {
              ...common,
              store,
              metric: 'join-to-column',
              unit: 'ms',
              note: "each phone's join asked to the phone in this store's column",
            },
            phones.map((p) => p.inColumn.get(store)! - p.askedAt!),
          ),
        );
      ctx.record(
        distributionFigure(
          {
            ...common,
            metric: 'join-answered',
            unit: 'ms',
            note: "each phone's join asked to the server's answer",
          },
          phones.map((p) => p.answeredAt! - p.askedAt!),
        ),
      );
      ctx.record(
        readingFigure(
          {
            ...common,
            metric: 'server-rss-joining',
            unit: 'MB',
            note: 'highest sample (every 100 ms) while they joined',
          },
          peakRss,
        ),
      );
      ctx.record(
        readingFigure(
          {
            ...common,
            metric: 'server-cpu-joining',
            unit: '%',
            note: '% of one core from the phones connecting to the last phone on the page',
          },
          cpuPercent(before, arrived),
        ),
      );

      ctx.log(
        `  ${count} phones beating, at rest for ${restSeconds} s (after ${SETTLE_MS / 1000} s to settle)`,
      );
      await delay(SETTLE_MS);
      const pid = stack.server.child.pid!;
      let fewest = count;
      await recordServerAtRest(
        ctx,
        common,
        pid,
        restSeconds,
        {
          rss: `highest of ${restSeconds} samples with every phone on the page, beating`,
          cpu: `% of one core over ${restSeconds} s, from ${SETTLE_MS / 1000} s after every phone was on the page: ${count} beats a second, each phone held in three stores (etcd lease, ZooKeeper session, Consul TTL check of its own)`,
        },
        () => {
          const held = phones.filter((p) =>
            STORE_KINDS.every((store) => page.state.phones.has(deviceKey(store, p.id!))),
          ).length;
          fewest = Math.min(fewest, held);
        },
      );
      const letGo = phones.reduce((sum, p) => sum + p.letGo, 0);
      const unanswered = phones.reduce((sum, p) => sum + p.unanswered, 0);
      ctx.log(
        `  at rest: at least ${fewest} of ${count} phones in every column at each sample; ${letGo} beat(s) answered "let go", ${unanswered} unanswered`,
      );
      if (fewest < count || letGo > 0 || unanswered > 0)
        ctx.note(
          `audience: at rest, ${count - fewest} phone(s) missing from a column at some sample, ${letGo} beat(s) answered "let go" (the phone joined again), ${unanswered} beat(s) unanswered`,
        );
    } finally {
      for (const phone of phones) phone.close();
      opened?.close();
      await stack.stop();
    }
  },
};
