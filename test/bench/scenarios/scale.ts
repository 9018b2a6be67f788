// Scale: 1,000 simulated devices in all three stores, every one writing a load update every report
// interval (as a busy fleet does), and meanwhile a probe device's load updates timed from the store
// write to the page's DOM; the server's memory and CPU sampled from /proc. Devices share processes
// (device-host.ts: up to 250 real agents per process, each with its own HTTP server and store clients).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { bundleForNode } from '../../../device/node-bundle.ts';
import { livenessEnv } from '../../../lib/cli/common-settings.ts';
import {
  CONSUL_AGENT_PASSES_PER_SECOND,
  CONSUL_PASSES_PER_TTL,
  consulTtlFor,
  DEFAULT_CONSUL_LOAD_INTERVAL_SECONDS,
  STORE_KINDS,
  type StoreKind,
} from '../../../lib/registry/index.ts';
import { delay } from '../../support/eventually.ts';
import { now } from '../support/clock.ts';
import { type BenchContext, floorOf, type Scenario } from '../support/context.ts';
import type { HostReport } from '../support/device-host.ts';
import { distributionFigure, readingFigure } from '../support/figures.ts';
import { ProbeDevices } from '../support/probe-device.ts';
import { cpuPercent, descendants, type ProcSample, sampleAll, sampleProc } from '../support/proc.ts';
import { BENCH_NAMESPACE, BENCH_SERVICE, type Stack, startStack } from '../support/stack.ts';
import { summarize } from '../support/stats.ts';

const LATENCY_TARGET = { max: 500, text: 'p99 <= 500 ms (1,000 devices)' };
const RSS_TARGET = { max: 300, text: 'RSS <= 300 MB (1,000 devices)' };
const PER_HOST = 250;
/** Devices started per second by each host: the stores see registrations arrive, not a storm. */
const START_RATE = 40;
/** One probe update every this often (each store in turn). */
const PROBE_EVERY_MS = 200;
/** An update the page never shows within this counts as this (and is reported). */
const PROBE_TIMEOUT_MS = 10_000;
const PROBE_ID = 'scale-probe';
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

let hostBundle: Promise<string> | undefined;
/**
 * device-host.ts bundled once per run into one plain .mjs file (as the Pis' agent is): forty hosts
 * each compiling TypeScript at start on two cores took 50 s before the first agent registered.
 */
function hostScript(): Promise<string> {
  hostBundle ??= (async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'fleetkit-bench-')), 'device-host.mjs');
    await writeFile(file, await bundleForNode('test/bench/support/device-host.ts'));
    return file;
  })();
  return hostBundle;
}

/** One process of simulated devices (also the classroom scenario's attendees). */
export class DeviceHost {
  last: HostReport | undefined;
  ready = false;
  /** Started with `hold`: loaded and waiting for go(). */
  held = false;
  private stderr = '';
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly count: number,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const report = JSON.parse(line) as HostReport;
        this.last = report;
        if (report.ready) this.ready = true;
        if (report.held) this.held = true;
      } catch {
        // not a report
      }
    });
    child.stderr!.on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-2000);
    });
  }

  /** Bundles the host script now (once per run), so that starting hosts later costs no build. */
  static prepare(): Promise<string> {
    return hostScript();
  }

  /**
   * `env`: more FLEET_* settings for its agents (labels, liveness), over the stack's. `hold`: load,
   * then wait for go() before starting any device.
   */
  static async start(
    stack: Stack,
    name: string,
    count: number,
    env: Record<string, string> = {},
    { hold = false } = {},
  ): Promise<DeviceHost> {
    const child = spawn(
      process.execPath,
      [
        await hostScript(),
        '--count',
        String(count),
        '--prefix',
        name,
        '--rate',
        String(START_RATE),
        ...(hold ? ['--hold'] : []),
      ],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          ...livenessEnv(stack.liveness),
          ...Object.fromEntries(
            STORE_KINDS.map((k) => [`FLEET_${k.toUpperCase()}`, stack.endpoints[k].join(',')]),
          ),
          FLEET_NAMESPACE: BENCH_NAMESPACE,
          FLEET_SERVICE: BENCH_SERVICE,
          FLEET_LOG_LEVEL: 'warn',
          ...env,
        },
        stdio: [hold ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      },
    );
    return new DeviceHost(name, count, child);
  }

  /** Starts the devices of a host started with `hold`. */
  go(): void {
    this.child.stdin?.end('go\n');
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  problem(): string {
    return `device host ${this.name} exited (${this.child.exitCode ?? this.child.signalCode}): ${this.stderr.trim().split('\n').slice(-3).join(' | ')}`;
  }

  /** SIGTERM (every agent deregisters), SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

const mb = (x: number) => Math.round(x * 10) / 10;

/** CPU of named groups of processes since the previous call, for progress lines. */
class CpuMeter {
  private previous = new Map<number, ProcSample>();
  constructor(private readonly groups: () => [string, number[]][]) {
    this.line();
  }

  line(): string {
    const parts: string[] = [];
    const current = new Map<number, ProcSample>();
    for (const [name, pids] of this.groups()) {
      let total = 0;
      for (const [pid, sample] of sampleAll(pids)) {
        current.set(pid, sample);
        const before = this.previous.get(pid);
        if (before) total += cpuPercent(before, sample);
      }
      parts.push(`${name} ${total.toFixed(0)}`);
    }
    this.previous = current;
    return `CPU % of a core: ${parts.join(', ')}`;
  }
}

export const scaleScenario: Scenario = {
  id: 'scale',
  title: 'scale: many simulated devices x 3 stores: page latency, server RSS and CPU',
  async run(ctx: BenchContext) {
    const devices = ctx.quick ? 300 : 1000;
    const seconds = ctx.quick ? 20 : 60;
    // A quiet machine: this scenario brings its own stack and fleet.
    await ctx.releaseFleet();
    const serverNodeOptions = process.env.FLEET_BENCH_SERVER_NODE_OPTIONS;
    // Consul with TTL checks here: the devices heartbeat (a pass every third of the TTL: ~600 agent-local
    // calls a second at 1,000 with the default 5 s, no Raft write while the output stays the same), the
    // agent runs no HTTP checks (500 a second at 1,000 with the default 2 s interval, each a request to
    // a device). Consul's intended topology, an agent per node running its devices' checks, is not what
    // one control host's agent can do for 1,000 devices. Its data dir is in tmpfs here (the stack's
    // stores run without fsync): on disk, Consul rewrites a check-state file on every pass, and 1,000
    // devices stalled its agent (docs/stores.md). The TTL is long enough for one agent to take every
    // device's passes (consulTtlFor: 15 s at 1,000; at 5 s its passes took seconds and checks expired).
    const consulTtl = consulTtlFor(devices, ctx.liveness.checkTtlSeconds);
    const stack = await startStack({
      liveness: { ...ctx.liveness, consulCheck: 'ttl', checkTtlSeconds: consulTtl },
      host: '127.0.0.1',
      log: ctx.log,
      serverEnv: serverNodeOptions ? { NODE_OPTIONS: serverNodeOptions } : undefined,
    });
    const hosts: DeviceHost[] = [];
    let probe: ProbeDevices | undefined;
    try {
      // The fleet's color is set before it starts, as after a presenter's first Apply. Consul answers a
      // blocking query on a key that does not exist whenever any key near it is written: with no color
      // yet, every status write of 1,000 devices woke the config watch of all 1,000 (docs/stores.md).
      probe = await ProbeDevices.start(stack);
      await probe.setColor('#2a9d8f');
      const hostCount = Math.ceil(devices / PER_HOST);
      ctx.log(
        `  starting ${devices} devices in ${hostCount} processes (${START_RATE} devices/s each, up to ${PER_HOST} per process)`,
      );
      const started = now();
      for (let h = 0; h < hostCount; h++) {
        const count = Math.min(PER_HOST, devices - h * PER_HOST);
        hosts.push(await DeviceHost.start(stack, `scale-${h}`, count));
      }
      const pagePids = descendants(process.pid, /^chrom/);
      const meter = new CpuMeter(() => [
        ['server', [stack.server.child.pid!]],
        ['page', pagePids],
        ['devices', hosts.map((h) => h.child.pid!)],
        ...STORE_KINDS.map((k): [string, number[]] => [k, [stack.stores[k].pid!]]),
      ]);
      await waitForFleet(ctx, stack, hosts, devices, meter);
      ctx.log(
        `  ${devices} devices on the page in every column after ${((now() - started) / 1000).toFixed(1)} s`,
      );

      // A store whose write path is saturated may not take the probe in time: the others are measured.
      const tried = await Promise.all(
        STORE_KINDS.map(async (s) => {
          try {
            return [s, await probe!.registered(s, PROBE_ID, 90_000)] as const;
          } catch (error) {
            const text = `scale: the probe could not register in ${s} (${(error as Error).message}): no page-update-latency for ${s}`;
            ctx.log(`  ${text}`);
            ctx.note(text);
            return undefined;
          }
        }),
      );
      const held = new Map(tried.filter((t) => t !== undefined));
      const measured = STORE_KINDS.filter((s) => held.has(s));
      if (measured.length === 0) throw new Error('the probe could not register in any store');
      const shown = measured.map((store) => `probe-${store}`);
      await stack.probe.watch(
        measured.map((store, i) => [shown[i]!, { kind: 'present', store, id: PROBE_ID }]),
      );
      await stack.probe.waitFor(shown, 60_000);
      const atStart = await tilesShown(stack);

      // What the page receives: socket.io frames of the page's websocket, counted in Chromium.
      const frames = { batches: 0, devices: 0, bytes: 0 };
      const cdp = await stack.page.context().newCDPSession(stack.page);
      cdp.on('Network.webSocketFrameReceived', (event) => {
        const payload = event.response.payloadData;
        if (!payload.startsWith('42["changes"')) return;
        frames.batches++;
        frames.bytes += payload.length;
        frames.devices += payload.split('"seenAt":').length - 1;
      });
      await cdp.send('Network.enable');

      const serverPid = stack.server.child.pid!;
      const storePids = STORE_KINDS.map((k) => stack.stores[k].pid!);
      const hostPids = hosts.map((h) => h.child.pid!);
      const watched = [serverPid, ...storePids, ...hostPids, ...pagePids];
      const first = sampleAll(watched);
      const updatesBefore = hosts.reduce((sum, h) => sum + (h.last?.updates ?? 0), 0);
      const serverRss: number[] = [first.get(serverPid)!.rssMb];
      const sampler = setInterval(() => {
        try {
          serverRss.push(sampleProc(serverPid).rssMb);
        } catch {
          // the server is gone: the probe's updates will say so
        }
      }, 1000);

      ctx.log(
        `  measuring for ${seconds} s: a probe load update every ${PROBE_EVERY_MS} ms, each store in turn`,
      );
      const latency: Record<StoreKind, number[]> = { etcd: [], zookeeper: [], consul: [] };
      const missed: Record<StoreKind, number> = { etcd: 0, zookeeper: 0, consul: 0 };
      /** From the update() call until the store acknowledged the write: the store's share of the latency. */
      const written: Record<StoreKind, number[]> = { etcd: [], zookeeper: [], consul: [] };
      let i = 0;
      const windowStart = now();
      const end = windowStart + seconds * 1000;
      let nextLog = windowStart + 10_000;
      try {
        while (now() < end) {
          for (const store of measured) {
            const slot = now();
            const { writtenMs, shownMs } = await probe.timedLoadUpdate(
              stack.probe,
              store,
              held.get(store)!,
              PROBE_TIMEOUT_MS,
            );
            written[store].push(writtenMs);
            i++;
            if (shownMs === undefined) missed[store]++;
            latency[store].push(shownMs ?? PROBE_TIMEOUT_MS);
            const lost = hosts.find((h) => !h.running);
            if (lost) throw new Error(lost.problem());
            await delay(Math.max(0, slot + PROBE_EVERY_MS * (0.75 + Math.random() / 2) - now()));
          }
          if (now() > nextLog) {
            nextLog += 10_000;
            const rss = serverRss.at(-1) ?? 0;
            ctx.log(
              `  ${Math.round((now() - windowStart) / 1000)}/${seconds} s: ${i} probe updates, server RSS ${rss.toFixed(0)} MB; ${meter.line()}`,
            );
          }
        }
      } finally {
        clearInterval(sampler);
      }
      const last = sampleAll(watched);
      const windowSeconds = (now() - windowStart) / 1000;
      const updatesAfter = hosts.reduce((sum, h) => sum + (h.last?.updates ?? 0), 0);
      await cdp.detach().catch(() => undefined);

      for (const store of measured) {
        ctx.record(
          distributionFigure(
            {
              scenario: 'scale',
              metric: 'page-update-latency',
              store,
              devices: atStart[store] - 1, // not the probe
              unit: 'ms',
              floor: floorOf(ctx, store),
              target: LATENCY_TARGET,
              note:
                missed[store] > 0
                  ? `${missed[store]} update(s) never shown within ${PROBE_TIMEOUT_MS / 1000} s (counted as ${PROBE_TIMEOUT_MS} ms)`
                  : null,
            },
            latency[store],
          ),
        );
      }
      const cpuOf = (pid: number) => {
        const a = first.get(pid);
        const b = last.get(pid);
        return a && b ? cpuPercent(a, b) : 0;
      };
      const rssOf = (pid: number) => last.get(pid)?.rssMb ?? 0;
      ctx.record(
        readingFigure(
          {
            scenario: 'scale',
            metric: 'server-rss',
            store: 'all',
            devices,
            unit: 'MB',
            target: RSS_TARGET,
            note: `highest of ${serverRss.length} samples, one a second over the ${seconds} s window`,
          },
          Math.max(...serverRss),
        ),
      );
      ctx.record(
        readingFigure(
          {
            scenario: 'scale',
            metric: 'server-cpu',
            store: 'all',
            devices,
            unit: '%',
            note: `% of one core over the ${seconds} s window (user + system)`,
          },
          cpuOf(serverPid),
        ),
      );
      for (const [k, store] of STORE_KINDS.entries()) {
        const pid = storePids[k]!;
        ctx.record(
          readingFigure(
            {
              scenario: 'scale',
              metric: 'store-rss',
              store,
              devices,
              unit: 'MB',
              note: 'at the end of the window',
            },
            rssOf(pid),
          ),
        );
        ctx.record(
          readingFigure(
            {
              scenario: 'scale',
              metric: 'store-cpu',
              store,
              devices,
              unit: '%',
              note: '% of one core over the window',
            },
            cpuOf(pid),
          ),
        );
      }
      const hostRss = hostPids.reduce((sum, pid) => sum + rssOf(pid), 0);
      const hostCpu = hostPids.reduce((sum, pid) => sum + cpuOf(pid), 0);
      ctx.record(
        readingFigure(
          {
            scenario: 'scale',
            metric: 'device-host-rss-per-device',
            store: 'all',
            devices,
            unit: 'MB',
            note: `${mb(hostRss)} MB in ${hosts.length} processes / ${devices} devices (shared runtime: not a Pi's agent)`,
          },
          hostRss / devices,
        ),
      );
      ctx.record(
        readingFigure(
          {
            scenario: 'scale',
            metric: 'device-hosts-cpu',
            store: 'all',
            devices,
            unit: '%',
            note: `all ${hosts.length} device processes together, % of one core over the window`,
          },
          hostCpu,
        ),
      );
      const pageCpu = pagePids.reduce((sum, pid) => sum + cpuOf(pid), 0);
      ctx.record(
        readingFigure(
          {
            scenario: 'scale',
            metric: 'page-cpu',
            store: 'all',
            devices,
            unit: '%',
            note: `headless Chromium, all ${pagePids.length} processes, % of one core over the window`,
          },
          pageCpu,
        ),
      );
      const writes = (updatesAfter - updatesBefore) / windowSeconds;
      ctx.note(
        `scale: ${devices} simulated devices share ${hosts.length} processes (up to ${PER_HOST} each); each is a real agent with its own HTTP server and store clients, only its load is made up (changed every ${5} s report, so each device writes a load update to each store every report). Consul: TTL checks (${stack.liveness.checkTtlSeconds} s: one agent takes about ${CONSUL_AGENT_PASSES_PER_SECOND} passes/s), each device passes its check every ${(stack.liveness.checkTtlSeconds / CONSUL_PASSES_PER_TTL).toFixed(1)} s (${Math.round((devices * CONSUL_PASSES_PER_TTL) / stack.liveness.checkTtlSeconds)} passes/s, agent-local); its load and color are its status entry in KV (a KV write per change, no re-registration), load-only writes paced to one per ${DEFAULT_CONSUL_LOAD_INTERVAL_SECONDS} s per device.`,
      );
      ctx.note(
        `scale: during the ${seconds} s window the devices made ${writes.toFixed(0)} load updates/s (each written to all 3 stores); the page received ${(frames.batches / windowSeconds).toFixed(0)} batches/s carrying ${(frames.devices / windowSeconds).toFixed(0)} device updates/s (${(frames.bytes / windowSeconds / 1024).toFixed(0)} KB/s).`,
      );
      ctx.note(
        `scale: of the probe's latency, the store's write acknowledgement took (p50 / p99 ms) ${measured
          .map((s) => {
            const w = summarize(written[s]);
            return `${s} ${w.p50.toFixed(1)} / ${w.p99.toFixed(1)}`;
          })
          .join(', ')}; the rest is watch, server and page.`,
      );
      ctx.note(
        `scale: machine load over the window (% of one core; 200 = both cores): server ${cpuOf(serverPid).toFixed(0)}, page ${pageCpu.toFixed(0)}, device hosts ${hostCpu.toFixed(0)}, ${STORE_KINDS.map((s, k) => `${s} ${cpuOf(storePids[k]!).toFixed(0)}`).join(', ')}.`,
      );
      const consulMetrics = await consulWriteMetrics(stack.endpoints.consul[0]!);
      if (consulMetrics) ctx.note(`scale: ${consulMetrics}`);
      await Promise.all([...held.values()].map((r) => r.deregister().catch(() => undefined)));
    } finally {
      await probe?.close().catch(() => undefined);
      ctx.log(`  stopping ${hosts.length} device processes (each device deregisters)`);
      await Promise.all(hosts.map((h) => h.stop()));
      await stack.stop();
    }
  },
};

/**
 * Consul's own timers, from /v1/agent/metrics (its last 10 s interval): service registrations through
 * its agent (only when a device registers: its load and color are KV writes), KV writes and catalog
 * syncs, how many and how long each took.
 */
async function consulWriteMetrics(endpoint: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${endpoint}/v1/agent/metrics`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as {
      Samples?: { Name: string; Count: number; Mean: number; Max: number }[];
    };
    const find = (name: string) => body.Samples?.find((x) => x.Name === name);
    const rate = (name: string, what: string) => {
      const sample = find(name);
      return sample
        ? `${what} ${(sample.Count / 10).toFixed(0)}/s (mean ${sample.Mean.toFixed(1)} ms, max ${sample.Max.toFixed(0)} ms)`
        : `${what} 0/s`;
    };
    return `Consul's last 10 s: ${[
      rate('consul.http.PUT.v1.agent.service.register', 'service registrations'),
      rate('consul.kvs.apply', 'KV writes'),
      rate('consul.catalog.register', 'catalog syncs'),
    ].join(', ')}`;
  } catch {
    return undefined;
  }
}

/** Tiles in each column of the page now. */
async function tilesShown(stack: Stack): Promise<Record<StoreKind, number>> {
  const counts = (await stack.page.evaluate(
    `[${STORE_KINDS.map((s) => `document.querySelectorAll('.tile[data-store="${s}"]').length`).join(',')}]`,
  )) as number[];
  return Object.fromEntries(STORE_KINDS.map((s, i) => [s, counts[i] ?? 0])) as Record<StoreKind, number>;
}

/**
 * Until every column shows `devices` tiles, or the time is up (then what each column shows); progress
 * every 5 s; fails when a device process dies.
 */
async function waitForFleet(
  ctx: BenchContext,
  stack: Stack,
  hosts: DeviceHost[],
  devices: number,
  meter: CpuMeter,
) {
  const names = STORE_KINDS.map((store) => `scale-count-${store}`);
  await stack.probe.watch(
    STORE_KINDS.map((store, i) => [names[i]!, { kind: 'count', store, count: devices }]),
  );
  const shownNow = () => tilesShown(stack);
  const progress = async () => {
    const shown = Object.values(await shownNow());
    const startedCount = hosts.reduce((sum, h) => sum + (h.last?.started ?? 0), 0);
    const registered = STORE_KINDS.map((s) =>
      hosts.reduce((sum, h) => sum + (h.last?.registered[s] ?? 0), 0),
    );
    ctx.log(
      `  ${startedCount}/${devices} started; registered ${registered.join(' / ')}; on the page ${shown.join(' / ')} (etcd / ZooKeeper / Consul); ${meter.line()}`,
    );
  };
  // Long enough for every store to take the whole fleet at its own pace on a loaded machine; a store
  // that cannot (its write path saturated) is measured with what it shows then, and said so.
  const timeoutMs = 60_000 + devices * 120;
  const deadline = now() + timeoutMs;
  let nextLog = now() + 5000;
  const seen = new Set<string>();
  for (;;) {
    const lost = hosts.find((h) => !h.running);
    if (lost) throw new Error(lost.problem());
    // The probe's stamps, taken without its waitFor (which gives up on a timeout): no latency is timed here.
    const taken = (await stack.page.evaluate(
      `window.__benchProbe.take(${JSON.stringify(names.filter((n) => !seen.has(n)))})`,
    )) as Record<string, number>;
    for (const name of Object.keys(taken)) seen.add(name);
    if (seen.size === names.length) return shownNow();
    if (now() > deadline) {
      await progress();
      await stack.probe.cancel(names);
      const shown = await shownNow();
      const empty = STORE_KINDS.filter((s) => shown[s] === 0);
      if (empty.length > 0)
        throw new Error(`no device on the page for ${empty.join(', ')} after ${timeoutMs / 1000} s`);
      return shown;
    }
    if (now() > nextLog) {
      nextLog += 5000;
      await progress();
    }
    await delay(250);
  }
}
