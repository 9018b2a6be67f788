// The simulated fleet as the server consumes it: the loopback control API that `fleetkit sim` serves
// (GET /devices, POST /devices/ID/ACTION, POST /stop; JSON in and out) and a client for it. The server
// owns this contract and provision/sim implements it, so that server/ imports nothing from provision/.
// The page's own view of a simulated device (SimulatedDevice) is in contract.ts.
//
// It unplugs and kills devices and stops the fleet, so it has the store control's guard
// (loopback-api.ts): 127.0.0.1 only, the secret `fleetkit sim` / `npm run demo` made at start in every
// request (`authorization: Bearer SECRET`: the server gets it as FLEET_SIM_CONTROL_SECRET, the
// `fleetkit sim list|unplug|...` commands from a 0600 file the running fleet writes), Host checked,
// Origin refused.
//
// POST /devices/ID/stress takes a body {"percent": 80, "seconds": 60}: the device burns that share of
// one core in its own process (the agent's IPC message, device/stress-message.ts, which also says what
// a valid load is); seconds 0 takes it back to its base load.

import { type StressParams, stressParamsSchema } from '../device/stress-message.ts';
import { type FieldIssue, toFieldIssues } from '../lib/registry/index.ts';
import type { SimAction, SimulatedDevice } from './contract.ts';
import { bearer, LOOPBACK } from './loopback-api.ts';

export type { StressParams } from '../device/stress-message.ts';
export type { SimAction, SimMode, SimStress, SimulatedDeviceState } from './contract.ts';

export const SIM_ACTIONS: readonly SimAction[] = ['unplug', 'replug', 'kill', 'stress'];

/** What `fleetkit sim stress ID PERCENT` and the page's stress button ask for when no seconds are given. */
export const DEFAULT_STRESS_SECONDS = 60;

/** A stress's percent and seconds as they arrived (a request body, a socket payload): the load, or each bad field. */
export function checkStressParams(
  value: unknown,
): { params: StressParams; issues?: undefined } | { params?: undefined; issues: FieldIssue[] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { issues: [{ field: 'request', expected: 'an object such as {"percent": 80, "seconds": 60}' }] };
  const parsed = stressParamsSchema.safeParse(value);
  return parsed.success ? { params: parsed.data } : { issues: toFieldIssues(parsed.error) };
}

export const DEFAULT_SIM_CONTROL_PORT = 7070;
export const DEFAULT_SIM_CONTROL = `http://${LOOPBACK}:${DEFAULT_SIM_CONTROL_PORT}`;
/** The variable that gives the server (and a `fleetkit sim` command) the control API's secret. */
export const SIM_CONTROL_SECRET_VARIABLE = 'FLEET_SIM_CONTROL_SECRET';

/** One simulated device as the control API reports it. */
export interface SimDeviceInfo extends SimulatedDevice {
  pid: number | null;
  url: string;
  /** Server clock, ms, of the last unplug or kill (to measure how long each store takes to notice). */
  lostAt: number | null;
}

/** Talks to a running simulated fleet. */
export class SimControlClient {
  constructor(
    readonly url: string,
    private readonly secret: string,
  ) {}

  list(): Promise<SimDeviceInfo[]> {
    return this.request('GET', '/devices') as Promise<SimDeviceInfo[]>;
  }

  /** `params`: for stress only. */
  act(id: string, action: SimAction, params?: StressParams): Promise<SimDeviceInfo> {
    return this.request(
      'POST',
      `/devices/${encodeURIComponent(id)}/${action}`,
      action === 'stress' ? params : undefined,
    ) as Promise<SimDeviceInfo>;
  }

  async stop(): Promise<void> {
    await this.request('POST', '/stop');
  }

  private async request(method: string, path: string, payload?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        signal: AbortSignal.timeout(10_000),
        headers: {
          ...bearer(this.secret),
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
      });
    } catch {
      throw new Error(`no simulated fleet answers at ${this.url}: start one with \`fleetkit sim start 6\``);
    }
    const body = (await res.json().catch(() => ({}))) as { error?: string };
    if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
    return body;
  }
}
