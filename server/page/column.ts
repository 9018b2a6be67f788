// One store's column: a header (connection, liveness model, members, count, config color) redrawn only
// when the store's view changes, and the store's device tiles, kept in id order and updated in place.
import type { ClusterMember, DeviceView, StoreKind, StoreView } from '../contract.ts';
import { el, setAttr, setBackground, setHidden, setPieces, setText } from './dom.ts';
import { compareIds } from './format.ts';
import { Tile } from './tile.ts';

/** Tiles in one column above which they are drawn compact. */
const COMPACT_ABOVE = 12;

interface StoreStatus {
  label: string;
  tone: 'ok' | 'pending' | 'down' | 'unknown';
}

function storeStatus(view: StoreView | undefined): StoreStatus {
  if (!view) return { label: 'no data', tone: 'unknown' };
  if (view.watch === 'down' || view.connection === 'disconnected') return { label: 'DOWN', tone: 'down' };
  if (view.watch === 'closed' || view.connection === 'closed') return { label: 'closed', tone: 'down' };
  if (view.connection === 'connecting') return { label: 'connecting…', tone: 'pending' };
  if (view.watch === 'syncing') return { label: 'syncing…', tone: 'pending' };
  return { label: 'connected', tone: 'ok' };
}

const formatCount = (n: number) => n.toLocaleString('en');

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
  private readonly state: HTMLElement;
  private readonly error: HTMLElement;
  private readonly stale: HTMLElement;
  private readonly window: HTMLElement;
  private readonly members: HTMLUListElement;
  private readonly count: HTMLElement;
  private readonly skipped: HTMLElement;
  /** After the last tile: "and 1,234 more" when the server holds devices back (its cap). */
  private readonly more: HTMLElement;
  private readonly configSwatch: HTMLElement;
  private readonly configText: HTMLElement;
  private view: StoreView | undefined;
  private viewShown: string | null = null;

  constructor(readonly store: StoreKind) {
    this.element = el('section', 'column');
    this.element.dataset.store = store;
    this.element.setAttribute('aria-label', `${store} view`);
    const head = el('header', 'column-head');
    const title = el('div', 'column-title');
    this.state = el('span', 'store-state');
    title.append(el('h2', 'column-name', store), this.state);
    this.error = el('p', 'column-error');
    this.stale = el('p', 'column-stale', 'last known devices, may be stale');
    this.window = el('p', 'column-window');
    this.skipped = el('p', 'column-skipped');
    this.members = el('ul', 'members');
    const meta = el('div', 'column-meta');
    this.count = el('span', 'column-count');
    const config = el('span', 'column-config');
    this.configSwatch = el('span', 'swatch');
    this.configText = el('span', 'config-text');
    config.append(this.configSwatch, this.configText);
    meta.append(this.count, config);
    head.append(title, this.error, this.stale, this.window, this.members, meta, this.skipped);
    this.grid = el('div', 'tiles');
    this.more = el('p', 'column-more');
    this.element.append(head, this.grid, this.more);
    this.setView(undefined, Date.now());
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
    setHidden(this.stale, status.tone !== 'down');
    setText(this.window, view ? `liveness: ${view.windowText}` : 'not configured on this host');
    this.members.replaceChildren(...(view?.members ?? []).map(memberItem));
    setHidden(this.members, (view?.members.length ?? 0) === 0);
    setBackground(this.configSwatch, view?.color ?? null);
    setText(this.configText, view?.color ? `config color ${view.color}` : 'config color: none');
    const skipped = skippedPieces(view);
    setPieces(this.skipped, skipped);
    setHidden(this.skipped, skipped.length === 0);
    const hidden = view?.hidden ?? 0;
    setText(this.more, `and ${formatCount(hidden)} more`);
    setHidden(this.more, hidden === 0);
    this.updateCount();
    this.tick(serverNow);
  }

  /** Adds or updates the device's tile; returns it. */
  upsert(device: DeviceView, serverNow: number): Tile {
    const existing = this.tiles.get(device.id);
    if (existing) {
      existing.update(device, this.windowMs, serverNow);
      return existing;
    }
    const tile = new Tile(device, this.windowMs, serverNow);
    this.tiles.set(device.id, tile);
    this.grid.insertBefore(tile.element, this.tileAfter(device.id));
    return tile;
  }

  remove(id: string): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    tile.element.remove();
    this.tiles.delete(id);
  }

  tile(id: string): Tile | undefined {
    return this.tiles.get(id);
  }

  ids(): IterableIterator<string> {
    return this.tiles.keys();
  }

  tick(serverNow: number): void {
    for (const tile of this.tiles.values()) tile.tick(this.windowMs, serverNow);
  }

  updateCount(): void {
    let critical = 0;
    for (const tile of this.tiles.values()) if (tile.device.health === 'critical') critical++;
    const n = this.tiles.size + (this.view?.hidden ?? 0);
    const parts = [`${formatCount(n)} ${n === 1 ? 'device' : 'devices'}`];
    if (critical > 0) parts.push(`${critical} critical`);
    if (storeStatus(this.view).tone === 'down') parts.push('last known');
    setText(this.count, parts.join(' · '));
    // Many devices: smaller tiles without labels, so a projector still shows the whole fleet.
    setAttr(this.element, 'data-density', this.tiles.size > COMPACT_ABOVE ? 'compact' : 'normal');
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
