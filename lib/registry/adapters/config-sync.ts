// The config keys a process uses, each kept in sync by its own loop in the adapter (a read, then a
// watch or blocking query of that one key). Only keys in use are read and kept: reading the whole
// `<ns>/config/` folder let anything written under it by hand reach, and blind, every device. The
// kit's own keys (KIT_CONFIG_KEYS) are synced for as long as the adapter lives, and their sync is
// also how etcd and Consul tell that they are connected.
import { KIT_CONFIG_KEYS } from '../config-keys.ts';
import type { RegistryError } from '../errors.ts';
import type { ValueSink } from './adapter.ts';

export interface KeyFollower {
  value(raw: string | undefined): void;
  down(error: RegistryError): void;
}

/** Starts the adapter's sync loop of one key; it stops when `signal` aborts. */
export type FollowKey = (key: string, to: KeyFollower, signal: AbortSignal) => void;

interface KeyState {
  /** Whether a value (or its absence) has been read since the last outage. */
  known: boolean;
  value: string | undefined;
  error: RegistryError | undefined;
  sinks: Set<ValueSink>;
  stop: AbortController;
}

export class ConfigSync {
  private readonly keys = new Map<string, KeyState>();

  constructor(
    private readonly follow: FollowKey,
    /** Told of the kit's own keys' syncs: the adapter's connection state. */
    private readonly connection: KeyFollower,
    private readonly closing: AbortSignal,
  ) {
    for (const key of KIT_CONFIG_KEYS) this.start(key, true);
  }

  add(key: string, sink: ValueSink): () => void {
    const state = this.keys.get(key) ?? this.start(key, false);
    state.sinks.add(sink);
    if (state.error) sink.down(state.error);
    else if (state.known) sink.set(state.value);
    return () => {
      state.sinks.delete(sink);
      if (state.sinks.size === 0 && !KIT_CONFIG_KEYS.includes(key)) {
        state.stop.abort();
        this.keys.delete(key);
      }
    };
  }

  private start(key: string, kit: boolean): KeyState {
    const state: KeyState = {
      known: false,
      value: undefined,
      error: undefined,
      sinks: new Set(),
      stop: new AbortController(),
    };
    this.keys.set(key, state);
    this.follow(
      key,
      {
        value: (raw) => {
          state.known = true;
          state.value = raw;
          state.error = undefined;
          if (kit) this.connection.value(raw);
          for (const sink of state.sinks) sink.set(raw);
        },
        down: (error) => {
          state.error = error;
          if (kit) this.connection.down(error);
          for (const sink of state.sinks) sink.down(error);
        },
      },
      AbortSignal.any([state.stop.signal, this.closing]),
    );
    return state;
  }
}
