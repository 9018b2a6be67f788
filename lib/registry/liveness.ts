// Each store's liveness model as a page or a log describes it: how long after a device dies the store
// says so, the mechanism in a few words, and whether a dead device turns critical before the store
// removes it. The differences are written here, per store, so that callers read properties of the
// model instead of branching on a store's name.
import { livenessWindowMs } from './schema.ts';
import type { DeviceLiveness, LivenessSettings, StoreKind } from './types.ts';

export interface LivenessModel {
  /** How long after a device dies this store says so, ms (see livenessWindowMs). */
  windowMs: number;
  /** In a few words: "lease TTL 5 s", "session timeout 5 s", "HTTP check every 2 s (timeout 1 s), ...". */
  text: string;
  /**
   * Consul: a failing check marks the device critical first, and Consul removes ("reaps") it this long
   * afterwards, ms. null: the store removes a dead device at once (etcd's lease, ZooKeeper's session),
   * so none is ever critical.
   */
  reapAfterCriticalMs: number | null;
}

const MODELS: Record<StoreKind, (l: LivenessSettings) => Omit<LivenessModel, 'windowMs'>> = {
  etcd: (l) => ({ text: `lease TTL ${l.leaseTtlSeconds} s`, reapAfterCriticalMs: null }),
  zookeeper: (l) => ({ text: `session timeout ${l.sessionTimeoutMs / 1000} s`, reapAfterCriticalMs: null }),
  consul: (l) => ({
    text:
      (l.consulCheck === 'ttl'
        ? `TTL check ${l.checkTtlSeconds} s`
        : `HTTP check every ${l.checkIntervalSeconds} s (timeout ${l.checkTimeoutSeconds} s)`) +
      `, reaped ${l.deregisterCriticalAfterSeconds} s after critical`,
    reapAfterCriticalMs: l.deregisterCriticalAfterSeconds * 1000,
  }),
};

export function livenessModel(store: StoreKind, liveness: LivenessSettings): LivenessModel {
  return { windowMs: livenessWindowMs(store, liveness), ...MODELS[store](liveness) };
}

/** The knobs of LivenessSettings each store uses: what a record written to it carries (its own window). */
export const LIVENESS_KNOBS: Record<StoreKind, readonly (keyof LivenessSettings)[]> = {
  etcd: ['leaseTtlSeconds'],
  zookeeper: ['sessionTimeoutMs'],
  consul: [
    'consulCheck',
    'checkIntervalSeconds',
    'checkTimeoutSeconds',
    'checkTtlSeconds',
    'deregisterCriticalAfterSeconds',
  ],
};

/** The store's knobs of these settings, for a record (InstanceRecord.liveness). */
export function storeKnobs(store: StoreKind, liveness: LivenessSettings): DeviceLiveness {
  return Object.fromEntries(LIVENESS_KNOBS[store].map((knob) => [knob, liveness[knob]])) as DeviceLiveness;
}

/**
 * A device's own model: its record's knobs over the reader's settings (`fallback`), and whether the
 * record carried them (`own`: false for a record of an older agent, shown with the reader's window).
 */
export function deviceLivenessModel(
  store: StoreKind,
  fallback: LivenessSettings,
  own: DeviceLiveness | undefined,
): LivenessModel & { own: boolean } {
  const knobs = own ? storeKnobs(store, { ...fallback, ...own }) : {};
  const isOwn = LIVENESS_KNOBS[store].some((knob) => own?.[knob] !== undefined);
  return { ...livenessModel(store, { ...fallback, ...knobs }), own: isOwn };
}

/** A device with a Consul TTL check passes it this many times per TTL (one or two late passes are no expiry). */
export const CONSUL_PASSES_PER_TTL = 3;

/**
 * The TTL check passes a second that one Consul 1.8 agent takes without falling behind. Each pass
 * (PUT /v1/agent/check/pass) syncs the agent's whole local state under one lock (agentCheckUpdate ->
 * SyncChanges): its cost grows with the services on that agent. Measured on 2 cores, 1,000 devices on
 * one agent with the live page watching: 600 passes/s (TTL 5 s) took passes to 1-12 s, checks expired
 * and every device's registration fell out; 200 passes/s (TTL 15 s) answered in 2-30 ms.
 */
export const CONSUL_AGENT_PASSES_PER_SECOND = 200;

/** The shortest TTL (whole seconds, never under `base`) one Consul agent sustains for `devices` TTL devices. */
export function consulTtlFor(devices: number, base: number): number {
  return Math.max(base, Math.ceil((devices * CONSUL_PASSES_PER_TTL) / CONSUL_AGENT_PASSES_PER_SECOND));
}
