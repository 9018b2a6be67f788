// One column's audience band: the phones this store holds (service `audience`), under the Pis' tiles
// and apart from them, so that a hundred phones leave the Pis readable. A line of counts ("42 phones ·
// 1 critical · +1.2/s in · 0.3/s out", over the last 10 s), then one small cell per phone in its color (a critical one
// outlined), as large as the band's room allows; past what fits, counts per color only (density.ts).
// Everything a phone reported is shown as text or as a style value, never as markup.
import type { AudienceBand, PhoneCell, StoreKind } from '../contract.ts';
import { byColor, colorCountNodes, spaced } from './color-summary.ts';
import { type BandDensity, type ColumnSpace, chooseBandDensity } from './density.ts';
import { el, setAttr, setBackground, setHidden, setText } from './dom.ts';
import { formatCount, loadHeadline } from './format.ts';

/** The counts-only line names at most this many colors, then "+N more". */
const COUNT_COLORS = 6;

export class AudienceBandView {
  readonly element: HTMLElement;
  private readonly line: HTMLElement;
  private readonly grid: HTMLElement;
  private readonly counts: HTMLElement;
  private readonly cells = new Map<string, { element: HTMLElement; cell: PhoneCell }>();
  private band: AudienceBand | undefined;
  private space: ColumnSpace | null = null;
  private density: BandDensity = { density: 'cells', cellPx: 20 };
  private countsShown = '';

  constructor(readonly store: StoreKind) {
    this.element = el('section', 'audience-band');
    this.element.setAttribute('aria-label', `audience phones in ${store}`);
    this.line = el('p', 'band-line');
    this.grid = el('div', 'band-cells');
    this.counts = el('p', 'band-counts');
    this.element.append(this.line, this.grid, this.counts);
    this.element.hidden = true;
    this.render();
  }

  /** Shown while the server lets phones join (--audience-devices); hidden otherwise. */
  setOn(on: boolean): void {
    setHidden(this.element, !on);
  }

  get on(): boolean {
    return !this.element.hidden;
  }

  get count(): number {
    return this.cells.size + (this.band?.hidden ?? 0);
  }

  /** Phones passing here (held by the server: what "remove all" deregisters at once). */
  get passing(): number {
    let passing = 0;
    for (const { cell } of this.cells.values()) if (cell.health === 'passing') passing++;
    return passing;
  }

  setBand(band: AudienceBand | undefined): void {
    this.band = band;
    this.render();
  }

  upsert(cell: PhoneCell): void {
    let shown = this.cells.get(cell.id);
    if (!shown) {
      const element = el('span', 'phone-cell');
      element.dataset.phone = cell.id;
      this.grid.append(element);
      shown = { element, cell };
      this.cells.set(cell.id, shown);
    }
    shown.cell = cell;
    setBackground(shown.element, cell.color);
    setAttr(shown.element, 'data-health', cell.health);
    const text = `${cell.id}: ${cell.health}, ${loadHeadline(cell.load) ?? 'no load yet'}, ${cell.color ? `color ${cell.color}` : 'no color yet'}`;
    setAttr(shown.element, 'title', text);
    setAttr(shown.element, 'aria-label', text);
  }

  remove(id: string): void {
    this.cells.get(id)?.element.remove();
    this.cells.delete(id);
  }

  /** Every phone in this store, for a snapshot: the cells of phones no longer there go. */
  replace(cells: PhoneCell[]): void {
    const ids = new Set(cells.map((c) => c.id));
    for (const id of [...this.cells.keys()]) if (!ids.has(id)) this.remove(id);
    for (const cell of cells) this.upsert(cell);
    this.render();
  }

  /** The band's room (its width, and the height the column gives it). */
  measure(space: ColumnSpace): void {
    this.space = space;
    this.render();
  }

  /** The head line, the density for the phones there now, and the counts line when it is counts only. */
  render(): void {
    const phones = this.count;
    let critical = 0;
    for (const { cell } of this.cells.values()) if (cell.health === 'critical') critical++;
    const parts = [`${formatCount(phones)} ${phones === 1 ? 'phone' : 'phones'}`];
    if (critical > 0) parts.push(`${formatCount(critical)} critical`);
    const band = this.band;
    if (band) parts.push(`+${band.joinsPerSecond}/s in`, `${band.leavesPerSecond}/s out`);
    setText(this.line, parts.join(' · '));
    this.line.title = `the audience's phones in ${this.store}: how many, and how many joined and left per second over the last 10 s`;
    this.density = this.space ? chooseBandDensity(phones, this.space) : this.density;
    this.element.dataset.density = this.density.density;
    setHidden(this.grid, this.density.density !== 'cells' || this.cells.size === 0);
    if (this.density.density === 'cells') {
      const cell = `${this.density.cellPx}px`;
      if (this.grid.style.getPropertyValue('--cell') !== cell) this.grid.style.setProperty('--cell', cell);
    }
    this.renderCounts();
  }

  /** Counts only: "■ 120 · ■ 40 · +2 more colors". */
  private renderCounts(): void {
    const countsOnly = this.density.density === 'counts';
    setHidden(this.counts, !countsOnly);
    if (!countsOnly) return;
    const counted = byColor([...this.cells.values()].map(({ cell }) => cell.color));
    const shown = JSON.stringify(counted);
    if (shown === this.countsShown) return;
    this.countsShown = shown;
    this.counts.replaceChildren(...spaced(colorCountNodes(counted, COUNT_COLORS, 'phones')));
  }
}
