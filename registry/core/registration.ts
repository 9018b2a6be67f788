// One instance kept registered in one store: claims it whenever the store is up, re-claims it after the
// store dropped it (lease lost, session expired, Consul restarted), and writes updates, latest first.
import { EventEmitter } from 'node:events';
import type { Claim, StoreAdapter } from '../adapters/adapter.ts';
import { Backoff, type BackoffOptions, sleep } from '../backoff.ts';
import { ClosedError, isConflictError, isRegistryError, type RegistryError, StoreError } from '../errors.ts';
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
  return isRegistryError(error)
    ? error
    : new StoreError(store, error instanceof Error ? error.message : String(error), error);
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
  private waiters: Waiter[] = [];
  private readonly loop: Promise<void>;

  constructor(
    private readonly adapter: StoreAdapter,
    record: InstanceRecord,
    backoff: BackoffOptions,
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
    this.desired = { ...this.desired, ...valid, updatedAt: new Date().toISOString() };
    const version = ++this.version;
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
        const version = this.version;
        try {
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

  private markWritten(version: number): void {
    this.writtenVersion = Math.max(this.writtenVersion, version);
    this.waiters = this.waiters.filter((w) => {
      if (w.version > this.writtenVersion) return true;
      w.resolve();
      return false;
    });
  }
}
