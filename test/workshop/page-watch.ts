// The live page as an attendee's browser holds it: the socket's snapshot and batches of changes applied
// by the page's own state code (server/page/state.ts), so that a lab's "look at the page" step is
// checked on exactly what the page would draw.
import { io, type Socket } from 'socket.io-client';
import type {
  ClientToServerEvents,
  DeviceView,
  ServerToClientEvents,
  StoreKind,
  StoreView,
  TimelineEntry,
} from '../../server/contract.ts';
import { deviceKey, FleetState } from '../../server/page/state.ts';
import { eventually } from '../support/eventually.ts';

export class PageWatch {
  readonly state = new FleetState();
  private synced = false;

  private constructor(private readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>) {
    socket.on('snapshot', (snapshot) => {
      this.state.replace(snapshot);
      this.synced = true;
    });
    socket.on('changes', (changes) => {
      if (this.synced) this.state.apply(changes);
    });
  }

  /** The audience's view (no token): what every attendee's browser shows. */
  static async open(url: string): Promise<PageWatch> {
    const watch = new PageWatch(io(url, { transports: ['websocket'], reconnectionDelayMax: 1000 }));
    await eventually(`the page's snapshot from ${url}`, () => watch.synced, { timeoutMs: 15_000 });
    return watch;
  }

  device(store: StoreKind, id: string): DeviceView | undefined {
    return this.state.devices.get(deviceKey(store, id));
  }

  devices(store: StoreKind): DeviceView[] {
    return [...this.state.devices.values()].filter((d) => d.store === store);
  }

  store(kind: StoreKind): StoreView {
    const view = this.state.stores.get(kind);
    if (!view) throw new Error(`the page has no ${kind} column`);
    return view;
  }

  timeline(): TimelineEntry[] {
    return this.state.timeline;
  }

  close(): void {
    this.socket.close();
  }
}
