// One store's column: a header (connection, liveness model, members, count, config color) redrawn only
// when the store's view changes, and the store's device tiles, kept in id order and updated in place.
// Its density (full tiles, compact tiles, a dense grid of cells: density.ts) follows the devices it
// shows (the page's filter may leave some out) and the room it has on screen.
import type { ClusterMember, DeviceView, ExpiredStamp, StoreKind, StoreView } from '../contract.ts';
import { AudienceBandView } from './audience-band.ts';
import { byColor, colorCountNodes, spaced } from './color-summary.ts';
import { bandHeight, type ColumnSpace, chooseDensity, type Density } from './density.ts';
import { el, setAttr, setBackground, setHidden, setPieces, setText } from './dom.ts';
import { compareIds, formatCount } from './format.ts';
import { leaveGhost } from './liveness-bar.ts';
import { StorePanel } from './store-controls.ts';
import { Tile } from './tile.ts';

/**
 * Beside the tiles in the column's height: its padding and border, the grid's margin, and the dense
 * grid's count line under it (two lines on a narrow column), so that the line stays on screen (CSS px).
 */
const BELOW_HEAD_PX = 80;
/** The dense grid's count line names at most this many colors, then "+N more". */
const SUMMARY_COLORS = 6;

interface StoreStatus {
  label: string;
  tone: 'ok' | 'pending' | 'down' | 'refused' | 'unknown';
}

function storeStatus(view: StoreView | undefined): StoreStatus {
  if (!view) return { label: 'no data', tone: 'unknown' };
  // The store answers and refuses the server's credentials: not "down" (the error line says what to do).
  if (view.connection === 'unauthorized') return { label: 'UNAUTHORIZED', tone: 'refused' };
  if (view.watch === 'down' || view.connection === 'disconnected') return { label: 'DOWN', tone: 'down' };
  if (view.watch === 'closed' || view.connection === 'closed') return { label: 'closed', tone: 'down' };
  if (view.connection === 'connecting') return { label: 'connecting…', tone: 'pending' };
  if (view.watch === 'syncing') return { label: 'syncing…', tone: 'pending' };
  return { label: 'connected', tone: 'ok' };
}

/**
 * Entries under the service's folder that are not devices, said in a line (none: no pieces). In pieces,
 * so that a narrow column breaks the line between them, never between "1" and "malformed".
 */
function skippedPieces(view: StoreView | undefined): string[] {
  const parts: string[] = [];
  if (view?.skipped.notAlive) parts.push(`${formatCount(view.skipped.notAlive)} not alive (written by hand)`);
  if (view?.skipped.malformed) parts.push(`${formatCount(view.skipped.malformed)} malformed`);
  return parts.length > 0
    ? ['not devices, skipped:', ...parts.map((part, i) => (i > 0 ? `· ${part}` : part))]
    : [];
}

function memberItem(member: ClusterMember): HTMLLIElement {
  const item = el('li', `member member-${member.role}`);
  item.append(el('span', 'member-name', member.name));
  const role = member.role === 'leader' ? '★ leader' : member.role;
  item.append(el('span', 'member-role', member.healthy ? role : `${role}, unhealthy`));
  item.title = member.endpoint;
  item.dataset.role = member.role;
  item.dataset.healthy = String(member.healthy);
  return item;
}

export class Column {
  readonly element: HTMLElement;
  private readonly tiles = new Map<string, Tile>();
  private readonly grid: HTMLElement;
  readonly head: HTMLElement;
  private readonly state: HTMLElement;
  private readonly error: HTMLElement;
  private readonly stale: HTMLElement;
  private readonly window: HTMLElement;
  private readonly members: HTMLUListElement;
  /** The kit's processes of this store and the presenter's stop / kill / restart (store-controls.ts). */
  private readonly storePanel: StorePanel;
  private readonly count: HTMLElement;
  private readonly skipped: HTMLElement;
  /** Where the stores disagree, counted: badges drawn by flags.ts. */
  readonly flagLine: HTMLElement;
  /** After the last tile: "and 1,234 more" when the server holds devices back (its cap). */
  private readonly more: HTMLElement;
  /** Under a dense grid: how many are passing / critical, and per color. */
  private readonly summary: HTMLElement;
  private summaryShown = '';
  private readonly configSwatch: HTMLElement;
  private readonly configText: HTMLElement;
  /** "next pick: a17-2": the device a least-loaded client would be handed now (StoreView.pick). */
  private readonly pickLine: HTMLElement;
  private pickId: string | null = null;
  private view: StoreView | undefined;
  private viewShown: string | null = null;
  private show: (device: DeviceView) => boolean = () => true;
  private filtered = false;
  private space: ColumnSpace | null = null;
  /** The room measured last (before the band takes its share): width, and height below the head. */
  private room: ColumnSpace | null = null;
  private bandPx = 0;
  private density: Density = 'full';
  /** The audience's phones in this store, under the tiles (audience-band.ts). */
  readonly band: AudienceBandView;

  constructor(readonly store: StoreKind) {
    this.element = el('section', 'column');
    this.element.dataset.store = store;
    this.element.setAttribute('aria-label', `${store} view`);
    const head = el('header', 'column-head');
    this.head = head;
    const title = el('div', 'column-title');
    this.state = el('span', 'store-state');
    title.append(el('h2', 'column-name', store), this.state);
    this.error = el('p', 'column-error');
    this.stale = el('p', 'column-stale', 'last known devices, may be stale');
    this.window = el('p', 'column-window');
    this.skipped = el('p', 'column-skipped');
    this.flagLine = el('p', 'column-flags');
    this.flagLine.hidden = true;
    this.members = el('ul', 'members');
    this.storePanel = new StorePanel(store);
    const meta = el('div', 'column-meta');
    this.count = el('span', 'column-count');
    const config = el('span', 'column-config');
    this.configSwatch = el('span', 'swatch');
    this.configText = el('span', 'config-text');
    config.append(this.configSwatch, this.configText);
    this.pickLine = el('span', 'column-pick');
    this.pickLine.title = 'the device a least-loaded client would be handed now (fleetkit pick)';
    meta.append(this.count, this.pickLine, config);
    head.append(
      title,
      this.error,
      this.stale,
      this.window,
      this.members,
      this.storePanel.element,
      meta,
      this.flagLine,
      this.skipped,
    );
    this.grid = el('div', 'tiles');
    this.more = el('p', 'column-more');
    this.summary = el('p', 'column-summary');
    this.summary.hidden = true;
    this.band = new AudienceBandView(store);
    this.element.append(head, this.grid, this.summary, this.more, this.band.element);
    this.element.dataset.density = this.density;
    this.setView(undefined, Date.now());
  }

  /** The head's count line ("6 devices · 1 critical"), for the phone's store tabs. */
  get countText(): string {
    return this.count.textContent ?? '';
  }

  get windowMs(): number {
    return this.view?.windowMs ?? 0;
  }

  setView(view: StoreView | undefined, serverNow: number): void {
    this.view = view;
    const shown = view ? JSON.stringify(view) : '';
    if (shown === this.viewShown) return;
    this.viewShown = shown;
    const status = storeStatus(view);
    setAttr(this.element, 'data-connection', view?.connection ?? 'unknown');
    setAttr(this.element, 'data-watch', view?.watch ?? 'unknown');
    setText(this.state, status.label);
    setAttr(this.state, 'data-tone', status.tone);
    setText(this.error, view?.error ?? '');
    setHidden(this.error, !view?.error);
    setHidden(this.stale, status.tone !== 'down' && status.tone !== 'refused');
    setText(this.window, view ? `liveness: ${view.windowText}` : 'not configured on this host');
    // On the stage the line is cut to one line; all of it on hover.
    setAttr(this.window, 'title', view ? view.windowText : null);
    this.members.replaceChildren(...(view?.members ?? []).map(memberItem));
    this.storePanel.update(view);
    setHidden(this.members, (view?.members.length ?? 0) === 0 || this.storePanel.showsMembers);
    setBackground(this.configSwatch, view?.color ?? null);
    setText(this.configText, view?.color ? `config color ${view.color}` : 'config color: none');
    const skipped = skippedPieces(view);
    setPieces(this.skipped, skipped);
    setHidden(this.skipped, skipped.length === 0);
    const hidden = view?.hidden ?? 0;
    setText(this.more, `and ${formatCount(hidden)} more`);
    setHidden(this.more, hidden === 0);
    this.setPick(view ? view.pick : null, view !== undefined && view.watch !== 'syncing');
    this.updateCount();
    this.tick(serverNow);
  }

  /** Adds or updates the device's tile; returns it. */
  upsert(device: DeviceView, serverNow: number): Tile {
    const existing = this.tiles.get(device.id);
    if (existing) {
      existing.update(device, this.windowMs, serverNow);
      existing.setShown(this.show(device));
      return existing;
    }
    const tile = new Tile(device, this.windowMs, serverNow);
    tile.setDensity(this.density);
    tile.setPick(device.id === this.pickId);
    tile.setShown(this.show(device));
    this.tiles.set(device.id, tile);
    this.grid.insertBefore(tile.element, this.tileAfter(device.id));
    return tile;
  }

  /** `expired`: it ran out; a ghost says after how long (liveness-bar.ts), for a while. */
  remove(id: string, expired?: ExpiredStamp): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    if (expired) leaveGhost(tile.element, tile.device, expired);
    else tile.element.remove();
    this.tiles.delete(id);
  }

  tile(id: string): Tile | undefined {
    return this.tiles.get(id);
  }

  ids(): IterableIterator<string> {
    return this.tiles.keys();
  }

  /** Marks the store's next pick on its tile (if shown) and names it in the head. */
  private setPick(id: string | null, known: boolean): void {
    if (id !== this.pickId) {
      if (this.pickId !== null) this.tiles.get(this.pickId)?.setPick(false);
      if (id !== null) this.tiles.get(id)?.setPick(true);
      this.pickId = id;
    }
    setText(this.pickLine, id !== null ? `next pick: ${id}` : 'next pick: none passing');
    setAttr(this.pickLine, 'data-pick', id);
    setHidden(this.pickLine, !known);
  }

  /** Which devices to show (the page's filter); `active`: some are left out by choice, said in the count. */
  setFilter(show: (device: DeviceView) => boolean, active: boolean): void {
    this.show = show;
    this.filtered = active;
    for (const tile of this.tiles.values()) tile.setShown(show(tile.device));
    this.updateCount();
  }

  /**
   * Measures the room the tiles have: the column's inner width, and the viewport's height below the
   * top of the columns (`heightBelowTopPx`) less this column's head. Called on a resize, not per change.
   */
  measure(heightBelowTopPx: number): void {
    const style = getComputedStyle(this.element);
    const padding = Number.parseFloat(style.paddingLeft) + Number.parseFloat(style.paddingRight);
    this.room = {
      widthPx: this.element.clientWidth - (Number.isFinite(padding) ? padding : 0),
      heightPx: heightBelowTopPx - this.head.offsetHeight - BELOW_HEAD_PX,
    };
    this.bandPx = -1;
    this.layoutBand();
  }

  /**
   * The audience band's share of the room (what its phones need, within its share; audience-band.ts)
   * and the tiles' space in the rest: called when the room or the band's count changes.
   */
  layoutBand(): void {
    const room = this.room;
    if (!room) return;
    const bandPx = this.band.on ? bandHeight(room.heightPx, room.widthPx, this.band.count) : 0;
    if (bandPx === this.bandPx) return;
    this.bandPx = bandPx;
    this.band.measure({ widthPx: room.widthPx, heightPx: bandPx });
    this.space = { widthPx: room.widthPx, heightPx: room.heightPx - bandPx };
    this.updateDensity(this.shownCount());
  }

  tick(serverNow: number): void {
    for (const tile of this.tiles.values()) tile.tick(this.windowMs, serverNow);
  }

  updateCount(): void {
    let critical = 0;
    let shown = 0;
    for (const tile of this.tiles.values()) {
      if (tile.element.hidden) continue;
      shown++;
      if (tile.device.health === 'critical') critical++;
    }
    const n = this.tiles.size + (this.view?.hidden ?? 0);
    const devices = `${formatCount(n)} ${n === 1 ? 'device' : 'devices'}`;
    const parts = [this.filtered ? `${formatCount(shown)} of ${devices} shown` : devices];
    if (critical > 0) parts.push(`${critical} critical`);
    const tone = storeStatus(this.view).tone;
    // On a phone this line is the store's tab: a refusal is said there too.
    if (tone === 'down') parts.push('last known');
    if (tone === 'refused') parts.push('UNAUTHORIZED');
    setText(this.count, parts.join(' · '));
    this.updateDensity(shown);
  }

  private shownCount(): number {
    let shown = 0;
    for (const tile of this.tiles.values()) if (!tile.element.hidden) shown++;
    return shown;
  }

  /** The density for this many devices in the space measured last (the first tier until measured). */
  private updateDensity(shown: number): void {
    // Beside the audience band, the tiles take only what fits (the band stays on screen).
    const choice = chooseDensity(shown, this.space, this.band.on);
    if (choice.density !== this.density) {
      this.density = choice.density;
      this.element.dataset.density = choice.density;
      for (const tile of this.tiles.values()) tile.setDensity(choice.density);
    }
    const cell = `${choice.cellPx}px`;
    if (this.grid.style.getPropertyValue('--cell') !== cell) this.grid.style.setProperty('--cell', cell);
    this.updateSummary();
  }

  /** A dense grid's count line: "118 passing · 2 critical · ■ 100 · ■ 20" (a swatch per color). */
  private updateSummary(): void {
    const dense = this.density === 'dense';
    setHidden(this.summary, !dense);
    if (!dense) return;
    const health = new Map<string, number>();
    const colors: (string | null)[] = [];
    for (const tile of this.tiles.values()) {
      if (tile.element.hidden) continue;
      const { health: status, color } = tile.device;
      health.set(status, (health.get(status) ?? 0) + 1);
      colors.push(color);
    }
    const byHealth = (['passing', 'warning', 'critical'] as const)
      .filter((status) => health.has(status))
      .map((status) => [status, health.get(status)!] as const);
    const counted = byColor(colors);
    const shown = JSON.stringify([byHealth, counted]);
    if (shown === this.summaryShown) return;
    this.summaryShown = shown;
    const nodes: Node[] = [];
    for (const [status, n] of byHealth) {
      const part = el('span', 'summary-health', `${formatCount(n)} ${status}`);
      part.dataset.health = status;
      nodes.push(part);
    }
    nodes.push(...colorCountNodes(counted, SUMMARY_COLORS, 'devices'));
    this.summary.replaceChildren(...spaced(nodes));
  }

  /** The first tile whose id sorts after this one (binary search over the grid's children). */
  private tileAfter(id: string): Element | null {
    const children = this.grid.children;
    const last = children[children.length - 1] as HTMLElement | undefined;
    if (!last || compareIds(last.dataset.device ?? '', id) <= 0) return null;
    let low = 0;
    let high = children.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      const other = (children[middle] as HTMLElement).dataset.device ?? '';
      if (compareIds(other, id) <= 0) low = middle + 1;
      else high = middle;
    }
    return children[low] ?? null;
  }
}
