// `npm run footprint:agent`: the agent's memory and CPU when idle, as it runs on a Pi (the bundled
// file, plain node), with all three stores. Prints measured figures; asserts nothing.
//   --seconds N    idle time measured (default 60)   --stores etcd,consul   only some stores
//   --node-flags="--x --y"   instead of the flags of device/fleetkit-agent.service

import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildAgent } from '../../device/build.ts';
import { unitNodeFlags } from '../../device/unit.ts';
import { isEntryPoint } from '../../lib/cli/entry-point.ts';
import { type StoreKind, startStore, stopAllStores } from '../../provision/stores/index.ts';
import { freePort } from '../support/ports.ts';
import { cpuPercent, sampleProc as sample } from './support/proc.ts';

export interface Footprint {
  stores: StoreKind[];
  idleSeconds: number;
  rssMb: number;
  peakRssMb: number;
  cpuPercentOfOneCore: number;
}

export async function measureAgentFootprint(
  stores: StoreKind[],
  idleSeconds: number,
  log = (_: string) => {},
  nodeFlags: string[] = unitNodeFlags(),
) {
  const dir = await mkdtemp(path.join(tmpdir(), 'fleetkit-footprint-'));
  const { file } = await buildAgent(dir);
  const running = await Promise.all(stores.map((kind) => startStore(kind)));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    FLEET_LISTEN: '127.0.0.1',
    FLEET_LOG_LEVEL: 'warn',
  };
  running.forEach((store) => {
    env[`FLEET_${store.kind.toUpperCase()}`] = store.endpoints.join(',');
  });
  const port = await freePort();
  env.FLEET_PORT = String(port);
  const child = spawn(process.execPath, [...nodeFlags, file], {
    cwd: dir,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    // Start-up and registration are not idle: measured once the agent says it is registered in every
    // store, and 5 s more (its first load reports, the JIT). With several agents and their stores
    // starting at once on 2 cores (the quick run), a fixed 5 s from spawn measured the start-up too.
    const registeredMs = await registeredEverywhere(port, stores.length, 60_000);
    log(`  registered in every store ${(registeredMs / 1000).toFixed(1)} s after spawn; settling 5 s`);
    await new Promise((r) => setTimeout(r, 5000));
    const first = sample(child.pid!);
    let previous = first;
    for (let s = 10; s <= idleSeconds; s += 10) {
      await new Promise((r) => setTimeout(r, 10_000));
      const now = sample(child.pid!);
      // The CPU of each 10 s on its own: whether start-up is still in the window shows as a falling curve.
      log(
        `  ${s}/${idleSeconds} s idle: RSS ${now.rssMb.toFixed(1)} MB, CPU ${cpuPercent(previous, now).toFixed(1)} % over the last 10 s`,
      );
      previous = now;
    }
    const last = sample(child.pid!);
    const elapsed = (last.at - first.at) / 1000;
    return {
      stores,
      idleSeconds: Math.round(elapsed),
      rssMb: Math.round(last.rssMb * 10) / 10,
      peakRssMb: Math.round(last.peakMb * 10) / 10,
      cpuPercentOfOneCore: Math.round(cpuPercent(first, last) * 10) / 10,
    } satisfies Footprint;
  } finally {
    child.kill('SIGTERM');
    await exited; // it deregisters before the stores go
    await Promise.all(running.map((s) => s.stop({ removeData: true })));
  }
}

/** Polls the agent's /status (4 a second) until all `stores` say registered; ms since the call. */
async function registeredEverywhere(port: number, stores: number, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const status = await fetch(`http://127.0.0.1:${port}/status`)
      .then((r) => r.json() as Promise<{ stores?: { registration?: string }[] }>)
      .catch(() => undefined);
    const registered = status?.stores?.filter((s) => s.registration === 'registered').length ?? 0;
    if (registered === stores) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the agent was not registered in its ${stores} store(s) within ${timeoutMs} ms`);
}

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgs({
    options: { seconds: { type: 'string' }, stores: { type: 'string' }, 'node-flags': { type: 'string' } },
  });
  const stores = (values.stores ?? 'etcd,zookeeper,consul').split(',') as StoreKind[];
  const seconds = Number(values.seconds ?? 60);
  process.stdout.write(`agent footprint: bundled agent, stores ${stores.join(', ')}, ${seconds} s idle\n`);
  try {
    const flags = values['node-flags']?.split(' ').filter(Boolean) ?? unitNodeFlags();
    process.stdout.write(`node flags: ${flags.join(' ') || '(none)'}\n`);
    const f = await measureAgentFootprint(
      stores,
      seconds,
      (line) => process.stdout.write(`${line}\n`),
      flags,
    );
    process.stdout.write(
      `RSS ${f.rssMb} MB (peak ${f.peakRssMb} MB), CPU ${f.cpuPercentOfOneCore} % of one core over ${f.idleSeconds} s idle` +
        ` (targets: RSS <= 60 MB, CPU <= 1 %)\n`,
    );
  } finally {
    await stopAllStores();
  }
}
