// The page's density tiers (server/page/density.ts) at the screen sizes the classroom and the stage
// use: the column's room as the page measures it at 1024x768, 1280x720, 1920x1080, 4K and a phone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AUDIENCE_BAND,
  bandHeight,
  type ColumnSpace,
  chooseBandDensity,
  chooseDensity,
  DENSE_CELL,
  TIERS,
  tierLimit,
} from '../../../server/page/density.ts';

/** About what the page measures: three columns side by side from 900 px, one on a phone. */
const SPACES: Record<string, ColumnSpace> = {
  '1024x768': { widthPx: 304, heightPx: 500 },
  '1280x720': { widthPx: 388, heightPx: 450 },
  '1920x1080': { widthPx: 600, heightPx: 810 },
  '3840x2160': { widthPx: 1240, heightPx: 1890 },
  '390x844': { widthPx: 350, heightPx: 520 },
};

const densities = (space: ColumnSpace, counts: number[]) =>
  counts.map((n) => chooseDensity(n, space).density);

test('a 6-device demo keeps its full tiles at every size; 120 devices are a dense grid at projector and laptop sizes', () => {
  for (const [size, space] of Object.entries(SPACES)) {
    assert.equal(chooseDensity(6, space).density, 'full', size);
    assert.equal(chooseDensity(0, space).density, 'full', size);
  }
  for (const size of ['1024x768', '1280x720', '1920x1080', '390x844']) {
    assert.equal(chooseDensity(120, SPACES[size]!).density, 'dense', size);
  }
});

test('the tiers go full, compact, dense as devices are added, never back', () => {
  const order = ['full', 'compact', 'dense'];
  for (const [size, space] of Object.entries(SPACES)) {
    let rank = 0;
    for (let n = 0; n <= 1000; n++) {
      const next = order.indexOf(chooseDensity(n, space).density);
      assert.ok(next >= rank, `${size}: ${n} devices went back to ${order[next]}`);
      rank = next;
    }
    assert.equal(rank, 2, `${size}: 1,000 devices are dense`);
  }
});

test('the bounds hold whatever the space: full for at least 6 and at most 24, compact for 30 to 150', () => {
  const [full, compact] = TIERS;
  for (const space of [
    ...Object.values(SPACES),
    { widthPx: 0, heightPx: -200 },
    { widthPx: 9000, heightPx: 9000 },
  ]) {
    assert.ok(tierLimit(full!, space) >= 6 && tierLimit(full!, space) <= 24);
    assert.ok(tierLimit(compact!, space) >= 30 && tierLimit(compact!, space) <= 150);
  }
  // Around the nominal "full up to 12, compact up to 60" on a laptop at 1920x1080 (20 and 52 fit there).
  assert.deepEqual(densities(SPACES['1920x1080']!, [12, 20, 21, 40, 52, 53]), [
    'full',
    'full',
    'compact',
    'compact',
    'compact',
    'dense',
  ]);
  // A 4K screen shows the classroom's 120 (and a few more) as compact tiles; the 1280x720 projector from 31 on as cells.
  assert.equal(chooseDensity(123, SPACES['3840x2160']!).density, 'compact');
  assert.deepEqual(densities(SPACES['1280x720']!, [6, 9, 10, 30, 31]), [
    'full',
    'full',
    'compact',
    'compact',
    'dense',
  ]);
});

test('dense cells fill the room: larger for fewer devices, within their bounds, all on screen where they fit', () => {
  const space = SPACES['1280x720']!;
  const cell = (n: number) => chooseDensity(n, space).cellPx;
  assert.ok(cell(120) > cell(1000), `${cell(120)} px for 120, ${cell(1000)} px for 1,000`);
  for (const n of [31, 120, 400, 1000, 5000]) {
    const size = cell(n);
    assert.ok(size >= DENSE_CELL.minPx && size <= DENSE_CELL.maxPx, `${n}: ${size} px`);
    const perRow = Math.floor((space.widthPx + DENSE_CELL.gapPx) / (size + DENSE_CELL.gapPx));
    const height = Math.ceil(n / perRow) * (size + DENSE_CELL.gapPx) - DENSE_CELL.gapPx;
    if (size > DENSE_CELL.minPx) assert.ok(height <= space.heightPx, `${n}: ${height} px high`);
  }
});

test('before the column has measured its room: the first tier', () => {
  assert.deepEqual(chooseDensity(500, null), { density: 'full', cellPx: TIERS[0]!.minWidthPx });
});

test('the audience band: as high as its phones need at the easy cell size, within its share; cells shrink as phones come, then counts only', () => {
  for (const [size, space] of Object.entries(SPACES)) {
    const most = Math.min(AUDIENCE_BAND.maxPx, Math.floor(space.heightPx * AUDIENCE_BAND.share));
    const few = bandHeight(space.heightPx, space.widthPx, 5);
    assert.ok(few < most, `${size}: 5 phones take ${few} px of ${most}`);
    assert.equal(
      bandHeight(space.heightPx, space.widthPx, 2000),
      most,
      `${size}: 2,000 phones take the share`,
    );
    let previous: number = AUDIENCE_BAND.maxCellPx;
    for (const phones of [1, 20, 100, 200, 400]) {
      const band = { widthPx: space.widthPx, heightPx: bandHeight(space.heightPx, space.widthPx, phones) };
      const choice = chooseBandDensity(phones, band);
      if (choice.density === 'counts') continue;
      assert.ok(choice.cellPx <= previous, `${size}: ${phones} phones get ${choice.cellPx} px cells`);
      previous = choice.cellPx;
      const perRow = Math.floor((band.widthPx + AUDIENCE_BAND.gapPx) / (choice.cellPx + AUDIENCE_BAND.gapPx));
      const rows = Math.ceil(phones / perRow);
      assert.ok(
        AUDIENCE_BAND.headPx + rows * (choice.cellPx + AUDIENCE_BAND.gapPx) - AUDIENCE_BAND.gapPx <=
          band.heightPx,
        `${size}: ${phones} phones fit ${band.heightPx} px`,
      );
    }
  }
  // At the projector's size the cap's 200 phones are still cells; 2,000 in a small band are counts.
  const projector = SPACES['1280x720']!;
  const band200 = {
    widthPx: projector.widthPx,
    heightPx: bandHeight(projector.heightPx, projector.widthPx, 200),
  };
  assert.equal(chooseBandDensity(200, band200).density, 'cells');
  assert.deepEqual(chooseBandDensity(2000, { widthPx: 300, heightPx: 90 }), { density: 'counts' });
});

test('beside the audience band the tiers hold only what fits: 4 Pis in a short space are compact, not full tiles that scroll', () => {
  const short = { widthPx: 388, heightPx: 200 };
  assert.equal(
    chooseDensity(4, short).density,
    'full',
    'alone, the first tier holds its 6 even if they scroll',
  );
  assert.equal(chooseDensity(4, short, true).density, 'compact');
});
