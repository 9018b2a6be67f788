// The stores, the page and a simulated fleet of real agents (the bundle, as on a Pi), each device in
// its own network namespace as root, else a plain process. Ready when every column shows every device.
import { unitNodeFlags } from '../../../device/unit.ts';
import type { LivenessSettings } from '../../../lib/registry/index.ts';
import { STORE_KINDS } from '../../../lib/registry/index.ts';
import type { SimMode } from '../../../provision/sim/device.ts';
import { SimFleet } from '../../../provision/sim/fleet.ts';
import { now } from './clock.ts';
import { BENCH_NAMESPACE, BENCH_SERVICE, type Stack, startStack } from './stack.ts';

export interface FleetSession {
  stack: Stack;
  fleet: SimFleet;
  devices: number;
  ids: string[];
  stop(): Promise<void>;
}

/** The session's processes by role, for CPU accounting (test/bench/support/proc.ts cpuSecondsOf). */
export function processGroups(session: FleetSession): Record<string, number[]> {
  const { stack, fleet } = session;
  return {
    devices: fleet.list().flatMap((d) => (d.pid ? [d.pid] : [])),
    server: stack.server.child.pid ? [stack.server.child.pid] : [],
    stores: Object.values(stack.stores).flatMap((s) => (s.pid ? [s.pid] : [])),
  };
}

export async function startFleetSession(options: {
  devices: number;
  simMode: SimMode;
  liveness: LivenessSettings;
  log: (line: string) => void;
}): Promise<FleetSession> {
  const { devices, simMode, liveness, log } = options;
  const stack = await startStack({
    liveness,
    host: simMode === 'namespaces' ? '0.0.0.0' : '127.0.0.1',
    log,
    // The server's hop stamps for the per-hop figures (server/page/bench-trace.ts); the page shows none.
    serverEnv: { FLEET_BENCH_TRACE: 'on' },
  });
  let fleet: SimFleet | undefined;
  try {
    const started = now();
    fleet = await SimFleet.start({
      count: devices,
      mode: simMode,
      stores: stack.endpoints,
      namespace: BENCH_NAMESPACE,
      service: BENCH_SERVICE,
      liveness,
      nodeFlags: unitNodeFlags(),
      labels: 'zone=bench',
      log: (line) => log(`  ${line}`),
    });
    const names = STORE_KINDS.map((store) => `count-${store}`);
    await stack.probe.watch(
      STORE_KINDS.map((store) => [`count-${store}`, { kind: 'count', store, count: devices }]),
    );
    const timer = setInterval(async () => {
      const shown = await stack.page
        .evaluate(
          `[${STORE_KINDS.map((s) => `document.querySelectorAll('.tile[data-store="${s}"]').length`).join(',')}]`,
        )
        .catch(() => []);
      log(
        `  waiting for ${devices} devices on the page: ${(shown as number[]).join(' / ')} (etcd / ZooKeeper / Consul)`,
      );
    }, 5000);
    try {
      await stack.probe.waitFor(names, 60_000 + devices * 1000);
    } finally {
      clearInterval(timer);
    }
    log(
      `  ${devices} devices (${simMode}) on the page in every column after ${((now() - started) / 1000).toFixed(1)} s`,
    );
    const running = fleet;
    return {
      stack,
      fleet: running,
      devices,
      ids: running.list().map((d) => d.id),
      async stop() {
        await running.stop();
        await stack.stop();
      },
    };
  } catch (error) {
    await fleet?.stop();
    await stack.stop();
    throw error;
  }
}
