// Many simulated devices in one process, for the scale benchmark: K real agents (device/agent.ts),
// each with its own device id, its own HTTP server (so that Consul checks each one over HTTP, as it
// checks a Pi) and its own store clients. Only the load is synthetic: one process measuring the
// machine K times would measure nothing but itself, so each device makes up a load that changes by more
// than the agent's write thresholds every report, as a busy fleet's would: every device writes a load
// update to every store every report interval.
//
//   node --import tsx test/bench/support/device-host.ts --count 250 --prefix scale-0 --rate 40
// Store endpoints, namespace, service and liveness come from the FLEET_* variables, as for the agent.
// Prints JSON lines on stdout: {"started":n,"registered":{"etcd":n,...},"updates":n} every second, and
// {"ready":true} once every device is started. SIGTERM or SIGINT: every agent deregisters, then exit.
// --hold: load everything, print {"held":true}, and start the devices only when a line comes on stdin
// (the bench then times the stores and the page alone, the laptops' Node already running).
import { parseArgs } from 'node:util';
import { Agent } from '../../../device/agent.ts';
import { parseAgentConfig } from '../../../device/config.ts';
import { createDeviceServer, listen } from '../../../device/http/server.ts';
import { deviceLabels } from '../../../device/labels.ts';
import { loadChanged } from '../../../device/load.ts';
import { AGENT_VERSION } from '../../../device/version.ts';
import { createLogger } from '../../../lib/cli/log.ts';
import { onShutdown } from '../../../lib/cli/shutdown.ts';
import { type MachineLoad, STORE_KINDS, type StoreKind } from '../../../lib/registry/index.ts';
import { allocatePorts } from '../../../provision/stores/ports.ts';

const HOST = '127.0.0.1';

export interface HostReport {
  started: number;
  registered: Record<StoreKind, number>;
  /** MachineLoad changes made so far (each is written to every store). */
  updates: number;
  ready?: true;
  /** --hold: loaded, waiting for a line on stdin to start the devices. */
  held?: true;
}

/** A made-up load that moves by more than device/load.ts's thresholds on every call. */
export function syntheticLoad(seed: number): () => Promise<MachineLoad> {
  const startedAt = Date.now();
  let step = seed;
  let previous: MachineLoad | null = null;
  return async () => {
    step++;
    const load: MachineLoad = {
      cpuPercent: 5 + ((step * 37 + seed) % 90), // moves 37 (or 53) points a step
      load1: Math.round((0.2 + ((step * 7) % 20) / 10) * 100) / 100,
      memUsedPercent: 20 + (step % 2) * 5 + (seed % 10),
      temperatureC: null,
      uptimeSeconds: Math.floor((Date.now() - startedAt) / 1000),
    };
    if (!loadChanged(previous, load)) throw new Error('synthetic load did not change: fix syntheticLoad');
    previous = load;
    return load;
  };
}

async function main() {
  // The bench reads our stdout: when it is gone, nobody is left to stop us.
  process.stdout.on('error', () => process.kill(process.pid, 'SIGTERM'));
  const { values } = parseArgs({
    options: {
      count: { type: 'string' },
      prefix: { type: 'string' },
      rate: { type: 'string', default: '40' },
      hold: { type: 'boolean', default: false },
    },
  });
  const count = Number(values.count);
  const rate = Number(values.rate);
  if (!(count > 0) || !values.prefix || !(rate > 0))
    throw new Error('usage: device-host --count N --prefix ID-PREFIX [--rate DEVICES-PER-SECOND]');
  const parsed = parseAgentConfig({ argv: [], env: process.env });
  if (parsed.help) throw new Error('no --help here');
  const base = parsed.config;
  const log = createLogger('agent', base.logLevel);
  const labels = await deviceLabels(AGENT_VERSION, { ...base.labels, sim: 'scale' });

  const agents: Agent[] = [];
  const servers: Awaited<ReturnType<typeof listen>>[] = [];
  let measured = 0;
  let stopping = false;
  const report = (extra: Partial<HostReport> = {}) => {
    const registered = Object.fromEntries(STORE_KINDS.map((s) => [s, 0])) as Record<StoreKind, number>;
    for (const agent of agents)
      for (const s of agent.status().stores) if (s.registration === 'registered') registered[s.store]++;
    // the first measurement of each device goes with its registration; every later one is an update
    const line: HostReport = {
      started: agents.length,
      registered,
      updates: Math.max(0, measured - agents.length),
      ...extra,
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  };
  const reporter = setInterval(report, 1000);

  onShutdown(async () => {
    stopping = true;
    clearInterval(reporter);
    await Promise.all(agents.map((a) => a.stop()));
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
  });

  if (values.hold) {
    report({ held: true });
    await new Promise<void>((resolve) => {
      process.stdin.once('data', () => resolve());
      process.stdin.once('end', () => resolve());
    });
    process.stdin.pause();
  }
  const gapMs = 1000 / rate;
  const t0 = Date.now();
  for (let i = 0; i < count && !stopping; i++) {
    // A port free a moment ago may be taken by now (our own agents' outgoing connections use the same
    // range): the device gets the next free one, as an operator would set FLEET_PORT.
    let server: Awaited<ReturnType<typeof listen>> | undefined;
    let agent: Agent | undefined;
    for (let attempt = 1; !server; attempt++) {
      const port = (await allocatePorts(HOST, ['device'])).device;
      const deviceId = `${values.prefix}-${i}`;
      const config = { ...base, port: port!, deviceId, host: HOST, listen: HOST };
      const load = syntheticLoad(i);
      agent = new Agent(
        config,
        { id: deviceId, host: HOST, labels, version: AGENT_VERSION },
        log.child({ device: deviceId }),
        {
          measureLoad: () => {
            measured++;
            return load();
          },
        },
      );
      server = await listen(createDeviceServer(agent), config.port, HOST).catch((error: Error) => {
        if (attempt >= 5 || !/is taken/.test(error.message)) throw error;
        return undefined;
      });
    }
    servers.push(server);
    await agent!.start();
    agents.push(agent!);
    const wait = t0 + (i + 1) * gapMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  if (!stopping) report({ ready: true });
}

main().catch((error) => {
  process.stderr.write(`device-host: ${(error as Error).message}\n`);
  process.exit(1);
});
