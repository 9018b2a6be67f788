// How densely a store's column draws its devices: full tiles, compact tiles (id, color, CPU), or a
// dense grid of colored cells. Chosen per column from how many devices it shows and the room it has on
// screen, so that a 6-device demo keeps its full tiles and a 120-device classroom still fits a
// projector. Pure (no DOM): the column measures its space, this decides. The stage issue extends the
// table (a tier for the audience's phones, one for the 1,000-device bench): a new tier is a new entry.

export type Density = 'full' | 'compact' | 'dense';

/** The room a column's tiles have: its inner width and the viewport's height left below its head. */
export interface ColumnSpace {
  widthPx: number;
  heightPx: number;
}

export interface TierSpec {
  density: Exclude<Density, 'dense'>;
  /** The narrowest tile (CSS px): the grid fits as many per row as this allows (style.css reads it). */
  minWidthPx: number;
  /** A tile's height as drawn, about (CSS px). */
  heightPx: number;
  gapPx: number;
  /**
   * The most devices this tier is used for is what fits the column's space, kept within these bounds:
   * a small screen still shows `least` devices this way (scrolling a little), a 4K screen at most `most`.
   * Around the nominal "full up to about 12, compact up to about 60" of a 1920x1080 laptop.
   */
  least: number;
  most: number;
}

/** Tried in order; the first whose bound holds the devices shown wins; past the last, the dense grid. */
export const TIERS: readonly TierSpec[] = [
  { density: 'full', minWidthPx: 120, heightPx: 135, gapPx: 8, least: 6, most: 24 },
  { density: 'compact', minWidthPx: 120, heightPx: 56, gapPx: 6, least: 30, most: 150 },
];

/** The dense grid's square cells: as large as the space allows for the devices shown, within these. */
export const DENSE_CELL = { minPx: 14, maxPx: 40, gapPx: 3 } as const;

export interface DensityChoice {
  density: Density;
  /** The dense grid's cell size (CSS px); for the tiers, their narrowest tile. */
  cellPx: number;
}

/** Whole tiles of `size` (+ gap between) in `length`; at least one. */
const fit = (length: number, size: number, gap: number): number =>
  Math.max(1, Math.floor((Math.max(0, length) + gap) / (size + gap)));

/** How many tiles of this tier fit the space without scrolling. */
export function capacity(tier: TierSpec, space: ColumnSpace): number {
  return fit(space.widthPx, tier.minWidthPx, tier.gapPx) * fit(space.heightPx, tier.heightPx, tier.gapPx);
}

/**
 * The most devices a tier is used for in this space. `fit`: what fits without scrolling, no less (the
 * column shares its room with the audience band, which must stay on screen).
 */
export function tierLimit(tier: TierSpec, space: ColumnSpace, fit = false): number {
  return Math.min(tier.most, Math.max(fit ? 0 : tier.least, capacity(tier, space)));
}

/** The largest square cell (within the bounds) of which `count` fit the space; undefined: none fits. */
function largestCell(
  count: number,
  space: ColumnSpace,
  { minPx, maxPx, gapPx }: { minPx: number; maxPx: number; gapPx: number },
): number | undefined {
  for (let size = maxPx; size >= minPx; size--) {
    const perRow = fit(space.widthPx, size, gapPx);
    const rows = Math.ceil(count / perRow);
    if (rows * (size + gapPx) - gapPx <= space.heightPx) return size;
  }
  return undefined;
}

/** The largest square cell (within DENSE_CELL's bounds) of which `count` fit the space. */
function denseCell(count: number, space: ColumnSpace): number {
  return largestCell(count, space, DENSE_CELL) ?? DENSE_CELL.minPx;
}

/**
 * The audience band under each column (the phones, apart from the Pis): at most this share of the
 * column's room, and never taller than `maxPx`; its cells within these bounds. Past what fits at the
 * smallest cell, the band says counts only (per health and per color).
 */
export const AUDIENCE_BAND = {
  share: 0.3,
  maxPx: 180,
  /** Its count line and padding, above the cells. */
  headPx: 34,
  minPx: 8,
  /** The cells' size while they fit at it; smaller only when more phones would not. */
  easyCellPx: 18,
  maxCellPx: 28,
  gapPx: 2,
} as const;

export type BandDensity = { density: 'cells'; cellPx: number } | { density: 'counts' };

/**
 * The band's height in a column of this room and width for `phones` phones (CSS px): what they need at
 * the easy cell size (one row at least), within its share of the room.
 */
export function bandHeight(roomPx: number, widthPx: number, phones: number): number {
  const { share, maxPx, headPx, easyCellPx, gapPx } = AUDIENCE_BAND;
  const most = Math.max(0, Math.min(maxPx, Math.floor(roomPx * share)));
  const rows = Math.max(1, Math.ceil(phones / fit(widthPx, easyCellPx, gapPx)));
  return Math.min(most, headPx + rows * (easyCellPx + gapPx));
}

/** Cells as large as the band's space allows for `count` phones, or counts only when none fit. */
export function chooseBandDensity(count: number, space: ColumnSpace): BandDensity {
  const { minPx, maxCellPx: maxPx, gapPx, headPx } = AUDIENCE_BAND;
  const cells = { widthPx: space.widthPx, heightPx: space.heightPx - headPx };
  const cellPx = largestCell(count, cells, { minPx, maxPx, gapPx });
  return cellPx === undefined ? { density: 'counts' } : { density: 'cells', cellPx };
}

/**
 * The density for `shown` devices in this space; before the space is known (null), the first tier.
 * `fit`: the tiers hold only what fits their space (see tierLimit).
 */
export function chooseDensity(shown: number, space: ColumnSpace | null, fit = false): DensityChoice {
  const first = TIERS[0]!;
  if (space === null) return { density: first.density, cellPx: first.minWidthPx };
  for (const tier of TIERS) {
    if (shown <= tierLimit(tier, space, fit)) return { density: tier.density, cellPx: tier.minWidthPx };
  }
  return { density: 'dense', cellPx: denseCell(shown, space) };
}
