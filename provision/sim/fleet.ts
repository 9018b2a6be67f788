// A simulated fleet: N devices running the real agent bundle, each in a network namespace when this
// runs as root (unplug cuts its link), else as plain processes (unplug freezes them).
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildAgent } from '../../device/build.ts';
import { livenessEnv } from '../../lib/cli/common-settings.ts';
import type { LivenessSettings, StoreKind } from '../../lib/registry/index.ts';
import { parseEndpoints } from '../../lib/registry/index.ts';
import { allocatePorts } from '../stores/ports.ts';
import { type SimAction, SimDevice, type SimDeviceInfo, type SimMode, type StressParams } from './device.ts';
import {
  BRIDGE_ADDRESS,
  canUseNamespaces,
  claimNamespaces,
  MAX_NAMESPACE_DEVICES,
  releaseNamespaces,
} from './netns.ts';

export interface SimFleetOptions {
  count: number;
  mode?: SimMode | 'auto';
  stores: Partial<Record<StoreKind, string[]>>;
  namespace: string;
  service: string;
  liveness: LivenessSettings;
  /** The node flags the devices run with (the systemd unit's). */
  nodeFlags: string[];
  labels?: string;
  /**
   * The devices' credentials on the stores as the variables an agent reads (FLEET_CREDENTIALS with an
   * absolute path, FLEET_ETCD_USER ...: lib/cli/credentials-settings.ts LoadedCredentials.env).
   */
  credentialsEnv?: Record<string, string>;
  log?: (line: string) => void;
}

/** Loopback endpoints as the devices see them: from a namespace, the host is the bridge's address. */
function endpointsFor(mode: SimMode, stores: Partial<Record<StoreKind, string[]>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [store, list] of Object.entries(stores) as [StoreKind, string[]][]) {
    const addresses = parseEndpoints(store, list).map((e) =>
      mode === 'namespaces' && (e.host === '127.0.0.1' || e.host === 'localhost')
        ? e.address.replace(e.host, BRIDGE_ADDRESS)
        : e.address,
    );
    env[`FLEET_${store.toUpperCase()}`] = addresses.join(',');
  }
  return env;
}

export class SimFleet {
  private readonly devices = new Map<string, SimDevice>();

  private constructor(readonly mode: SimMode) {}

  static resolveMode(mode: SimMode | 'auto' = 'auto'): SimMode {
    if (mode === 'namespaces' && !canUseNamespaces())
      throw new Error('network namespaces need root: run as root or use --mode processes');
    return mode === 'auto' ? (canUseNamespaces() ? 'namespaces' : 'processes') : mode;
  }

  static async start(options: SimFleetOptions): Promise<SimFleet> {
    const log = options.log ?? (() => {});
    const mode = SimFleet.resolveMode(options.mode);
    if (mode === 'namespaces' && options.count > MAX_NAMESPACE_DEVICES) {
      throw new Error(
        `at most ${MAX_NAMESPACE_DEVICES} devices in namespaces mode (one /24): use --mode processes for more`,
      );
    }
    const fleet = new SimFleet(mode);
    const work = await mkdtemp(path.join(tmpdir(), 'fleetkit-sim-'));
    const logDir = path.join(work, 'logs');
    await mkdir(logDir, { recursive: true });
    log(`building the agent bundle for ${options.count} simulated devices...`);
    const { file } = await buildAgent(path.join(work, 'agent'));
    if (mode === 'namespaces') {
      await claimNamespaces();
    }
    const env = {
      ...endpointsFor(mode, options.stores),
      ...livenessEnv(options.liveness),
      FLEET_NAMESPACE: options.namespace,
      FLEET_SERVICE: options.service,
      FLEET_LOG_LEVEL: 'info',
      // Many devices share this machine: each reports its own process, which its stress loads.
      FLEET_LOAD_FROM: 'process',
      // Many agents on one machine: none drives its activity LED (a Pi as control host has one).
      FLEET_LED_ROOT: 'off',
      ...(options.labels ? { FLEET_LABELS: options.labels } : {}),
      ...options.credentialsEnv,
    };
    const ids = Array.from({ length: options.count }, (_, i) => `sim-${i + 1}`);
    // In a namespace every device has the host to itself; as processes they share the loopback.
    const ports = mode === 'processes' ? await allocatePorts('127.0.0.1', ids) : undefined;
    for (let index = 1; index <= options.count; index++) {
      const port = ports?.[`sim-${index}`] ?? 8080;
      const device = new SimDevice({
        index,
        mode,
        command: [process.execPath, ...options.nodeFlags, file],
        env,
        port,
        logDir,
      });
      fleet.devices.set(device.id, device);
    }
    // In parallel: making a namespace takes a dozen `ip` calls.
    await Promise.all([...fleet.devices.values()].map((device) => device.start()));
    log(`${options.count} simulated devices in ${mode} mode; their logs are in ${logDir}`);
    return fleet;
  }

  list(): SimDeviceInfo[] {
    return [...this.devices.values()].map((d) => d.info);
  }

  /** `params`: for stress only (checked by the caller: the control API). */
  async act(id: string, action: SimAction, params?: StressParams): Promise<SimDeviceInfo> {
    const device = this.devices.get(id);
    if (!device)
      throw new Error(`no simulated device "${id}": try one of ${[...this.devices.keys()].join(', ')}`);
    return device.act(action, params);
  }

  /** Every device deregisters and stops; every namespace and link goes. */
  async stop(): Promise<void> {
    await Promise.all([...this.devices.values()].map((d) => d.stop()));
    if (this.mode === 'namespaces') await releaseNamespaces();
  }
}
