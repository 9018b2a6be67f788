// Where the stores disagree, on the page: small text badges on the tiles (two processes claim the id; the
// device applied another color in another store) and a line in each column's header counting them (with
// the devices this store lacks that another holds, the "not in <store>" markers of the tiles, and the
// config color when the stores hold different ones). The server decides what is flagged, after a short
// grace (server/fleet/disagreement.ts); the page shows the details from the stores' views it has.
// Text only (textContent), like everything the page shows.
import type { StoreKind } from '../contract.ts';
import type { Column } from './column.ts';
import { el, setAttr, setHidden } from './dom.ts';
import { type AppliedChanges, deviceKey, type FleetState, STORE_ORDER } from './state.ts';

const plural = (n: number, one: string, many: string) => `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
/** Ids named in a title: a few, then a count. */
const NAMED = 8;
const named = (ids: string[]) =>
  ids.length > NAMED ? `${ids.slice(0, NAMED).join(', ')} and ${ids.length - NAMED} more` : ids.join(', ');

interface Badge {
  kind: 'conflict' | 'colors' | 'missing' | 'config';
  text: string;
  title: string;
}

/** A set of badges in an element, redrawn only when they change. */
function showBadges(element: HTMLElement, badges: Badge[], className: string): void {
  const shown = JSON.stringify(badges);
  if (element.dataset.shown === shown) return;
  element.dataset.shown = shown;
  element.replaceChildren(
    ...badges.map((badge) => {
      const span = el('span', `${className} flag-${badge.kind}`, badge.text);
      span.title = badge.title;
      span.dataset.flag = badge.kind;
      return span;
    }),
  );
  setHidden(element, badges.length === 0);
  setAttr(element, 'data-flags', badges.length > 0 ? badges.map((b) => b.kind).join(' ') : null);
}

/** The badges of one device's tile in one store's column. */
function tileBadges(state: FleetState, store: StoreKind, id: string): Badge[] {
  const flags = state.flags.get(id);
  if (!flags) return [];
  const own = state.devices.get(deviceKey(store, id));
  const others = STORE_ORDER.filter((s) => s !== store).flatMap((s) => {
    const view = state.devices.get(deviceKey(s, id));
    return view ? [view] : [];
  });
  const badges: Badge[] = [];
  if (flags.conflict !== null) {
    const address = own ? `${own.host}:${own.port}` : '';
    const elsewhere = others.filter((v) => `${v.host}:${v.port}` !== address);
    // The badge stays a word on the projector; who holds what is in its title (hover, long press).
    const where = elsewhere.map((v) => `${v.store} has ${v.host}:${v.port}`).join(', ');
    badges.push({
      kind: 'conflict',
      text: 'conflict',
      title: `two processes claim ${id}: ${where ? `${store} has ${address}, ${where}` : flags.conflict}`,
    });
  }
  if (flags.colors !== null) {
    const differing = others.filter((v) => v.color !== (own?.color ?? null));
    const otherColors = differing.map((v) => `${v.store} ${v.color ?? 'none'}`).join(', ');
    badges.push({
      kind: 'colors',
      text: 'color differs',
      title: `${id} applied ${own?.color ?? 'none'} in ${store}${otherColors ? `, ${otherColors}` : ''} (${flags.colors.map((c) => `${c.store} ${c.color ?? 'none'}`).join(', ')})`,
    });
  }
  return badges;
}

/**
 * Per store, the devices another store holds and it does not: the page's own rule (state.missingFrom),
 * so that the count agrees with the tiles' "not in <store>" markers. One pass over the devices.
 */
function missingByStore(state: FleetState): Map<StoreKind, string[]> {
  const byStore = new Map<StoreKind, string[]>(STORE_ORDER.map((store) => [store, []]));
  const seen = new Set<string>();
  for (const device of state.devices.values()) {
    if (seen.has(device.id)) continue;
    seen.add(device.id);
    for (const store of state.missingFrom(device.id)) byStore.get(store)?.push(device.id);
  }
  return byStore;
}

/** The badges of one store's column header. */
function columnBadges(state: FleetState, store: StoreKind, column: Column, missing: string[]): Badge[] {
  const badges: Badge[] = [];
  if (missing.length > 0) {
    badges.push({
      kind: 'missing',
      text: `${plural(missing.length, 'device', 'devices')} missing here`,
      title: `not in ${store}, but in another store: ${named([...missing].sort())}`,
    });
  }
  const conflicts: string[] = [];
  const colors: string[] = [];
  for (const [id, flags] of state.flags) {
    if (!column.tile(id)) continue;
    if (flags.conflict !== null) conflicts.push(id);
    if (flags.colors !== null) colors.push(id);
  }
  if (conflicts.length > 0) {
    badges.push({
      kind: 'conflict',
      text: `${plural(conflicts.length, 'conflict', 'conflicts')}`,
      title: `two processes claim one id (different host:port in different stores): ${named(conflicts.sort())}`,
    });
  }
  if (colors.length > 0) {
    badges.push({
      kind: 'colors',
      text: `${plural(colors.length, 'color differs', 'colors differ')}`,
      title: `applied another color in another store: ${named(colors.sort())}`,
    });
  }
  const config = state.configColors;
  if (config?.some((c) => c.store === store)) {
    badges.push({
      kind: 'config',
      text: 'config color differs',
      title: `the stores hold different colors: ${config.map((c) => `${c.store} ${c.color ?? 'none'}`).join(', ')}`,
    });
  }
  return badges;
}

export class FlagsView {
  /** Every tile's and every column's badges (after a snapshot). */
  renderAll(columns: ReadonlyMap<StoreKind, Column>, state: FleetState): void {
    for (const [store, column] of columns) {
      for (const id of column.ids()) this.renderTile(column, store, id, state);
    }
    this.renderHeads(columns, state);
  }

  /**
   * After a batch: the tiles of the devices whose flags, stores or views changed (a flagged one's
   * details come from its views), and the column headers when anything they count may have changed
   * (one pass over the devices).
   */
  renderChanges(columns: ReadonlyMap<StoreKind, Column>, state: FleetState, applied: AppliedChanges): void {
    const ids = new Set([...applied.flags, ...applied.presenceChanged]);
    for (const device of applied.upserted) if (state.flags.has(device.id)) ids.add(device.id);
    for (const id of ids) {
      for (const [store, column] of columns) this.renderTile(column, store, id, state);
    }
    if (ids.size > 0 || applied.stores.length > 0 || applied.configColors) this.renderHeads(columns, state);
  }

  private renderHeads(columns: ReadonlyMap<StoreKind, Column>, state: FleetState): void {
    const missing = missingByStore(state);
    for (const [store, column] of columns) {
      const badges = columnBadges(state, store, column, missing.get(store) ?? []);
      showBadges(column.flagLine, badges, 'badge column-flag');
    }
  }

  private renderTile(column: Column, store: StoreKind, id: string, state: FleetState): void {
    const tile = column.tile(id);
    if (tile) showBadges(tile.flagSlot, tileBadges(state, store, id), 'badge tile-flag');
  }
}
