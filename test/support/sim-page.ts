// The live page with a simulated fleet attached, as `npm run demo` runs it: the three real stores, a
// simulated fleet of real agents (processes mode: no root needed), its loopback control API and the
// real `fleetkit server` pointed at both. For the page tests that unplug, kill or stress devices.
import { unitNodeFlags } from '../../device/unit.ts';
import { STORE_KINDS } from '../../lib/registry/index.ts';
import { type SimControl, serveControl } from '../../provision/sim/control.ts';
import { SimFleet } from '../../provision/sim/fleet.ts';
import { TEST_LIVENESS } from './agents.ts';
import { freePort } from './ports.ts';
import { type RunningServer, startServer } from './servers.ts';
import { startThreeStores, type ThreeStores } from './stores.ts';

export interface SimPage {
  stores: ThreeStores;
  fleet: SimFleet;
  server: RunningServer;
  /** Stops the server, the control API, the fleet and the stores, whatever got started. */
  stop(): Promise<void>;
}

export async function startSimPage(count: number, namespace: string): Promise<SimPage> {
  let stores: ThreeStores | undefined;
  let fleet: SimFleet | undefined;
  let control: SimControl | undefined;
  let server: RunningServer | undefined;
  const stop = async () => {
    await server?.stop();
    await control?.close();
    await fleet?.stop();
    await stores?.stop();
  };
  try {
    stores = await startThreeStores();
    const started = stores;
    fleet = await SimFleet.start({
      count,
      mode: 'processes',
      stores: Object.fromEntries(STORE_KINDS.map((k) => [k, started[k].endpoints])),
      namespace,
      service: 'web',
      liveness: TEST_LIVENESS,
      nodeFlags: unitNodeFlags(),
    });
    const controlPort = await freePort();
    control = await serveControl(fleet, controlPort, () => {});
    server = await startServer({
      ...stores.env(),
      FLEET_NAMESPACE: namespace,
      FLEET_SIM_CONTROL: control.url,
      FLEET_SIM_CONTROL_SECRET: control.secret,
    });
    return { stores, fleet, server, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
