// Puts the state on the page: header, one column per store, the timeline. A snapshot reconciles what is
// already there (no flicker after a reconnect); a batch of changes touches only the tiles it names.
import type { StoreKind } from '../contract.ts';
import { Column } from './column.ts';
import { Controls, type ControlsOptions } from './controls.ts';
import { el } from './dom.ts';
import { compareIds } from './format.ts';
import { Header, type PageConnection } from './header.ts';
import { SimControls, type SimControlsOptions } from './sim-controls.ts';
import { type AppliedChanges, deviceKey, type FleetState, STORE_ORDER } from './state.ts';
import { Timeline } from './timeline.ts';

export class FleetView {
  private readonly header = new Header();
  private readonly columns = new Map<StoreKind, Column>();
  private readonly timeline = new Timeline();
  private controls: Controls | null = null;
  private readonly sim: SimControls;
  private readonly send: ControlsOptions['send'];

  constructor(
    private readonly root: HTMLElement,
    private readonly state: FleetState,
    send: { setColor: ControlsOptions['send']; simulate: SimControlsOptions['send'] },
  ) {
    this.send = send.setColor;
    this.sim = new SimControls({
      send: send.simulate,
      begin: (text) => this.controls?.begin(text) ?? (() => {}),
      refresh: (id) => this.renderSim(id),
      answered: (device) => {
        if (this.state.putSimulated(device)) this.renderSim(device.id);
      },
    });
    const main = el('main', 'columns');
    for (const store of STORE_ORDER) {
      const column = new Column(store);
      this.columns.set(store, column);
      main.append(column.element);
    }
    this.header.setControls(null);
    root.replaceChildren(this.header.element, main, this.timeline.element);
  }

  setConnection(connection: PageConnection, detail?: string): void {
    this.header.setConnection(connection, detail);
    this.root.dataset.live = String(connection === 'connected');
  }

  renderSnapshot(): void {
    const { state } = this;
    const now = state.serverNow();
    if (state.meta) {
      this.header.setMeta(state.meta);
      if (state.meta.presenter) {
        this.controls ??= new Controls({ palette: state.meta.palette, send: this.send });
        this.controls.setPalette(state.meta.palette);
      } else {
        this.controls = null;
      }
      this.header.setControls(this.controls?.element ?? null);
    }
    for (const [store, column] of this.columns) {
      column.setView(state.stores.get(store), now);
      for (const id of [...column.ids()]) {
        if (!state.devices.has(deviceKey(store, id))) column.remove(id);
      }
    }
    // In id order, so that new tiles are appended (no search for their place).
    const devices = [...state.devices.values()].sort((a, b) => compareIds(a.id, b.id));
    for (const device of devices) this.columns.get(device.store)?.upsert(device, now);
    for (const column of this.columns.values()) {
      for (const id of column.ids()) column.tile(id)?.setMissing(state.missingFrom(id));
      column.updateCount();
    }
    this.renderAllSim();
    this.timeline.replace(state.timeline, (at) => state.toLocal(at));
  }

  renderChanges(applied: AppliedChanges): void {
    const { state } = this;
    const now = state.serverNow();
    for (const view of applied.stores) this.columns.get(view.store)?.setView(view, now);
    for (const { store, id } of applied.removed) this.columns.get(store)?.remove(id);
    for (const device of applied.upserted) this.columns.get(device.store)?.upsert(device, now);
    if (applied.simulation) this.renderAllSim();
    else for (const device of applied.upserted) this.renderSim(device.id, device.store);
    // Which stores count as having a list depends on their views: then every marker may change.
    const markers = applied.stores.length > 0 ? this.allIds() : applied.presenceChanged;
    for (const id of markers) {
      const missing = state.missingFrom(id);
      for (const column of this.columns.values()) column.tile(id)?.setMissing(missing);
    }
    if (applied.upserted.length > 0 || applied.removed.length > 0 || applied.stores.length > 0) {
      for (const column of this.columns.values()) column.updateCount();
    }
    this.timeline.add(applied.timeline, (at) => state.toLocal(at));
  }

  /** Once a second: ages and countdowns. */
  tick(): void {
    const now = this.state.serverNow();
    for (const column of this.columns.values()) column.tick(now);
  }

  /** The simulated device's badge and buttons on its tiles (all columns, or one). */
  private renderSim(id: string, only?: StoreKind): void {
    const sim = this.state.simulation?.get(id);
    const controls = this.state.meta?.presenter ? this.sim : null;
    for (const [store, column] of this.columns) {
      if (only === undefined || only === store) column.tile(id)?.setSim(sim, controls);
    }
  }

  private renderAllSim(): void {
    for (const id of this.allIds()) this.renderSim(id);
  }

  private allIds(): Set<string> {
    const ids = new Set<string>();
    for (const column of this.columns.values()) for (const id of column.ids()) ids.add(id);
    return ids;
  }
}
