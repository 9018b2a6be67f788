// etcd and Consul keep one always-on watch over the whole `<ns>/config/` folder (it is also how they
// know they are connected); this hands each key's raw value to the config watches of that key.
import type { RegistryError } from '../errors.ts';
import type { ValueSink } from './adapter.ts';

export class ConfigFanout {
  private values: Map<string, string> | undefined;
  private error: RegistryError | undefined;
  private readonly sinks = new Map<string, Set<ValueSink>>();

  /** The whole folder, after a (re)sync: every watched key is told its value, changed or not. */
  reset(entries: Iterable<[key: string, value: string]>): void {
    this.values = new Map(entries);
    this.error = undefined;
    for (const key of this.sinks.keys()) this.notify(key);
  }

  set(key: string, value: string | undefined): void {
    if (value === undefined) this.values?.delete(key);
    else this.values?.set(key, value);
    this.notify(key);
  }

  down(error: RegistryError): void {
    this.error = error;
    for (const sinks of this.sinks.values()) for (const sink of sinks) sink.down(error);
  }

  add(key: string, sink: ValueSink): () => void {
    const sinks = this.sinks.get(key) ?? new Set();
    this.sinks.set(key, sinks.add(sink));
    if (this.error) sink.down(this.error);
    else if (this.values) sink.set(this.values.get(key));
    return () => sinks.delete(sink);
  }

  private notify(key: string): void {
    for (const sink of this.sinks.get(key) ?? []) sink.set(this.values?.get(key));
  }
}
