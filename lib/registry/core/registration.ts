// One instance kept registered in one store: claims it whenever the store is up, re-claims it after the
// store dropped it (lease lost, session expired, Consul restarted), and writes updates, latest first.
// Updates that change only the load are written at most once per the adapter's loadIntervalMs (Consul:
// each write re-registers the service), coalesced; any other update is written at once, newest load too.
import { EventEmitter } from 'node:events';
import type { Claim, StoreAdapter } from '../adapters/adapter.ts';
import { Backoff, type BackoffOptions, sleep } from '../backoff.ts';
import {
  ClosedError,
  errorMessage,
  isConflictError,
  isRegistryError,
  type RegistryError,
  StoreError,
} from '../errors.ts';
import { instancePatchSchema, parseOrThrow } from '../schema.ts';
import type {
  InstancePatch,
  InstanceRecord,
  Registration,
  RegistrationEvents,
  RegistrationState,
  StoreKind,
} from '../types.ts';

interface Waiter {
  version: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

export function asRegistryError(store: StoreKind, error: unknown): RegistryError {
  return isRegistryError(error) ? error : new StoreError(store, errorMessage(error), error);
}

export class RegistrationHandle extends EventEmitter<RegistrationEvents> implements Registration {
  readonly store: StoreKind;
  private desired: InstanceRecord;
  private current: RegistrationState = 'pending';
  private claim: Claim | undefined;
  private readonly stopped = new AbortController();
  private readonly backoff: Backoff;
  /** Bumped by every update; `writtenVersion` is the newest version the store has. */
  private version = 0;
  private writtenVersion = -1;
  private writing = false;
  /** The newest version that changed more than the load (written at once, whatever the interval). */
  private urgentVersion = -1;
  /** When the store was last written (claim or update), for the adapter's load interval: on the monotonic clock, so a clock step cannot hold updates back. */
  private lastWriteAt = 0;
  private loadTimer: NodeJS.Timeout | undefined;
  private waiters: Waiter[] = [];
  private readonly loop: Promise<void>;

  constructor(
    private readonly adapter: StoreAdapter,
    record: InstanceRecord,
    backoff: BackoffOptions,
    /** The monotonic clock of the load interval; a test with fake timers gives its own. */
    private readonly now: () => number = () => performance.now(),
  ) {
    super();
    this.store = adapter.kind;
    this.desired = record;
    this.backoff = new Backoff(backoff);
    this.loop = this.run();
  }

  get state(): RegistrationState {
    return this.current;
  }

  get record(): Readonly<InstanceRecord> {
    return this.desired;
  }

  update(patch: InstancePatch): Promise<void> {
    if (this.stopped.signal.aborted) return Promise.reject(new ClosedError(this.store));
    const valid = parseOrThrow(instancePatchSchema, patch, 'update');
    const urgent = changesMoreThanLoad(this.desired, valid);
    this.desired = { ...this.desired, ...valid, updatedAt: new Date().toISOString() };
    const version = ++this.version;
    if (urgent) this.urgentVersion = version;
    const written = new Promise<void>((resolve, reject) => this.waiters.push({ version, resolve, reject }));
    void this.flush();
    return written;
  }

  async deregister(): Promise<void> {
    const claim = this.stop();
    this.setState('deregistered');
    await this.loop;
    if (claim) await claim.release();
  }

  /** Stops without deleting: the store expires the instance at the end of its window. */
  abandon(): void {
    this.stop()?.abandon();
    this.setState('deregistered');
  }

  private stop(): Claim | undefined {
    this.stopped.abort();
    clearTimeout(this.loadTimer);
    const claim = this.claim;
    this.claim = undefined;
    for (const w of this.waiters.splice(0)) w.reject(new ClosedError(this.store));
    return claim;
  }

  private setState(state: RegistrationState): void {
    if (this.current === state || this.current === 'deregistered') return;
    this.current = state;
    this.emit('state', state);
  }

  private async run(): Promise<void> {
    const signal = this.stopped.signal;
    while (!signal.aborted) {
      await this.adapter.whenConnected(signal);
      if (signal.aborted) return;
      const version = this.version;
      // Each claim is stamped: a copy this process left on a store member that died is then older
      // than the one it claims now, so a reader that meets both (Consul after a failover) keeps this one.
      this.desired = { ...this.desired, updatedAt: new Date().toISOString() };
      let claim: Claim;
      try {
        claim = await this.adapter.claim(this.desired);
      } catch (error) {
        await this.retryLater(asRegistryError(this.store, error));
        continue;
      }
      if (signal.aborted) {
        // deregister() came while the claim was on its way: undo it here, as deregister() could not.
        await claim.release().catch(() => undefined);
        return;
      }
      this.backoff.reset();
      this.claim = claim;
      this.lastWriteAt = this.now();
      this.markWritten(version);
      this.setState('registered');
      this.emit('registered');
      void this.flush();
      const reason = await this.holdUntilExpired(claim);
      if (signal.aborted) return;
      this.claim = undefined;
      this.setState('pending');
      this.emit('expired', reason);
    }
  }

  private async retryLater(error: RegistryError): Promise<void> {
    if (isConflictError(error)) {
      this.setState('conflict');
      this.emit('conflict', error);
    } else {
      this.setState('pending');
    }
    const delayMs = this.backoff.next();
    this.emit('reconnecting', { attempt: this.backoff.attempt, delayMs, error });
    await sleep(delayMs, this.stopped.signal);
  }

  private holdUntilExpired(claim: Claim): Promise<string> {
    return new Promise((resolve) => {
      const onLost = (error: RegistryError) => {
        this.setState('lost');
        this.emit('lost', error);
      };
      const onHeld = () => {
        this.setState('registered');
        this.emit('registered');
        void this.flush();
      };
      const finish = (reason: string) => {
        claim.off('lost', onLost).off('held', onHeld).off('expired', finish);
        this.stopped.signal.removeEventListener('abort', onAbort);
        resolve(reason);
      };
      const onAbort = () => finish('deregistered');
      claim.on('lost', onLost).on('held', onHeld).once('expired', finish);
      this.stopped.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Writes the newest desired record while there is something unwritten and a claim to write with. */
  private async flush(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.claim && this.current === 'registered' && this.writtenVersion < this.version) {
        const waitMs = this.loadWaitMs();
        if (waitMs > 0) {
          this.flushIn(waitMs);
          return;
        }
        const version = this.version;
        try {
          this.lastWriteAt = this.now();
          await this.claim.write(this.desired);
          this.markWritten(version);
        } catch {
          // The claim reports the cause as 'lost' or 'expired'; the write is retried on 'held' or with
          // the next claim, which carries the newest record anyway.
          return;
        }
      }
    } finally {
      this.writing = false;
    }
  }

  /** 0: write now; else how long the unwritten load-only updates must still wait. */
  private loadWaitMs(): number {
    const interval = this.adapter.loadIntervalMs;
    if (interval <= 0 || this.urgentVersion > this.writtenVersion) return 0;
    return Math.max(0, this.lastWriteAt + interval - this.now());
  }

  private flushIn(ms: number): void {
    if (this.loadTimer || this.stopped.signal.aborted) return;
    this.loadTimer = setTimeout(() => {
      this.loadTimer = undefined;
      void this.flush();
    }, ms);
    // A load waiting to be written does not keep the process alive.
    this.loadTimer.unref();
  }

  private markWritten(version: number): void {
    this.writtenVersion = Math.max(this.writtenVersion, version);
    this.waiters = this.waiters.filter((w) => {
      if (w.version > this.writtenVersion) return true;
      w.resolve();
      return false;
    });
  }
}

/** True when the patch changes the labels or the color: anything but the load. */
function changesMoreThanLoad(record: InstanceRecord, patch: InstancePatch): boolean {
  if (patch.color !== undefined && patch.color !== record.color) return true;
  return patch.labels !== undefined && JSON.stringify(patch.labels) !== JSON.stringify(record.labels);
}
