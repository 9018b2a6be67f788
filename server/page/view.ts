// Puts the state on the page: header, the attendee filter, one column per store (one at a time behind
// tabs on a phone), the timeline, the selected device's details and the keys overlay. A snapshot
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
import { AudienceControls, type AudienceRequests } from './audience-controls.ts';
import { Column } from './column.ts';
import { Controls, type ControlsOptions } from './controls.ts';
import { DetailPanel } from './detail.ts';
import { el } from './dom.ts';
import { FlagsView } from './flags.ts';
import { compareIds } from './format.ts';
import { Header, type PageConnection } from './header.ts';
import { HelpOverlay, type RotateToken } from './help.ts';
import { type Direction, handleKey, nearestInDirection } from './keyboard.ts';
import { SimControls, type SimControlsOptions, simButtons } from './sim-controls.ts';
import { type AppliedChanges, deviceKey, type FleetState, STORE_ORDER } from './state.ts';
import { StoreTabs } from './store-tabs.ts';
import type { Tile } from './tile.ts';
import { Timeline } from './timeline.ts';

/** The projector layout (style.css): the page fills the screen, columns and timeline share its height. */
const STAGE_LAYOUT = '(min-width: 900px) and (min-height: 560px)';

interface Selection {
  store: StoreKind;
  id: string;
}

export class FleetView {
  private readonly header = new Header();
  private readonly columns = new Map<StoreKind, Column>();
  private readonly timeline = new Timeline();
  /** Where the stores disagree: badges on tiles and column heads (flags.ts). */
  private readonly flags = new FlagsView();
  private readonly attendees = new AttendeeIndex();
  private readonly attendeeBar: AttendeeBar;
  private filter: AttendeeFilter = filterFromHash(window.location.hash);
  private readonly main: HTMLElement;
  private controls: Controls | null = null;
  private readonly sim: SimControls;
  private readonly send: ControlsOptions['send'];
  private readonly detail = new DetailPanel(() => this.select(null));
  private readonly help: HelpOverlay;
  private readonly tabs: StoreTabs;
  private selected: Selection | null = null;
  private readonly stage = window.matchMedia(STAGE_LAYOUT);
  /** The presenter's pause / remove-all for the audience's phones (shown while they may join). */
  private readonly audienceControls: AudienceControls;

  constructor(
    private readonly root: HTMLElement,
    private readonly state: FleetState,
    send: {
      setColor: ControlsOptions['send'];
      simulate: SimControlsOptions['send'];
      rotateToken: RotateToken;
      audience: AudienceRequests;
    },
  ) {
    this.audienceControls = new AudienceControls(send.audience);
    this.send = send.setColor;
    this.help = new HelpOverlay(send.rotateToken);
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
    this.tabs = new StoreTabs((store) => {
      this.main.dataset.tab = store;
      this.measure();
    });
    this.main.dataset.tab = this.tabs.current;
    this.header.setControls(null);
    root.replaceChildren(
      this.header.element,
      this.attendeeBar.element,
      this.tabs.element,
      this.main,
      this.timeline.element,
      this.detail.element,
      this.help.element,
    );
    this.main.addEventListener('click', (event) => this.clicked(event));
    document.addEventListener('keydown', (event) => {
      if (this.keyDown(event)) event.preventDefault();
    });
    this.stage.addEventListener('change', () => this.measure());
    this.applyFilter();
    window.addEventListener('hashchange', () => this.setFilter(filterFromHash(window.location.hash), false));
    // Sizes that decide the columns' room: the header and the bar above them, each column's head (its
    // width is the column's). Not the columns themselves: their height follows the density chosen.
    const resized = new ResizeObserver(() => this.measure());
    for (const element of [this.header.element, this.attendeeBar.element, this.timeline.element])
      resized.observe(element);
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
      this.help.setPresenter(state.meta.presenter);
    }
    this.renderAudience(true);
    for (const [store, column] of this.columns) {
      column.setView(state.stores.get(store), now);
      for (const id of [...column.ids()]) {
        if (!state.devices.has(deviceKey(store, id))) column.remove(id);
      }
    }
    // In id order, so that new tiles are appended (no search for their place).
    const devices = [...state.devices.values()].sort((a, b) => compareIds(a.id, b.id));
    for (const device of devices) {
      const column = this.columns.get(device.store);
      const reading = state.liveness.get(deviceKey(device.store, device.id)) ?? null;
      column?.upsert(device, now).setReading(reading, column.windowMs, now);
    }
    for (const column of this.columns.values()) {
      for (const id of column.ids()) column.tile(id)?.setMissing(state.missingFrom(id));
      column.updateCount();
    }
    this.attendees.reset(state.devices.values());
    this.renderAttendees();
    this.renderAllSim();
    this.timeline.replace(state.timeline, (at) => state.toLocal(at));
    this.timeline.setPinned(state.pinned, state.meta?.presenter === true);
    this.flags.renderAll(this.columns, state);
    this.renderTabs();
    this.renderSelection();
  }

  renderChanges(applied: AppliedChanges): void {
    const { state } = this;
    const now = state.serverNow();
    let attendeesChanged = false;
    for (const view of applied.stores) this.columns.get(view.store)?.setView(view, now);
    for (const { store, id, expired } of applied.removed) {
      this.columns.get(store)?.remove(id, expired);
      if (this.attendees.remove(store, id)) attendeesChanged = true;
    }
    for (const device of applied.upserted) {
      this.columns.get(device.store)?.upsert(device, now);
      if (this.attendees.put(device)) attendeesChanged = true;
    }
    for (const reading of applied.liveness) {
      const column = this.columns.get(reading.store);
      column?.tile(reading.id)?.setReading(reading, column.windowMs, now);
    }
    if (attendeesChanged) this.renderAttendees();
    if (applied.phones.length > 0 || applied.phonesGone.length > 0 || applied.audience) {
      for (const cell of applied.phones) this.columns.get(cell.store)?.band.upsert(cell);
      for (const { store, id } of applied.phonesGone) this.columns.get(store)?.band.remove(id);
      this.renderAudience(false);
    }
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
    if (applied.pinned) this.timeline.setPinned(state.pinned, state.meta?.presenter === true);
    this.flags.renderChanges(this.columns, state, applied);
    this.renderTabs();
    if (this.selected) this.renderSelection();
  }

  /**
   * The audience bands (on while phones may join) and the presenter's audience buttons; `all`: every
   * phone from the snapshot, else the bands' counts and rates after a batch of changes.
   */
  private renderAudience(all: boolean): void {
    const { audience } = this.state;
    let phones = 0;
    let resized = false;
    for (const [store, column] of this.columns) {
      const { band } = column;
      if (band.on !== (audience !== null)) {
        band.setOn(audience !== null);
        resized = true;
      }
      band.setBand(audience?.bands.find((b) => b.store === store));
      if (all) band.replace([...this.state.phones.values()].filter((cell) => cell.store === store));
      phones = Math.max(phones, band.passing);
      if (!resized) column.layoutBand();
    }
    this.header.setAudienceControls(this.audienceControls.element);
    this.audienceControls.update(
      audience !== null && this.state.meta?.presenter === true,
      audience?.joining ?? true,
      phones,
    );
    if (resized) this.measure();
  }

  /** Once a second: ages and countdowns. */
  tick(): void {
    const now = this.state.serverNow();
    for (const column of this.columns.values()) column.tick(now);
    if (this.selected) this.renderSelection();
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

  /**
   * The room each column's tiles have: on the projector layout the columns' own height (the timeline
   * keeps its strip below them); in the flowing layout (phones) the viewport's height below their top.
   */
  private measure(): void {
    const room = this.stage.matches
      ? this.main.clientHeight
      : window.innerHeight - (this.main.getBoundingClientRect().top + window.scrollY);
    for (const column of this.columns.values()) column.measure(room);
  }

  private renderTabs(): void {
    for (const [store, column] of this.columns) this.tabs.setCount(store, column.countText);
  }

  private selectedTile(): Tile | undefined {
    const { selected } = this;
    return selected ? this.columns.get(selected.store)?.tile(selected.id) : undefined;
  }

  /** Selects a device's tile (null: none); its details open. */
  private select(selection: Selection | null): void {
    this.selectedTile()?.setSelected(false);
    this.selected = selection;
    const tile = this.selectedTile();
    tile?.setSelected(true);
    tile?.element.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    if (selection) {
      this.detail.setSide(selection.store === STORE_ORDER[STORE_ORDER.length - 1] ? 'left' : 'right');
      this.renderSim(selection.id);
    }
    this.renderSelection();
  }

  /** The detail panel follows the selected tile; a selection whose tile went away is dropped. */
  /**
   * The detail panel follows the selected device. When its tile leaves that column (it expired there),
   * the selection moves to the device's tile in another column; a simulated device that is in no
   * column stays selected (panel closed), so that R can replug what U unplugged. Otherwise it is dropped.
   */
  private renderSelection(): void {
    const { selected } = this;
    let tile = this.selectedTile();
    if (selected && !tile) {
      const elsewhere = STORE_ORDER.find((store) => this.columns.get(store)?.tile(selected.id));
      if (elsewhere) {
        this.selected = { store: elsewhere, id: selected.id };
        tile = this.selectedTile();
      } else if (!this.state.simulation?.has(selected.id)) {
        this.selected = null;
      }
    }
    // A device back in its column after a replug comes back as a new tile: selected again.
    tile?.setSelected(true);
    this.detail.show(tile?.device ?? null, tile?.liveText);
  }

  private clicked(event: MouseEvent): void {
    const target = event.target as Element | null;
    if (!target || target.closest('a, button, input, select')) return;
    const tile = target.closest<HTMLElement>('.tile');
    const store = tile?.dataset.store as StoreKind | undefined;
    const id = tile?.dataset.device;
    if (!store || id === undefined) return;
    const same = this.selected?.store === store && this.selected.id === id;
    this.select(same ? null : { store, id });
  }

  private keyDown(event: KeyboardEvent): boolean {
    return handleKey(event, {
      presenter: () => this.state.meta?.presenter === true && this.controls !== null,
      choose: (n) => {
        if (!this.controls?.choose(n)) this.controls?.tell('error', `no palette color ${n}`);
      },
      apply: () => this.controls?.applyChosen(),
      move: (direction) => this.move(direction),
      simulate: (action) => this.simulateSelected(action),
      fullScreen: () => {
        if (document.fullscreenElement) void document.exitFullscreen().catch(() => undefined);
        else void document.documentElement.requestFullscreen?.().catch(() => undefined);
      },
      help: () => this.help.toggle(),
      escape: () => {
        if (this.help.open) this.help.hide();
        else this.select(null);
      },
      readOnly: (key) => this.header.flash(`"${key}" is a presenter key: this page is read-only`),
    });
  }

  /** The arrow keys: the nearest shown tile that way on screen (the first one when none is selected). */
  private move(direction: Direction): void {
    const tiles: { item: Selection; rect: DOMRectReadOnly }[] = [];
    for (const [store, column] of this.columns) {
      if (column.element.offsetParent === null) continue; // a column behind another tab
      for (const id of column.ids()) {
        const tile = column.tile(id)!;
        if (tile.element.hidden) continue;
        tiles.push({ item: { store, id }, rect: tile.element.getBoundingClientRect() });
      }
    }
    const current = this.selectedTile();
    if (!current || current.element.offsetParent === null) {
      if (tiles[0]) this.select(tiles[0].item);
      return;
    }
    const next = nearestInDirection(current.element.getBoundingClientRect(), tiles, direction);
    if (next) this.select(next);
  }

  /** U / R / K on the selected device, as its tile's buttons would (replug means restart once it ended). */
  private simulateSelected(action: 'unplug' | 'replug' | 'kill'): void {
    const problem = this.cannotSimulate(action);
    if (problem) this.controls?.tell('error', problem);
  }

  /** Runs the action on the selected device; or says why it cannot. */
  private cannotSimulate(action: 'unplug' | 'replug' | 'kill'): string | undefined {
    const selected = this.selected;
    if (!selected) return `select a device first (arrow keys), then ${action}`;
    const sim = this.state.simulation?.get(selected.id);
    if (!sim) return `${selected.id} is not a simulated device: nothing to ${action}`;
    const spec = simButtons(sim.state, false).find((b) => b.action === action);
    if (!spec?.enabled) return `${selected.id} is ${sim.state}: it cannot be told to ${action} now`;
    void this.sim.run(selected.id, action, spec.label);
    return undefined;
  }

  /**
   * The simulated device's badge on its tiles (all columns, or one); its buttons in the detail panel
   * when it is the selected one (the presenter's only).
   */
  private renderSim(id: string, only?: StoreKind): void {
    const sim = this.state.simulation?.get(id);
    for (const [store, column] of this.columns) {
      if (only === undefined || only === store) column.tile(id)?.setSim(sim, null);
    }
    if (this.selected?.id === id) {
      this.detail.setSim(id, sim, this.state.meta?.presenter ? this.sim : null);
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
