// Runs the real `fleetkit server` CLI as a child process against the test's stores.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FLEETKIT, TEST_LIVENESS_ENV } from './agents.ts';
import { eventually } from './eventually.ts';
import { freePort } from './ports.ts';

export interface RunningServer {
  child: ChildProcess;
  port: number;
  url: string;
  token: string;
  presenterUrl: string;
  output: () => string;
  /** Its stderr alone: warnings, errors and anything Node printed itself. */
  stderr: () => string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export async function startServer(
  env: Record<string, string>,
  port?: number,
  token = 'test-presenter-token',
  /** The node that runs it (another Node.js line: test/device/node-lines.test.ts); default this one. */
  node = process.execPath,
): Promise<RunningServer> {
  const serverPort = port ?? (await freePort());
  // Its own data directory (the timeline's file), unless the test shares one across a restart.
  const ownData = env.FLEET_SERVER_DATA === undefined;
  const dataDir = env.FLEET_SERVER_DATA ?? (await mkdtemp(path.join(tmpdir(), 'fleetkit-server-')));
  const child = spawn(node, [FLEETKIT, 'server'], {
    env: {
      PATH: process.env.PATH ?? '',
      ...TEST_LIVENESS_ENV,
      FLEET_SERVER_PORT: String(serverPort),
      FLEET_SERVER_LISTEN: '127.0.0.1',
      FLEET_PRESENTER_TOKEN: token,
      FLEET_SERVER_DATA: dataDir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => {
    output += d;
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${serverPort}/`;
  await eventually(
    `server on ${url} (output: ${output.slice(-400)})`,
    async () => (await fetch(`${url}healthz`)).ok,
    {
      timeoutMs: 20_000,
    },
  );
  return {
    child,
    port: serverPort,
    url,
    token,
    presenterUrl: `${url}?token=${token}`,
    output: () => output,
    stderr: () => stderr,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      if (ownData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
