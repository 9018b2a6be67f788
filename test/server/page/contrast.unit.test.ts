// Text on a device's color (server/page/contrast.ts): WCAG 2 luminance and contrast, the better ink.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contrastRatio, inkFor, parseHexColor, relativeLuminance } from '../../../server/page/contrast.ts';

test('WCAG figures: black on white is 21:1, a color against itself 1:1', () => {
  assert.equal(relativeLuminance([0, 0, 0]), 0);
  assert.equal(relativeLuminance([255, 255, 255]), 1);
  assert.equal(contrastRatio(0, 1), 21);
  assert.equal(contrastRatio(0.3, 0.3), 1);
  // #777777 is the usual example: 4.48:1 on white.
  assert.equal(contrastRatio(relativeLuminance(parseHexColor('#777')!), 1).toFixed(2), '4.48');
});

test('the ink: dark on yellow, gold, lime and white; light on navy, red, blue, purple and the neutral grey', () => {
  for (const color of ['#ffff00', '#ffd700', '#00ff00', '#ffffff', '#ff8800', '#6cb6ff']) {
    assert.equal(inkFor(parseHexColor(color)!), 'dark', color);
  }
  for (const color of ['#000080', '#b00020', '#0000ff', '#800080', '#3b4350', '#000']) {
    assert.equal(inkFor(parseHexColor(color)!), 'light', color);
  }
});

test('the chosen ink always reaches WCAG AA for large text (3:1), and AA for body text (4.5:1) on most colors', () => {
  let body = 0;
  let total = 0;
  for (let r = 0; r <= 255; r += 17) {
    for (let g = 0; g <= 255; g += 17) {
      for (let b = 0; b <= 255; b += 17) {
        const luminance = relativeLuminance([r, g, b]);
        const ratio = contrastRatio(luminance, inkFor([r, g, b]) === 'dark' ? 0 : 1);
        assert.ok(ratio >= 3, `rgb(${r}, ${g}, ${b}): ${ratio.toFixed(2)}`);
        total++;
        if (ratio >= 4.5) body++;
      }
    }
  }
  assert.ok(body / total > 0.9, `${body} of ${total}`);
});

test('hex colors: #rgb and #rrggbb, anything else undefined', () => {
  assert.deepEqual(parseHexColor('#f80'), [255, 136, 0]);
  assert.deepEqual(parseHexColor('#12AB34'), [18, 171, 52]);
  for (const bad of ['red', '#12345', '#1234567', 'url(x)', '', '#ggg'])
    assert.equal(parseHexColor(bad), undefined, bad);
});
