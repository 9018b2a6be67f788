// Runs the real `fleetkit agent` CLI as a child process, as a Pi would, against the test's stores.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AgentStatus } from '../../device/agent.ts';
import { DEFAULT_LIVENESS, livenessWindowMs, STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import type { StoreProcess } from '../../provision/stores/index.ts';
import { eventually } from './eventually.ts';
import { freePort } from './ports.ts';

export const FLEETKIT = fileURLToPath(new URL('../../provision/fleetkit.mjs', import.meta.url));

/** The liveness that TEST_LIVENESS_ENV gives the agents, and each store's window under it. */
export const TEST_LIVENESS = {
  ...DEFAULT_LIVENESS,
  leaseTtlSeconds: 2,
  sessionTimeoutMs: 2000,
  checkIntervalSeconds: 1,
  checkTimeoutSeconds: 1,
};
export const TEST_WINDOWS_MS = Object.fromEntries(
  STORE_KINDS.map((kind) => [kind, livenessWindowMs(kind, TEST_LIVENESS)]),
) as Record<StoreKind, number>;

/** Short windows, so that tests of unplugging take seconds. */
export const TEST_LIVENESS_ENV = {
  FLEET_ETCD_TTL: '2',
  FLEET_ZOOKEEPER_SESSION_TIMEOUT: '2000',
  FLEET_CONSUL_INTERVAL: '1',
  FLEET_CONSUL_TIMEOUT: '1',
  FLEET_REPORT_INTERVAL: '1',
};

export interface RunningAgent {
  child: ChildProcess;
  port: number;
  url: string;
  startedAt: number;
  stdout: () => string;
  stderr: () => string;
  status(): Promise<AgentStatus>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function storeEnv(
  stores: Partial<Record<'etcd' | 'zookeeper' | 'consul', StoreProcess>>,
): Record<string, string> {
  const env: Record<string, string> = {};
  if (stores.etcd) env.FLEET_ETCD = stores.etcd.endpoints.join(',');
  if (stores.zookeeper) env.FLEET_ZOOKEEPER = stores.zookeeper.endpoints.join(',');
  if (stores.consul) env.FLEET_CONSUL = stores.consul.endpoints.join(',');
  return env;
}

export async function startAgent(
  env: Record<string, string>,
  /** `ipc`: open a Node IPC channel to the agent, as the simulated fleet and `join` do (child.send). */
  /** `program`: what to run instead of this node (the ARM tests run qemu-user with the command as its arguments). */
  options: {
    program?: string;
    command?: string[];
    cwd?: string;
    waitUntilServing?: boolean;
    ipc?: boolean;
  } = {},
): Promise<RunningAgent> {
  const port = Number(env.FLEET_PORT ?? (await freePort()));
  const startedAt = Date.now();
  const command = options.command ?? [FLEETKIT, 'agent'];
  const child = spawn(options.program ?? process.execPath, command, {
    cwd: options.cwd,
    env: {
      PATH: process.env.PATH ?? '',
      FLEET_LISTEN: '127.0.0.1',
      ...TEST_LIVENESS_ENV,
      FLEET_PORT: String(port),
      ...env,
    },
    stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = `http://127.0.0.1:${port}`;
  const agent: RunningAgent = {
    child,
    port,
    url,
    startedAt,
    stdout: () => out,
    stderr: () => err,
    status: async () => (await fetch(`${url}/status`)).json() as Promise<AgentStatus>,
    exited,
  };
  if (options.waitUntilServing !== false) {
    await eventually(`agent on ${url} serving (stderr: ${err.slice(-300)})`, () => agent.status(), {
      timeoutMs: 15_000,
    });
  }
  return agent;
}
