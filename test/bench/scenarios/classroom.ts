// Classroom, in two parts on one stack (stores on every address, the server with --classroom, the page
// open in Chromium and read through its socket):
// 1. Real joins: N attendees run the kit's `join` (downloaded from the page, a folder each, as nobody
//    with only node on PATH: test/support/attendee.ts) at once; each join is a process and starts 3
//    agent processes. Measured: first join started to every device on the page, each join's own
//    "joined in", Ctrl-C to all gone. 10 attendees (40 processes) is what this 2-core machine holds;
//    40 (160 Node processes, about 14 GB) starved the stores' sessions here, so the full class is:
// 2. The class at size: 40 attendees x 3 devices, each attendee one process of 3 real agents
//    (test/bench/support/device-host.ts: the agent code, its own HTTP server and store clients per
//    device) labelled attendee=/laptop= as join labels them, Consul TTL checks, load pacing 0; their
//    load changes every report (busier than a class at rest). Measured: all started at once to every
//    device on the page (target 30 s), the server's RSS and CPU while they arrive and at rest.
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

async function realJoins(ctx: BenchContext, stack: Stack, page: PageWatch, attendees: number) {
  const devices = attendees * DEVICES;
  const instructor = `${lanAddress()}:${stack.server.port}`;
  const kit = await downloadKit(`http://${instructor}/`);
  const folders = await Promise.all(Array.from({ length: attendees }, () => attendeeFolder(kit)));
  const terminals: AttendeeTerminal[] = [];
  try {
    ctx.log(
      `  part 1: ${attendees} attendees run \`node fleetkit.mjs join ${instructor} --name NAME\` at once`,
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
          metric: 'join-to-page',
          store: 'all',
          devices,
          unit: 'ms',
          note: `real joins: ${attendees} join processes and their ${devices} agent processes started at once (${processes} Node processes of the bench) on ${availableParallelism()} cores; the page's socket state`,
        },
        at - t0,
      ),
    );
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
    ctx.log('  everyone presses Ctrl-C');
    const pressed = now();
    for (const t of terminals) t.signal('SIGINT');
    await Promise.all(terminals.map((t) => t.exitCode(60_000)));
    const exited = now();
    while (shownOf(page) > 0 && now() - pressed < 60_000) await delay(50);
    ctx.record(
      readingFigure(
        {
          scenario: 'classroom',
          metric: 'ctrl-c-to-gone',
          store: 'all',
          devices,
          unit: 'ms',
          note: `every join had exited ${((exited - pressed) / 1000).toFixed(1)} s after Ctrl-C; ${shownOf(page)} device(s) still on the page at the end`,
        },
        now() - pressed,
      ),
    );
  } finally {
    for (const t of terminals) t.signal('SIGKILL');
  }
}

async function fullClass(ctx: BenchContext, stack: Stack, page: PageWatch, attendees: number) {
  const devices = attendees * DEVICES;
  const serverPid = stack.server.child.pid!;
  const hosts: DeviceHost[] = [];
  try {
    ctx.log(
      `  part 2: ${attendees} attendees x ${DEVICES} devices (a process of ${DEVICES} agents each) start at once`,
    );
    const before = sampleProc(serverPid);
    const t0 = now();
    for (let n = 1; n <= attendees; n++) {
      hosts.push(
        DeviceHost.start(stack, `student${n}`, DEVICES, {
          FLEET_LABELS: `attendee=student${n},laptop=${randomBytes(6).toString('hex')}`,
          FLEET_CONSUL_CHECK: 'ttl',
          FLEET_CONSUL_LOAD_INTERVAL: '0',
        }),
      );
    }
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
          metric: 'class-to-page',
          unit: 'ms',
          target: ctx.quick ? null : JOIN_TARGET,
          note: `${attendees} attendee processes of ${DEVICES} real agents each (attendee/laptop labels, Consul TTL checks), started at once on ${availableParallelism()} cores; the page's socket state`,
        },
        at - t0,
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
    const restStart = sampleProc(serverPid);
    const rss: number[] = [];
    for (let s = 0; s < REST_SECONDS; s++) {
      await delay(1000);
      rss.push(sampleProc(serverPid).rssMb);
    }
    const restEnd = sampleProc(serverPid);
    ctx.record(
      readingFigure(
        {
          ...common,
          metric: 'server-rss',
          unit: 'MB',
          note: `highest of ${REST_SECONDS} samples with the whole class on the page`,
        },
        Math.max(...rss),
      ),
    );
    ctx.record(
      readingFigure(
        {
          ...common,
          metric: 'server-cpu',
          unit: '%',
          note: `% of one core over ${REST_SECONDS} s with the whole class, every device writing a load change to every store every 5 s`,
        },
        cpuPercent(restStart, restEnd),
      ),
    );
  } finally {
    ctx.log(`  stopping ${hosts.length} attendee processes (each device deregisters)`);
    await Promise.all(hosts.map((h) => h.stop()));
  }
}

export const classroomScenario: Scenario = {
  id: 'classroom',
  title:
    "classroom: the kit's real joins (10 attendees; 5 with --quick), then 40 attendees x 3 devices (10 with --quick): time to the page, server RSS and CPU",
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
      await realJoins(ctx, stack, page, ctx.quick ? 5 : 10);
      await fullClass(ctx, stack, page, ctx.quick ? 10 : 40);
    } finally {
      page.close();
      await stack.stop();
    }
  },
};
