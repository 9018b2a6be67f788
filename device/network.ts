// Where this device is on the network, kept up to date. The address it advertises is the one the
// kernel would send from towards the stores (identity.ts addressTowards): found again every few
// seconds, and at once when a store connection comes back, so that a new DHCP lease or a Wi-Fi roam
// reaches every store's record (and Consul's check) without a restart. With no route at all (no
// network yet, no route to the stores) the agent keeps running and says so; the first route found
// starts its registrations. FLEET_HOST pins the address: then nothing is detected.
import { EventEmitter } from 'node:events';
import { errorMessage } from '../lib/registry/index.ts';
import { findAdvertisedHost } from './identity.ts';

export interface NetworkStatus {
  /** The address advertised now; null until a route to the stores was found once. */
  host: string | null;
  /** 'pinned': FLEET_HOST; 'route': found towards the stores; 'none': no route found yet. */
  source: 'pinned' | 'route' | 'none';
  /** Why there is no route now, or null. The last address found stays advertised meanwhile. */
  problem: string | null;
  /** How many times the address changed since start (the first one found not counted). */
  changes: number;
  /** When it last changed or was first found (wall time, ISO, for display only), or null. */
  changedAt: string | null;
}

export interface AddressWatchOptions {
  /** FLEET_HOST: advertised as is, never detected. */
  pinned?: string;
  /** How often the route is looked up again (a UDP connect: no packet is sent). */
  intervalMs?: number;
  /** The lookup (default: findAdvertisedHost towards the endpoints). */
  detect?: () => Promise<string>;
}

/** Default of FLEET_ADDRESS_CHECK, in seconds. */
export const DEFAULT_ADDRESS_CHECK_SECONDS = 3;

export class AddressWatch extends EventEmitter<{
  /** The advertised address changed (previous null: the first route found). */
  change: [host: string, previous: string | null];
  /** Anything of status() changed. */
  status: [NetworkStatus];
}> {
  private current: NetworkStatus;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly intervalMs: number;
  private readonly detect: () => Promise<string>;

  constructor(endpoints: readonly { host: string; port: number }[], options: AddressWatchOptions = {}) {
    super();
    this.intervalMs = options.intervalMs ?? DEFAULT_ADDRESS_CHECK_SECONDS * 1000;
    this.detect = options.detect ?? (() => findAdvertisedHost(endpoints));
    this.current = options.pinned
      ? { host: options.pinned, source: 'pinned', problem: null, changes: 0, changedAt: null }
      : { host: null, source: 'none', problem: null, changes: 0, changedAt: null };
  }

  get pinned(): boolean {
    return this.current.source === 'pinned';
  }

  status(): NetworkStatus {
    return { ...this.current };
  }

  /** Looks once (resolving when done: host may still be null), then every interval until stop(). */
  async start(): Promise<void> {
    if (this.pinned) return;
    await this.check();
    this.schedule();
  }

  /** Looks now (a store came back: the route may be another one); one lookup at a time. */
  check(): Promise<void> {
    if (this.pinned || this.stopped) return Promise.resolve();
    this.running ??= this.lookup().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.check().then(() => this.schedule()), this.intervalMs);
    this.timer.unref();
  }

  private async lookup(): Promise<void> {
    let host: string;
    try {
      host = await this.detect();
    } catch (error) {
      const problem = errorMessage(error);
      if (problem !== this.current.problem) {
        this.current = { ...this.current, problem };
        this.emit('status', this.status());
      }
      return;
    }
    if (this.stopped) return;
    const previous = this.current.host;
    if (host === previous && this.current.problem === null) return;
    this.current = {
      host,
      source: 'route',
      problem: null,
      changes: this.current.changes + (previous !== null && host !== previous ? 1 : 0),
      changedAt: host !== previous ? new Date().toISOString() : this.current.changedAt,
    };
    if (host !== previous) this.emit('change', host, previous);
    this.emit('status', this.status());
  }
}
