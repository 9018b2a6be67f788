// One config key as a watch: validated values only; a malformed value is reported (naming the key) and
// the last good value stays.
import type { ValueSink } from '../adapters/adapter.ts';
import { parseConfigValue } from '../config-keys.ts';
import { MalformedValueError } from '../errors.ts';
import type { ConfigWatch, ConfigWatchEvents, StoreKind } from '../types.ts';
import { WatchView } from './watch-view.ts';

export class ConfigView extends WatchView<ConfigWatchEvents> implements ConfigWatch, ValueSink {
  private last: string | undefined;
  private synced = false;

  constructor(
    private readonly store: StoreKind,
    readonly key: string,
    private readonly storeKey: string,
    start: (sink: ValueSink) => () => void,
  ) {
    super();
    this.follow(start);
  }

  get value(): string | undefined {
    return this.last;
  }

  set(raw: string | undefined): void {
    if (this.closed) return;
    this.setState('live');
    if (raw === undefined) {
      this.accept(undefined);
      return;
    }
    const parsed = parseConfigValue(this.key, raw);
    if (parsed.ok) this.accept(parsed.value);
    else this.emit('invalid', new MalformedValueError(this.store, this.storeKey, parsed.expected));
  }

  private accept(value: string | undefined): void {
    if (this.synced && value === this.last) return;
    this.synced = true;
    this.last = value;
    this.emit('value', value);
  }
}
