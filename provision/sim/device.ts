// One simulated device: the real agent bundle in a process of its own. In a network namespace
// (root), unplug cuts its link; otherwise unplug freezes it (SIGSTOP): its connections stay open but
// silent, which the stores see the same way. Its IPC channel (through `ip netns exec` too, which execs
// the agent in place) carries the loads it is told to burn.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { sendStress } from '../../device/stress-message.ts';
import type {
  SimAction,
  SimDeviceInfo,
  SimMode,
  SimStress,
  SimulatedDeviceState,
  StressParams,
} from '../../server/simulation-contract.ts';
import { addressOf, createHost, namespaceOf, removeHost, setLink } from './netns.ts';

// The server owns what a simulated device is and what can be done to it (server/simulation-contract.ts);
// this file implements it. Re-exported for the rest of provision/sim.
export {
  SIM_ACTIONS,
  type SimAction,
  type SimDeviceInfo,
  type SimMode,
  type StressParams,
} from '../../server/simulation-contract.ts';

export interface SimDeviceOptions {
  index: number;
  mode: SimMode;
  /** The agent bundle and the node flags of its systemd unit. */
  command: string[];
  env: Record<string, string>;
  /** Processes mode: each device needs its own port on this host. */
  port: number;
  logDir: string;
}

export class SimDevice {
  readonly id: string;
  private child: ChildProcess | undefined;
  private state: SimulatedDeviceState = 'stopped';
  private lostAt: number | null = null;
  /** The load it was last told to carry, until it ends (a new process carries none). */
  private stress: SimStress | null = null;

  constructor(private readonly options: SimDeviceOptions) {
    this.id = `sim-${options.index}`;
  }

  get info(): SimDeviceInfo {
    const host = this.options.mode === 'namespaces' ? addressOf(this.options.index) : '127.0.0.1';
    return {
      id: this.id,
      mode: this.options.mode,
      state: this.state,
      pid: this.child?.pid ?? null,
      url: `http://${host}:${this.options.port}/`,
      lostAt: this.lostAt,
      stress: this.stress && this.stress.endsAt > Date.now() ? this.stress : null,
    };
  }

  async start(): Promise<void> {
    const { index, mode, command, env, port, logDir } = this.options;
    if (mode === 'namespaces') await createHost(index);
    const agentEnv = {
      PATH: process.env.PATH ?? '',
      ...env,
      FLEET_DEVICE_ID: this.id,
      FLEET_PORT: String(port),
      FLEET_LISTEN: mode === 'namespaces' ? '0.0.0.0' : '127.0.0.1',
      ...(mode === 'processes' ? { FLEET_HOST: '127.0.0.1' } : {}),
      FLEET_LABELS: [env.FLEET_LABELS, `sim=${mode}`].filter(Boolean).join(','),
    };
    const argv = mode === 'namespaces' ? ['ip', 'netns', 'exec', namespaceOf(index), ...command] : command;
    const log = createWriteStream(path.join(logDir, `${this.id}.log`), { flags: 'a' });
    const child = spawn(argv[0]!, argv.slice(1), {
      env: agentEnv,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    // Two sources into one file: neither may end it (the other may still write); the exit does.
    log.on('error', () => undefined);
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.once('close', () => log.end());
    this.child = child;
    this.state = 'running';
    this.lostAt = null;
    this.stress = null;
    child.once('exit', () => {
      if (this.child === child && this.state !== 'killed' && this.state !== 'stopped') this.state = 'exited';
    });
  }

  async act(action: SimAction, params?: StressParams): Promise<SimDeviceInfo> {
    const actions: Record<SimAction, () => Promise<void>> = {
      unplug: () => this.unplug(),
      replug: () => this.replug(),
      kill: () => this.kill(),
      stress: () => this.carry(params ?? { percent: 0, seconds: 0 }),
    };
    await actions[action]();
    return this.info;
  }

  /** SIGTERM: the agent deregisters everywhere; SIGKILL after 5 s. Removes its namespace. */
  async stop(): Promise<void> {
    if (this.state === 'unplugged') await this.replug();
    const child = this.child;
    this.state = 'stopped';
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (this.options.mode === 'namespaces') await removeHost(this.options.index);
  }

  private async unplug(): Promise<void> {
    if (this.state !== 'running') throw new Error(`${this.id} is ${this.state}, not running`);
    if (this.options.mode === 'namespaces') await setLink(this.options.index, false);
    else this.child?.kill('SIGSTOP');
    this.state = 'unplugged';
    this.lostAt = Date.now();
  }

  /** Plugs the cable back in; a killed or exited device is started again. */
  private async replug(): Promise<void> {
    if (this.state === 'killed' || this.state === 'exited') {
      if (this.options.mode === 'namespaces') await removeHost(this.options.index);
      await this.start();
      return;
    }
    if (this.state !== 'unplugged') throw new Error(`${this.id} is ${this.state}, not unplugged`);
    if (this.options.mode === 'namespaces') await setLink(this.options.index, true);
    else this.child?.kill('SIGCONT');
    this.state = 'running';
    this.lostAt = null;
  }

  /** Tells the agent over its IPC channel to burn `percent` % of one core for `seconds`. */
  private async carry(params: StressParams): Promise<void> {
    // A frozen process (unplugged in processes mode) would not answer; a dead one cannot.
    if (this.state !== 'running' || !this.child)
      throw new Error(
        `${this.id} is ${this.state}, not running: ${this.state === 'unplugged' ? 'replug' : 'restart'} it first`,
      );
    const status = await sendStress(this.child, params);
    this.stress = status.endsAt === null ? null : { percent: status.percent, endsAt: status.endsAt };
  }

  private async kill(): Promise<void> {
    if (this.state === 'unplugged' && this.options.mode === 'processes') this.child?.kill('SIGCONT');
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${this.id} is not running`);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.state = 'killed';
    this.lostAt = Date.now();
  }
}
