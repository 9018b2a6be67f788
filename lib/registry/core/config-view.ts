// One config key as a watch: validated values only; a malformed value is reported (naming the key) and
// the last good value stays.
import { EventEmitter } from 'node:events';
import type { ValueSink } from '../adapters/adapter.ts';
import { parseConfigValue } from '../config-keys.ts';
import { MalformedValueError, type RegistryError } from '../errors.ts';
import type { ConfigWatch, ConfigWatchEvents, StoreKind, WatchState } from '../types.ts';

export class ConfigView extends EventEmitter<ConfigWatchEvents> implements ConfigWatch, ValueSink {
  private current: WatchState = 'syncing';
  private last: string | undefined;
  private synced = false;
  private stopWatch: (() => void) | undefined;

  constructor(
    private readonly store: StoreKind,
    readonly key: string,
    private readonly storeKey: string,
    start: (sink: ValueSink) => () => void,
  ) {
    super();
    this.stopWatch = start(this);
  }

  get state(): WatchState {
    return this.current;
  }

  get value(): string | undefined {
    return this.last;
  }

  close(): void {
    this.stopWatch?.();
    this.stopWatch = undefined;
    this.setState('closed');
  }

  set(raw: string | undefined): void {
    if (this.current === 'closed') return;
    this.setState('live');
    if (raw === undefined) {
      this.accept(undefined);
      return;
    }
    const parsed = parseConfigValue(this.key, raw);
    if (parsed.ok) this.accept(parsed.value);
    else this.emit('invalid', new MalformedValueError(this.store, this.storeKey, parsed.expected));
  }

  down(error: RegistryError): void {
    if (this.current === 'closed') return;
    this.setState('down', error);
  }

  private accept(value: string | undefined): void {
    if (this.synced && value === this.last) return;
    this.synced = true;
    this.last = value;
    this.emit('value', value);
  }

  private setState(state: WatchState, error?: RegistryError): void {
    if (this.current === state) return;
    this.current = state;
    this.emit('state', state, error);
  }
}
