// The simulated fleet as the server consumes it: the loopback control API that `fleetkit sim` serves
// (GET /devices, POST /devices/ID/ACTION, POST /stop; JSON in and out) and a client for it. The server
// owns this contract and provision/sim implements it, so that server/ imports nothing from provision/.
// The page's own view of a simulated device (SimulatedDevice) is in contract.ts.
import type { SimAction, SimulatedDevice } from './contract.ts';

export type { SimAction, SimMode, SimulatedDeviceState } from './contract.ts';

export const SIM_ACTIONS: readonly SimAction[] = ['unplug', 'replug', 'kill'];

export const DEFAULT_SIM_CONTROL_PORT = 7070;
export const DEFAULT_SIM_CONTROL = `http://127.0.0.1:${DEFAULT_SIM_CONTROL_PORT}`;

/** One simulated device as the control API reports it. */
export interface SimDeviceInfo extends SimulatedDevice {
  pid: number | null;
  url: string;
  /** Server clock, ms, of the last unplug or kill (to measure how long each store takes to notice). */
  lostAt: number | null;
}

/** Talks to a running simulated fleet. */
export class SimControlClient {
  constructor(readonly url: string = DEFAULT_SIM_CONTROL) {}

  list(): Promise<SimDeviceInfo[]> {
    return this.request('GET', '/devices') as Promise<SimDeviceInfo[]>;
  }

  act(id: string, action: SimAction): Promise<SimDeviceInfo> {
    return this.request('POST', `/devices/${encodeURIComponent(id)}/${action}`) as Promise<SimDeviceInfo>;
  }

  async stop(): Promise<void> {
    await this.request('POST', '/stop');
  }

  private async request(method: string, path: string): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, { method, signal: AbortSignal.timeout(10_000) });
    } catch {
      throw new Error(`no simulated fleet answers at ${this.url}: start one with \`fleetkit sim start 6\``);
    }
    const body = (await res.json().catch(() => ({}))) as { error?: string };
    if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
    return body;
  }
}
