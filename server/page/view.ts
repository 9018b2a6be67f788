// Puts the state on the page: header, the attendee filter, one column per store, the timeline. A snapshot
// reconciles what is already there (no flicker after a reconnect); a batch of changes touches only the
// tiles it names. The columns measure their room when the layout changes size, not on every change.
import type { StoreKind } from '../contract.ts';
import { AttendeeBar } from './attendee-bar.ts';
import {
  type AttendeeFilter,
  AttendeeIndex,
  filterFromHash,
  hashWithFilter,
  matchesFilter,
} from './attendees.ts';
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
  private readonly attendees = new AttendeeIndex();
  private readonly attendeeBar: AttendeeBar;
  private filter: AttendeeFilter = filterFromHash(window.location.hash);
  private readonly main: HTMLElement;
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
    this.attendeeBar = new AttendeeBar((filter) => this.setFilter(filter, true));
    this.main = el('main', 'columns');
    for (const store of STORE_ORDER) {
      const column = new Column(store);
      this.columns.set(store, column);
      this.main.append(column.element);
    }
    this.header.setControls(null);
    root.replaceChildren(this.header.element, this.attendeeBar.element, this.main, this.timeline.element);
    this.applyFilter();
    window.addEventListener('hashchange', () => this.setFilter(filterFromHash(window.location.hash), false));
    // Sizes that decide the columns' room: the header and the bar above them, each column's head (its
    // width is the column's). Not the columns themselves: their height follows the density chosen.
    const resized = new ResizeObserver(() => this.measure());
    for (const element of [this.header.element, this.attendeeBar.element]) resized.observe(element);
    for (const column of this.columns.values()) resized.observe(column.head);
    window.addEventListener('resize', () => this.measure());
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
    this.attendees.reset(state.devices.values());
    this.renderAttendees();
    this.renderAllSim();
    this.timeline.replace(state.timeline, (at) => state.toLocal(at));
  }

  renderChanges(applied: AppliedChanges): void {
    const { state } = this;
    const now = state.serverNow();
    let attendeesChanged = false;
    for (const view of applied.stores) this.columns.get(view.store)?.setView(view, now);
    for (const { store, id } of applied.removed) {
      this.columns.get(store)?.remove(id);
      if (this.attendees.remove(store, id)) attendeesChanged = true;
    }
    for (const device of applied.upserted) {
      this.columns.get(device.store)?.upsert(device, now);
      if (this.attendees.put(device)) attendeesChanged = true;
    }
    if (attendeesChanged) this.renderAttendees();
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

  /** Shows one attendee's devices (or all: null); `fromPage`: chosen on the page, kept in the URL. */
  private setFilter(filter: AttendeeFilter, fromPage: boolean): void {
    if (filter === this.filter) return;
    this.filter = filter;
    if (fromPage) {
      const url = new URL(window.location.href);
      url.hash = hashWithFilter(url.hash, filter);
      history.replaceState(history.state, '', url.href);
    }
    this.applyFilter();
    this.renderAttendees();
  }

  private applyFilter(): void {
    const filter = this.filter;
    for (const column of this.columns.values()) {
      column.setFilter((device) => matchesFilter(filter, device), filter !== null);
    }
  }

  private renderAttendees(): void {
    const { attendees } = this;
    this.attendeeBar.update(attendees.counts(), attendees.total, attendees.hasLabel, this.filter);
  }

  /** The room each column's tiles have: the viewport's height below the top of the columns. */
  private measure(): void {
    const top = this.main.getBoundingClientRect().top + window.scrollY;
    for (const column of this.columns.values()) column.measure(window.innerHeight - top);
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
