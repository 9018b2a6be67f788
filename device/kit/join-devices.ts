// The devices `join` starts: each one the kit's own agent (`node fleetkit.mjs agent`) in a process of
// its own with an IPC channel (the prompt's `stress` travels on it, device/stress-message.ts), its
// page on this laptop only, its warnings shown as a line each. A port another program (or another
// attendee on this machine) took meanwhile is tried again with the next free one.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { sleep } from '../../lib/registry/index.ts';
import type { AgentStatus } from '../agent.ts';
import type { StressStatus } from '../stress.ts';
import { type StressParams, sendStress } from '../stress-message.ts';
import { printable } from './terminal.ts';

/** A loaded laptop (or 40 attendees on one test machine) may take this long to start an agent. */
const SERVING_TIMEOUT_MS = 120_000;
/** Ports tried per device: several attendees on one machine (a test, the bench) race for the same ones. */
const PORT_ATTEMPTS = 20;
const PORT_SCAN = 400;
/** The agent deregisters within 3 s per store (at once); then it is killed. */
const STOP_TIMEOUT_MS = 10_000;

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The first port from `from` upward that nothing listens on and this join has not handed out. */
async function nextFreePort(from: number, handedOut: Set<number>): Promise<number> {
  for (let port = from; port < Math.min(65536, from + PORT_SCAN); port++) {
    if (handedOut.has(port)) continue;
    if (await portIsFree(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port from ${from} to ${from + PORT_SCAN - 1}: choose another --first-port`);
}

export interface DeviceLaunch {
  id: string;
  /** The command that runs the kit's agent: node, its flags, the kit file, 'agent'. */
  command: string[];
  env: NodeJS.ProcessEnv;
  firstPort: number;
  handedOut: Set<number>;
  /** A warning or error the agent logged (one line each, already made printable). */
  onLine: (id: string, line: string) => void;
  /** The agent exited without being asked to. */
  onExit: (device: JoinedDevice, code: number | null, signal: NodeJS.Signals | null) => void;
}

export class JoinedDevice {
  private stopping = false;
  /** The agent's last few warnings: what to show when it stops on its own. */
  readonly recent: string[] = [];
  readonly exited: Promise<void>;

  private constructor(
    readonly id: string,
    readonly port: number,
    readonly child: ChildProcess,
    onLine: DeviceLaunch['onLine'],
    onExit: DeviceLaunch['onExit'],
  ) {
    // 'close', not 'exit': its last words on stderr are read by then.
    this.exited = once(child, 'close').then(([code, signal]) => {
      if (!this.stopping) onExit(this, code as number | null, signal as NodeJS.Signals | null);
    });
    // The agent's logs are JSON lines: the message is what a person reads.
    createInterface({ input: child.stderr! }).on('line', (line) => {
      let text = line;
      try {
        const parsed = JSON.parse(line) as { msg?: unknown };
        if (typeof parsed.msg === 'string') text = parsed.msg;
      } catch {
        // Node's own output (a crash): shown as it is
      }
      const shown = printable(text, { max: 300 });
      this.recent.push(shown);
      if (this.recent.length > 5) this.recent.shift();
      onLine(this.id, shown);
    });
    child.stdout?.resume();
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the agent and waits until its page answers; another port when the one chosen was taken. */
  static async start(launch: DeviceLaunch): Promise<JoinedDevice> {
    let lastProblem = '';
    for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
      // The first try from --first-port upward (predictable pages); after a port was taken under it, a
      // random place in the range, so that devices racing for the same ports spread out.
      const from =
        attempt === 1 ? launch.firstPort : launch.firstPort + Math.floor(Math.random() * (PORT_SCAN / 2));
      const port = await nextFreePort(Math.min(from, 65535), launch.handedOut);
      const [program, ...args] = launch.command;
      const child = spawn(program!, args, {
        env: { ...launch.env, FLEET_DEVICE_ID: launch.id, FLEET_PORT: String(port) },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      });
      let startedUp = false;
      const device = new JoinedDevice(
        launch.id,
        port,
        child,
        (id, line) => {
          if (startedUp) launch.onLine(id, line);
        },
        (d, code, signal) => {
          if (startedUp) launch.onExit(d, code, signal);
        },
      );
      if (await device.serving()) {
        startedUp = true;
        return device;
      }
      await device.stop();
      lastProblem = device.recent.at(-1) ?? 'no message';
      // Another program (or another attendee's device on this machine) took the port meanwhile.
      if (!/EADDRINUSE|port \d+ on \S+ is taken/.test(device.recent.join(' '))) break;
    }
    throw new Error(`${launch.id} did not start: ${lastProblem}`);
  }

  /** Until its page answers (true) or it exited or took too long (false). */
  private async serving(): Promise<boolean> {
    const deadline = performance.now() + SERVING_TIMEOUT_MS;
    while (this.running && performance.now() < deadline) {
      // Its own page: on a shared machine the port may answer for another attendee's device.
      if (
        await this.status().then(
          (s) => s.id === this.id,
          () => false,
        )
      )
        return true;
      await sleep(150);
    }
    return false;
  }

  /** The agent's own /status (its view of each store: connected, registered, conflict...). */
  async status(): Promise<AgentStatus> {
    const response = await fetch(`${this.url}status`, { signal: AbortSignal.timeout(2000) });
    return (await response.json()) as AgentStatus;
  }

  stress(params: StressParams): Promise<StressStatus> {
    return sendStress(this.child, params);
  }

  /** SIGTERM: the agent deregisters everywhere at once; SIGKILL if it is not gone in time. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
  }
}
