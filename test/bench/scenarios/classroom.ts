// Classroom, in parts on one stack (stores on every address, the server with --classroom, the page
// open in Chromium and read through its socket). One machine cannot be 40 laptops: 40 attendees'
// Node processes starting at once on 2 cores measure this machine's CPU, not the class (it took 35 s
// here, each laptop's own start queued behind the 39 others'). So the class's time is measured as its
// two shares, each on what really carries it:
// 1. A laptop's share: one attendee runs the kit's real `join` (downloaded from the page, in a folder
//    of its own, as somebody with only node on PATH: test/support/attendee.ts) alone. Then 10 attendees
//    at once (40 processes: what this machine holds; 160 starved the stores' sessions here), for the
//    joins' own "joined in", Ctrl-C to all gone, and the kit's memory on a laptop.
// 2. The room's share: 40 attendees x 3 devices, each attendee one process of 3 real agents
//    (test/bench/support/device-host.ts: the agent code, its own HTTP server and store clients per
//    device) labelled attendee=/laptop= as join labels them, Consul TTL checks, load pacing 0; loaded
//    first, then all 120 devices told to start at once: to every device on the page is what the stores,
//    the server and the page take with the whole class arriving together. Their load changes every
//    report (busier than a class at rest). The server's RSS and CPU while they arrive and at rest.
// The class's time to the page (target 30 s) is the sum of the two, an upper bound: a laptop's share
// already includes its own devices' registrations.
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { STORE_KINDS } from '../../../lib/registry/index.ts';
import { lanAddress } from '../../../server/lan-address.ts';
import { type AttendeeTerminal, attendeeFolder, downloadKit, runKit } from '../../support/attendee.ts';
import { delay } from '../../support/eventually.ts';
import { PageWatch } from '../../workshop/page-watch.ts';
import { now } from '../support/clock.ts';
import type { BenchContext, Scenario } from '../support/context.ts';
import { distributionFigure, readingFigure } from '../support/figures.ts';
import { cpuPercent, descendants, type ProcSample, sampleAll, sampleProc } from '../support/proc.ts';
import { recordServerAtRest } from '../support/server-at-rest.ts';
import { type Stack, startStack } from '../support/stack.ts';
import { DeviceHost } from './scale.ts';

const JOIN_TARGET = { max: 30_000, text: 'every device on the page within 30 s (40 attendees x 3)' };
const DEVICES = 3;
const WAIT_MS = 300_000;
const REST_SECONDS = 30;

/** Devices on the page that an attendee brought, in the emptiest column. */
const shownOf = (page: PageWatch) =>
  Math.min(
    ...STORE_KINDS.map((s) => page.devices(s).filter((d) => typeof d.labels.attendee === 'string').length),
  );

/** Until `done()` or the time is up (then throws); progress every 5 s; the server's highest RSS. */
async function waitShown(
  ctx: BenchContext,
  stack: Stack,
  page: PageWatch,
  devices: number,
  failed: () => string | undefined,
  progress: () => string,
): Promise<{ at: number; peakRss: number }> {
  const t0 = now();
  let nextLog = t0 + 5000;
  let peakRss = 0;
  for (;;) {
    peakRss = Math.max(peakRss, sampleProc(stack.server.child.pid!).rssMb);
    if (shownOf(page) >= devices) return { at: now(), peakRss };
    const problem = failed();
    if (problem) throw new Error(problem);
    if (now() - t0 > WAIT_MS)
      throw new Error(
        `after ${WAIT_MS / 1000} s the page shows ${shownOf(page)} of ${devices} in its emptiest column`,
      );
    if (now() > nextLog) {
      nextLog += 5000;
      ctx.log(
        `  ${((now() - t0) / 1000).toFixed(0)} s: ${progress()}; on the page ${STORE_KINDS.map((s) => page.devices(s).length).join(' / ')} (etcd / ZooKeeper / Consul); server RSS ${peakRss.toFixed(0)} MB`,
      );
    }
    await delay(100);
  }
}

/** `attendees` real joins at once, to every device on the page (returned, ms) and Ctrl-C to gone. */
async function realJoins(
  ctx: BenchContext,
  stack: Stack,
  page: PageWatch,
  attendees: number,
): Promise<number> {
  const devices = attendees * DEVICES;
  const alone = attendees === 1;
  const instructor = `${lanAddress()}:${stack.server.port}`;
  const kit = await downloadKit(`http://${instructor}/`);
  const folders = await Promise.all(Array.from({ length: attendees }, () => attendeeFolder(kit)));
  const terminals: AttendeeTerminal[] = [];
  try {
    ctx.log(
      alone
        ? `  part 1: one attendee runs \`node fleetkit.mjs join ${instructor} --name NAME\` alone`
        : `  part 1: ${attendees} attendees run \`node fleetkit.mjs join ${instructor} --name NAME\` at once`,
    );
    const t0 = now();
    // One machine plays the laptops: each its own ports (a laptop has them to itself).
    for (const [i, folder] of folders.entries())
      terminals.push(
        await runKit(folder, [
          'join',
          instructor,
          '--name',
          `joiner${i + 1}`,
          '--first-port',
          String(8100 + i * 5),
        ]),
      );
    const { at } = await waitShown(
      ctx,
      stack,
      page,
      devices,
      () => {
        const failed = terminals.find((t) => t.child.exitCode !== null);
        return failed && `a join exited: ${failed.output().slice(-600)}`;
      },
      () => `${terminals.filter((t) => /joined in/.test(t.output())).length}/${attendees} joins done`,
    );
    ctx.log(
      `  all ${devices} devices in every column ${((at - t0) / 1000).toFixed(1)} s after the first join started`,
    );
    const processes = descendants(process.pid, /^node$/).length;
    ctx.record(
      readingFigure(
        {
          scenario: 'classroom',
          metric: alone ? 'one-join-to-page' : 'join-to-page',
          store: 'all',
          devices,
          unit: 'ms',
          note: alone
            ? `a laptop's share: one real join and its ${devices} agent processes on an otherwise idle machine of ${availableParallelism()} cores; the page's socket state`
            : `real joins: ${attendees} join processes and their ${devices} agent processes started at once (${processes} Node processes of the bench) on ${availableParallelism()} cores; the page's socket state`,
        },
        at - t0,
      ),
    );
    if (!alone) await recordJoins(ctx, terminals, devices);
    ctx.log(alone ? '  the attendee presses Ctrl-C' : '  everyone presses Ctrl-C');
    const pressed = now();
    for (const t of terminals) t.signal('SIGINT');
    await Promise.all(terminals.map((t) => t.exitCode(60_000)));
    const exited = now();
    while (shownOf(page) > 0 && now() - pressed < 60_000) await delay(50);
    ctx.record(
      readingFigure(
        {
          scenario: 'classroom',
          metric: alone ? 'one-ctrl-c-to-gone' : 'ctrl-c-to-gone',
          store: 'all',
          devices,
          unit: 'ms',
          note: `every join had exited ${((exited - pressed) / 1000).toFixed(1)} s after Ctrl-C; ${shownOf(page)} device(s) still on the page at the end`,
        },
        now() - pressed,
      ),
    );
    return at - t0;
  } finally {
    for (const t of terminals) t.signal('SIGKILL');
  }
}

/** Each join's own "joined in", and what a join and its agents weigh on a laptop. */
async function recordJoins(ctx: BenchContext, terminals: AttendeeTerminal[], devices: number) {
  await delay(1000); // the last joins print "joined" as the page shows them
  ctx.record(
    distributionFigure(
      {
        scenario: 'classroom',
        metric: 'join-says-joined',
        store: 'all',
        devices,
        unit: 'ms',
        note: 'each join\'s own "joined in": asked the page, checked its name in 3 stores, started 3 agents, saw each in every store',
      },
      terminals
        .map((t) => Number(/joined in ([\d.]+) s/.exec(t.output())?.[1]) * 1000)
        .filter((ms) => Number.isFinite(ms)),
    ),
  );
  const joinPids = terminals.map((t) => t.child.pid!);
  const agentPids = joinPids.flatMap((pid) => descendants(pid, /^node$/));
  const all = sampleAll([...joinPids, ...agentPids]);
  const mbOf = (pids: number[]) =>
    pids.reduce((sum, pid) => sum + (all.get(pid)?.rssMb ?? 0), 0) / Math.max(1, pids.length);
  ctx.note(
    `classroom: a join process uses ${mbOf(joinPids).toFixed(0)} MB and each of its agents ${mbOf(agentPids).toFixed(0)} MB (RSS, the one-file kit): an attendee's laptop carries about ${(mbOf(joinPids) + DEVICES * mbOf(agentPids)).toFixed(0)} MB for 3 devices.`,
  );
}

/** The room's share: every attendee's devices, loaded, told to start at once. */
async function fullClass(
  ctx: BenchContext,
  stack: Stack,
  page: PageWatch,
  attendees: number,
  laptopMs: number,
): Promise<void> {
  const devices = attendees * DEVICES;
  const serverPid = stack.server.child.pid!;
  const hosts: DeviceHost[] = [];
  try {
    ctx.log(
      `  part 2: ${attendees} attendees x ${DEVICES} devices (a process of ${DEVICES} agents each), loaded, then started at once`,
    );
    for (let n = 1; n <= attendees; n++) {
      hosts.push(
        await DeviceHost.start(
          stack,
          `student${n}`,
          DEVICES,
          {
            FLEET_LABELS: `attendee=student${n},laptop=${randomBytes(6).toString('hex')}`,
            FLEET_CONSUL_CHECK: 'ttl',
            FLEET_CONSUL_LOAD_INTERVAL: '0',
          },
          { hold: true },
        ),
      );
    }
    const loading = now();
    while (!hosts.every((h) => h.held)) {
      const gone = hosts.find((h) => !h.running);
      if (gone) throw new Error(gone.problem());
      if (now() - loading > WAIT_MS)
        throw new Error(`attendee processes not loaded after ${WAIT_MS / 1000} s`);
      await delay(100);
    }
    ctx.log(`  ${attendees} attendee processes loaded in ${((now() - loading) / 1000).toFixed(1)} s; go`);
    const before = sampleProc(serverPid);
    const t0 = now();
    for (const h of hosts) h.go();
    const { at, peakRss } = await waitShown(
      ctx,
      stack,
      page,
      devices,
      () => hosts.find((h) => !h.running)?.problem(),
      () => `${hosts.reduce((sum, h) => sum + (h.last?.started ?? 0), 0)}/${devices} agents started`,
    );
    const arrived: ProcSample = sampleProc(serverPid);
    ctx.log(`  all ${devices} devices in every column ${((at - t0) / 1000).toFixed(1)} s after they started`);
    const common = { scenario: 'classroom' as const, store: 'all' as const, devices };
    ctx.record(
      readingFigure(
        {
          ...common,
          metric: 'class-arrives-to-page',
          unit: 'ms',
          note: `the room's share: ${attendees} attendee processes of ${DEVICES} real agents each (attendee/laptop labels, Consul TTL checks), loaded, then all told to start at once, on ${availableParallelism()} cores; the page's socket state`,
        },
        at - t0,
      ),
    );
    ctx.record(
      readingFigure(
        {
          ...common,
          metric: 'class-to-page',
          unit: 'ms',
          target: ctx.quick ? null : JOIN_TARGET,
          note: `upper bound: a laptop's share (one real join alone, ${(laptopMs / 1000).toFixed(1)} s) + the room's share (${((at - t0) / 1000).toFixed(1)} s)`,
        },
        laptopMs + (at - t0),
      ),
    );
    ctx.record(
      readingFigure(
        {
          ...common,
          metric: 'server-rss-arriving',
          unit: 'MB',
          note: 'highest sample (every 100 ms) while they arrived',
        },
        peakRss,
      ),
    );
    ctx.record(
      readingFigure(
        {
          ...common,
          metric: 'server-cpu-arriving',
          unit: '%',
          note: '% of one core from the start to the last device on the page',
        },
        cpuPercent(before, arrived),
      ),
    );
    ctx.log(`  the class at rest for ${REST_SECONDS} s (every device's load changes every 5 s report)`);
    await recordServerAtRest(ctx, common, serverPid, REST_SECONDS, {
      rss: `highest of ${REST_SECONDS} samples with the whole class on the page`,
      cpu: `% of one core over ${REST_SECONDS} s with the whole class, every device writing a load change to every store every 5 s`,
    });
  } finally {
    ctx.log(`  stopping ${hosts.length} attendee processes (each device deregisters)`);
    await Promise.all(hosts.map((h) => h.stop()));
  }
}

export const classroomScenario: Scenario = {
  id: 'classroom',
  title:
    'classroom: one real join alone, then 10 at once (5 with --quick), then 40 attendees x 3 devices (10 with --quick): time to the page, server RSS and CPU',
  async run(ctx: BenchContext) {
    await ctx.releaseFleet();
    const stack = await startStack({
      liveness: ctx.liveness,
      host: '0.0.0.0',
      log: ctx.log,
      serverEnv: { FLEET_CLASSROOM: 'on', FLEET_SERVER_LISTEN: '0.0.0.0' },
    });
    const page = await PageWatch.open(stack.server.url);
    try {
      const laptopMs = await realJoins(ctx, stack, page, 1);
      await realJoins(ctx, stack, page, ctx.quick ? 5 : 10);
      await fullClass(ctx, stack, page, ctx.quick ? 10 : 40, laptopMs);
    } finally {
      page.close();
      await stack.stop();
    }
  },
};
