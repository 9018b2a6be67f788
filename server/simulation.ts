// The presenter's hands on the simulated fleet: the server asks the fleet's supervisor (its loopback
// control API) for its devices, shows them on the page, and forwards unplug / replug / kill / stress. The
// control API is the server's own contract (simulation-contract.ts), which provision/sim implements;
// its secret comes from the server's environment (FLEET_SIM_CONTROL_SECRET), never from a page.

import type { Logger } from '../lib/cli/log.ts';
import { errorMessage, type FieldIssue, instanceIdSchema, ValidationError } from '../lib/registry/index.ts';
import type { SimAction, SimulatedDevice } from './contract.ts';
import type { Fleet } from './fleet/fleet.ts';
import { checkStressParams, SIM_ACTIONS, SimControlClient } from './simulation-contract.ts';

const REFRESH_MS = 2000;

/** What the page is told of a simulated device (the control API says more: its pid, its URL). */
const pageView = (d: SimulatedDevice): SimulatedDevice => ({
  id: d.id,
  state: d.state,
  mode: d.mode,
  stress: d.stress ?? null,
});

export class SimulationLink {
  private readonly client: SimControlClient;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private refusedSaid = false;

  constructor(
    url: string,
    secret: string,
    private readonly fleet: Fleet,
    private readonly log: Logger,
  ) {
    this.client = new SimControlClient(url, secret);
  }

  start(): void {
    void this.refresh();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  async act(request: unknown): Promise<SimulatedDevice> {
    const { id, action, percent, seconds } = (request ?? {}) as Record<string, unknown>;
    const issues: FieldIssue[] = [];
    if (!instanceIdSchema.safeParse(id).success)
      issues.push({ field: 'id', expected: 'a simulated device id such as sim-3' });
    if (!SIM_ACTIONS.includes(action as SimAction))
      issues.push({ field: 'action', expected: SIM_ACTIONS.join(', ') });
    const stress = action === 'stress' ? checkStressParams({ percent, seconds }) : undefined;
    if (stress?.issues) issues.push(...stress.issues);
    if (issues.length > 0) throw new ValidationError('simulate', issues);
    const device = await this.client.act(id as string, action as SimAction, stress?.params);
    if (action === 'unplug' || action === 'kill') this.fleet.markLost(id as string, action);
    void this.refresh();
    return pageView(device);
  }

  private async refresh(): Promise<void> {
    clearTimeout(this.timer);
    try {
      const devices = await this.client.list();
      this.fleet.setSimulation(devices.map(pageView));
    } catch (error) {
      // A refused secret is a setting to fix, said once; a fleet that is not running is normal.
      const refused = /^authorization:/.test(errorMessage(error));
      if (refused && !this.refusedSaid)
        this.log.warn(`the simulated fleet refused FLEET_SIM_CONTROL_SECRET: ${errorMessage(error)}`);
      this.refusedSaid = refused;
      this.log.debug(`no simulated fleet: ${errorMessage(error)}`);
      this.fleet.setSimulation(null);
    }
    if (!this.closed) this.timer = setTimeout(() => void this.refresh(), REFRESH_MS);
  }
}
