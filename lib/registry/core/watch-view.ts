// What the two watch views (instances, a config key) share: the state of the watch, told once per
// change, "down" while the store is unreachable (the view keeps what it knew), and close(), which stops
// the adapter's watch; nothing is told after it.
import { EventEmitter } from 'node:events';
import type { RegistryError } from '../errors.ts';
import type { WatchState } from '../types.ts';

interface WatchStateEvents {
  state: [state: WatchState, error?: RegistryError];
}

export abstract class WatchView<
  Events extends WatchStateEvents & Record<keyof Events, unknown[]>,
> extends EventEmitter<Events> {
  private current: WatchState = 'syncing';
  /** The code of the error the last 'down' was told with. */
  private downCode: string | undefined;
  private stopWatch: (() => void) | undefined;

  get state(): WatchState {
    return this.current;
  }

  close(): void {
    this.stopWatch?.();
    this.stopWatch = undefined;
    this.setState('closed');
  }

  /** The store is unreachable: the view keeps what it knew and says so. */
  down(error: RegistryError): void {
    if (this.closed) return;
    this.setState('down', error);
  }

  protected get closed(): boolean {
    return this.current === 'closed';
  }

  /**
   * Starts the adapter's watch with this view as its sink. Called by the subclass's constructor once
   * its own fields exist: an adapter may hand what it already knows at once.
   */
  protected follow(start: (sink: this) => () => void): void {
    this.stopWatch = start(this);
  }

  protected setState(state: WatchState, error?: RegistryError): void {
    // 'down' is told again when its reason changes kind (unreachable -> unauthorized, and back).
    if (this.current === state && !(state === 'down' && error?.code !== this.downCode)) return;
    this.downCode = state === 'down' ? error?.code : undefined;
    this.current = state;
    (this as EventEmitter<WatchStateEvents>).emit('state', state, error);
  }
}
