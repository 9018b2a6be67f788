// The presenter's hands on the simulated fleet: the server asks the fleet's supervisor (its loopback
// control API) for its devices, shows them on the page, and forwards unplug / replug / kill. The
// control API is the server's own contract (simulation-contract.ts), which provision/sim implements.

import type { Logger } from '../lib/cli/log.ts';
import { errorMessage, instanceIdSchema, ValidationError } from '../lib/registry/index.ts';
import type { SimAction, SimulatedDevice } from './contract.ts';
import type { Fleet } from './fleet/fleet.ts';
import { SIM_ACTIONS, SimControlClient } from './simulation-contract.ts';

const REFRESH_MS = 2000;

export class SimulationLink {
  private readonly client: SimControlClient;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    url: string,
    private readonly fleet: Fleet,
    private readonly log: Logger,
  ) {
    this.client = new SimControlClient(url);
  }

  start(): void {
    void this.refresh();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  async act(request: unknown): Promise<SimulatedDevice> {
    const { id, action } = (request ?? {}) as { id?: unknown; action?: unknown };
    const issues = [];
    if (!instanceIdSchema.safeParse(id).success)
      issues.push({ field: 'id', expected: 'a simulated device id such as sim-3' });
    if (!SIM_ACTIONS.includes(action as SimAction))
      issues.push({ field: 'action', expected: SIM_ACTIONS.join(', ') });
    if (issues.length > 0) throw new ValidationError('simulate', issues);
    const device = await this.client.act(id as string, action as SimAction);
    if (action === 'unplug' || action === 'kill') this.fleet.markLost(id as string, action);
    void this.refresh();
    return { id: device.id, state: device.state, mode: device.mode };
  }

  private async refresh(): Promise<void> {
    clearTimeout(this.timer);
    try {
      const devices = await this.client.list();
      this.fleet.setSimulation(devices.map((d) => ({ id: d.id, state: d.state, mode: d.mode })));
    } catch (error) {
      this.log.debug(`no simulated fleet: ${errorMessage(error)}`);
      this.fleet.setSimulation(null);
    }
    if (!this.closed) this.timer = setTimeout(() => void this.refresh(), REFRESH_MS);
  }
}
